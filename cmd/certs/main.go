// Command certs makes a development certificate authority and the
// certificates of the default layout, for running the cluster with TLS:
//
//	go run ./cmd/certs -dir certs        (or: make certs)
//
// It writes ca.crt/ca.key, node0..node5 (role node: they serve the API and
// Raft and dial their peers; SANs 127.0.0.1, localhost, ::1 and any -hosts),
// distributor (role client, and a server certificate for its own API) and
// admin (role admin: an operator's client certificate for join and
// remove). See package tlsconf for the naming convention.
//
// The directory gets a .gitignore that ignores everything in it, so the
// keys are never committed by accident. It is idempotent: files that exist are kept (and checked against the CA
// and the requested hosts) unless -force is given. A kept CA signs any
// certificate that is missing.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

func main() {
	err := run(os.Args[1:], os.Stdout, time.Now())
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "certs:", err)
		os.Exit(2)
	}
}

func run(args []string, out io.Writer, now time.Time) error {
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	fs.SetOutput(out)
	var o options
	fs.StringVar(&o.dir, "dir", "certs", "directory to write the certificates into")
	fs.IntVar(&o.nodes, "nodes", 6, "number of node certificates (node0, node1, ...)")
	fs.StringVar(&o.hosts, "hosts", "", "extra SANs for every server certificate, comma-separated (IPs or DNS names)")
	fs.Func("host", "an extra SAN for one certificate, as NAME=HOST (e.g. node3=10.0.0.13); repeatable", o.addHost)
	fs.IntVar(&o.days, "days", 365, "validity of the node, distributor and admin certificates, in days")
	fs.BoolVar(&o.force, "force", false, "replace existing files (a new CA invalidates every certificate it signed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; see -h", fs.Args())
	}
	if o.nodes < 1 || o.days < 1 {
		return errors.New("-nodes and -days must be at least 1")
	}
	written, err := generate(o, now)
	for _, line := range written {
		fmt.Fprintln(out, line)
	}
	if err != nil {
		return err
	}
	printUsage(out, o.dir)
	return nil
}

type options struct {
	dir     string
	nodes   int
	hosts   string
	perCert map[string][]string
	days    int
	force   bool
}

func (o *options) addHost(v string) error {
	name, host, ok := strings.Cut(v, "=")
	if !ok || name == "" || host == "" {
		return fmt.Errorf("want NAME=HOST, got %q", v)
	}
	if o.perCert == nil {
		o.perCert = make(map[string][]string)
	}
	o.perCert[name] = append(o.perCert[name], host)
	return nil
}

func printUsage(out io.Writer, dir string) {
	p := func(name string) string { return dir + "/" + name }
	fmt.Fprintf(out, `
How to use them (the CA key %s signs new certificates: keep it off the nodes):
  node:        hraftd -tls-cert %s -tls-key %s -tls-ca %s ...   (node1: node1.crt, ...)
  distributor: distributor -tls-cert %s -tls-key %s -tls-ca %s ...
  admin:       curl --cacert %s --cert %s --key %s https://127.0.0.1:11000/status
Replace a certificate in place and the programs pick it up within a second, without a restart.
`, p("ca.key"), p("node0.crt"), p("node0.key"), p("ca.crt"),
		p("distributor.crt"), p("distributor.key"), p("ca.crt"),
		p("ca.crt"), p("admin.crt"), p("admin.key"))
}
