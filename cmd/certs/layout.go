package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kvraft/hraftd/internal/pki"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// loopbackHosts are in every server certificate: the default layout
// listens on 127.0.0.1, and localhost and ::1 are how people type it.
var loopbackHosts = []string{"127.0.0.1", "localhost", "::1"}

// caValidity is long: a development CA outlives many renewals of the
// certificates it signs.
const caValidity = 10 * 365 * 24 * time.Hour

// clockSkew backdates every certificate so that a peer whose clock is a
// little behind does not see it as not yet valid.
const clockSkew = time.Hour

// layout is the certificates of the default topology.
func layout(o options, now time.Time) []pki.Leaf {
	var extra []string
	for h := range strings.SplitSeq(o.hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			extra = append(extra, h)
		}
	}
	hosts := func(name string) []string {
		return slices.Concat(loopbackHosts, extra, o.perCert[name])
	}
	from, until := now.Add(-clockSkew), now.Add(time.Duration(o.days)*24*time.Hour)
	var leaves []pki.Leaf
	for i := range o.nodes {
		name := "node" + strconv.Itoa(i)
		leaves = append(leaves, pki.Leaf{Name: name, Role: tlsconf.RoleNode, Hosts: hosts(name),
			NotBefore: from, NotAfter: until, Server: true, Client: true})
	}
	return append(leaves,
		pki.Leaf{Name: "distributor", Role: tlsconf.RoleClient, Hosts: hosts("distributor"),
			NotBefore: from, NotAfter: until, Server: true, Client: true},
		pki.Leaf{Name: "admin", Role: tlsconf.RoleAdmin, Hosts: o.perCert["admin"],
			NotBefore: from, NotAfter: until, Client: true},
	)
}

// generate makes whatever of the layout is missing (everything with
// -force) and returns one line per file saying what it did.
func generate(o options, now time.Time) ([]string, error) {
	for name := range o.perCert {
		if !slices.ContainsFunc(layout(o, now), func(l pki.Leaf) bool { return l.Name == name }) {
			return nil, fmt.Errorf("-host %s=...: no certificate is called %q", name, name)
		}
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return nil, err
	}
	// Private keys must never be committed: the directory ignores itself.
	ignore := o.path(".gitignore")
	if _, err := os.Stat(ignore); errors.Is(err, fs.ErrNotExist) {
		if err := writeFile(ignore, []byte("# written by cmd/certs: keys stay out of git\n*\n"), 0o644); err != nil {
			return nil, err
		}
	}
	var lines []string
	leaves := layout(o, now)
	ca, caLines, err := loadOrMakeCA(o, leaves, now)
	lines = append(lines, caLines...)
	if err != nil {
		return lines, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, l := range leaves {
		crt, key := o.path(l.Name+".crt"), o.path(l.Name+".key")
		if !o.force {
			found, err := existing(crt, key)
			if err != nil {
				return lines, err
			}
			if found {
				if err := check(crt, key, pool, l, now); err != nil {
					return lines, fmt.Errorf("%w; rerun with -force to make a new set", err)
				}
				lines = append(lines, "kept  "+crt)
				continue
			}
		}
		certPEM, keyPEM, err := ca.Issue(l)
		if err != nil {
			return lines, err
		}
		if err := writeFile(key, keyPEM, 0o600); err != nil {
			return lines, err
		}
		if err := writeFile(crt, certPEM, 0o644); err != nil {
			return lines, err
		}
		hosts := "no hosts: a client only"
		if len(l.Hosts) > 0 {
			hosts = "hosts " + strings.Join(l.Hosts, " ")
		}
		lines = append(lines, fmt.Sprintf("wrote %s and %s (%s, role %s, %s)", crt, key, l.Name, l.Role, hosts))
	}
	return lines, nil
}

func (o options) path(name string) string { return filepath.Join(o.dir, name) }

// loadOrMakeCA keeps an existing CA, or makes one when there is none (or
// with -force). It refuses to make a new CA next to certificates an old
// one signed: they would be kept and then refused by every peer.
func loadOrMakeCA(o options, leaves []pki.Leaf, now time.Time) (*pki.CA, []string, error) {
	crt, key := o.path("ca.crt"), o.path("ca.key")
	if !o.force {
		found, err := existing(crt, key)
		if err != nil {
			return nil, nil, err
		}
		if found {
			ca, err := pki.LoadCA(crt, key)
			if err != nil {
				return nil, nil, fmt.Errorf("%w; rerun with -force to make a new set", err)
			}
			return ca, []string{"kept  " + crt}, nil
		}
		for _, l := range leaves {
			for _, f := range []string{o.path(l.Name + ".crt"), o.path(l.Name + ".key")} {
				if _, err := os.Stat(f); err == nil {
					return nil, nil, fmt.Errorf("%s exists but %s does not: the CA that signed it is gone; rerun with -force to make a new set", f, crt)
				}
			}
		}
	}
	ca, err := pki.NewCA("hraftd development CA", now.Add(-clockSkew), now.Add(caValidity))
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := pki.EncodeKey(ca.Key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeFile(key, keyPEM, 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeFile(crt, ca.CertPEM, 0o644); err != nil {
		return nil, nil, err
	}
	return ca, []string{fmt.Sprintf("wrote %s and %s (the development CA)", crt, key)}, nil
}

// existing reports whether a certificate and its key both exist; one
// without the other is an error.
func existing(crt, key string) (bool, error) {
	_, errC := os.Stat(crt)
	_, errK := os.Stat(key)
	switch {
	case errC == nil && errK == nil:
		return true, nil
	case errors.Is(errC, fs.ErrNotExist) && errors.Is(errK, fs.ErrNotExist):
		return false, nil
	case errC == nil:
		return false, fmt.Errorf("%s exists but %s does not; restore it or rerun with -force", crt, key)
	case errK == nil:
		return false, fmt.Errorf("%s exists but %s does not; restore it or rerun with -force", key, crt)
	}
	return false, errors.Join(errC, errK)
}

// check verifies that an existing certificate is what this run would
// have made: the key matches, the CA signed it, it is still valid, and it
// has the name, role and hosts asked for.
func check(crt, key string, pool *x509.CertPool, want pki.Leaf, now time.Time) error {
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		return fmt.Errorf("%s: %w", crt, err)
	}
	cert := pair.Leaf
	if cert == nil {
		if cert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("%s: %w", crt, err)
		}
	}
	opts := x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if _, err := cert.Verify(opts); err != nil {
		return fmt.Errorf("%s does not verify against ca.crt: %w", crt, err)
	}
	id := tlsconf.IdentityOf(cert)
	if id.Name != want.Name || id.Role != want.Role {
		return fmt.Errorf("%s is for %s (role %s), not %s (role %s)", crt, id.Name, id.Role, want.Name, want.Role)
	}
	for _, h := range want.Hosts {
		if !id.CoversHost(h) {
			return fmt.Errorf("%s does not cover host %s (it covers %s)", crt, h, strings.Join(id.Hosts(), " "))
		}
	}
	return nil
}

// writeFile replaces name atomically, so a program reloading it never
// reads half a file.
func writeFile(name string, b []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
