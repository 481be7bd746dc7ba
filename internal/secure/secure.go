// Package secure is the security set-up both programs share: the flags that
// turn on TLS and authentication, loading what they name, the rule that a
// program listening beyond loopback must use both, and the HTTP client a
// program uses to call nodes (HTTPS with its own certificate when TLS is
// on).
//
// Without any of the flags a program serves plain HTTP to everyone, as
// hraftd and the walkthroughs always have; that is safe only where nobody
// else can connect, so the flags are required once a program listens on
// an address other than loopback (see CheckExposure).
package secure

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kvraft/hraftd/internal/auth"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// Flags are the security flags of a program.
type Flags struct {
	Cert, Key, CA string // -tls-cert, -tls-key, -tls-ca
	Users         string // -auth
	Insecure      bool   // -insecure
}

// Register adds the flags to fs. what names the program's API in the help
// text ("node", "distributor").
func (f *Flags) Register(fs *flag.FlagSet, what string) {
	fs.StringVar(&f.Cert, "tls-cert", "", "PEM certificate this "+what+" presents (its HTTPS API"+raftNote(what)+"); needs -tls-key and -tls-ca. Reloaded when the file changes. make certs writes a development set")
	fs.StringVar(&f.Key, "tls-key", "", "PEM private key of -tls-cert")
	fs.StringVar(&f.CA, "tls-ca", "", "PEM bundle of the cluster's CA: the certificates this "+what+" accepts from peers and clients, and checks the nodes it calls against")
	fs.StringVar(&f.Users, "auth", "", "Users file (JSON, bcrypt passwords, per-user permissions read, write, admin, status, all; see README Security). Without it any client may read and write keys; on a TLS node, membership changes still need an admin certificate. A node needs TLS for it")
	fs.BoolVar(&f.Insecure, "insecure", false, "Allow listening on a non-loopback address without TLS and -auth: anyone who reaches the port then owns the data")
}

func raftNote(what string) string {
	if what == "node" {
		return " and its Raft links, which then accept only peers with a node certificate from -tls-ca"
	}
	return ", and its client certificate when it calls nodes"
}

// Setup is what the flags loaded: either part may be nil (off).
type Setup struct {
	// TLS is the program's certificate and CA; nil means plain HTTP.
	TLS *tlsconf.Source
	// Users authenticates clients; nil means no authentication.
	Users *auth.Store
}

// Load reads what the flags name. It fails, saying which flag is wrong,
// on a partial TLS set (all three files or none) or an unreadable file.
func (f *Flags) Load(logger *slog.Logger) (*Setup, error) {
	s := &Setup{}
	set := 0
	for _, v := range []string{f.Cert, f.Key, f.CA} {
		if v != "" {
			set++
		}
	}
	switch set {
	case 0:
	case 3:
		src, err := tlsconf.Load(tlsconf.Config{CertFile: f.Cert, KeyFile: f.Key, CAFile: f.CA, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("-tls-cert/-tls-key/-tls-ca: %w", err)
		}
		s.TLS = src
	default:
		return nil, errors.New("-tls-cert, -tls-key and -tls-ca go together: give all three (make certs writes a development set) or none")
	}
	if f.Users != "" {
		st, err := auth.Load(auth.Config{File: f.Users, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("-auth: %w", err)
		}
		s.Users = st
	}
	return s, nil
}

// Scheme is the URL scheme of this program's API and of the nodes it
// calls: a cluster is either all HTTPS or all plain HTTP.
func (s *Setup) Scheme() string {
	if s != nil && s.TLS != nil {
		return "https"
	}
	return "http"
}

// URL is the URL of path on the node or program at hostport.
func (s *Setup) URL(hostport, path string) string {
	return s.Scheme() + "://" + hostport + path
}

// Transport sets t up to call nodes: with TLS on, over HTTPS, checking
// that the server has a node certificate from the CA that covers the host
// dialed, and presenting this program's certificate (its identity for the
// node's permissions). Each connection reads the current certificate and
// CA, so renewals need no restart.
func (s *Setup) Transport(t *http.Transport) *http.Transport {
	if s != nil && s.TLS != nil {
		t.DialTLSContext = s.TLS.DialTLSContext(tlsconf.ClientOptions{ServerRoles: []string{tlsconf.RoleNode}})
	}
	return t
}

// ServerTLS is the tls.Config of the program's HTTPS API, or nil for plain
// HTTP. Clients may present a certificate (checked against the CA, and
// then their identity) or authenticate with a password.
func (s *Setup) ServerTLS() (*tls.Config, error) {
	if s == nil || s.TLS == nil {
		return nil, nil
	}
	return s.TLS.ServerConfig(tlsconf.ServerOptions{
		ClientAuth: tlsconf.ClientCertOptional,
		NextProtos: []string{"http/1.1"},
	})
}

// CheckExposure is the off-loopback rule: a program that listens on an
// address other than loopback must have TLS and authentication on, or be
// told -insecure. The error says which address and what to do.
func (f *Flags) CheckExposure(s *Setup, addrs ...string) error {
	if f.Insecure || (s.TLS != nil && s.Users != nil) {
		return nil
	}
	for _, a := range addrs {
		if a == "" || IsLoopback(a) {
			continue
		}
		var missing []string
		if s.TLS == nil {
			missing = append(missing, "TLS (-tls-cert, -tls-key, -tls-ca)")
		}
		if s.Users == nil {
			missing = append(missing, "authentication (-auth users.json)")
		}
		return fmt.Errorf("refusing to listen on %s without %s: it is reachable beyond this machine's loopback, "+
			"where anyone who connects could read and write the data (and, on a node, change its group). Listen on 127.0.0.1/localhost, "+
			"turn those on (README: Security), or pass -insecure if the network is yours alone",
			a, strings.Join(missing, " and "))
	}
	return nil
}

// IsLoopback reports whether a listen address (host:port, or a bare host)
// only accepts connections from this machine: a loopback IP, localhost, or
// a name that resolves only to loopback addresses. An empty host or an
// unspecified IP (":8080", "0.0.0.0:8080") listens on every interface.
func IsLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	lower := strings.ToLower(host)
	if lower == "localhost" || strings.HasSuffix(lower, ".localhost") {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return false
		}
	}
	return true
}
