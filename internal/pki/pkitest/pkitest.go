// Package pkitest makes TLS material for tests: a CA, certificates it
// issues, written to files and loaded as a program's -tls-cert, -tls-key
// and -tls-ca would be. Every package that tests TLS uses it, so that a
// test says only what is special about its certificates.
package pkitest

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/pki"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// CA is a new CA valid from an hour ago for a day.
func CA(t testing.TB, name string) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA(name, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// Leaf is a certificate spec valid from an hour ago for a day, for both
// server and client use, covering hosts.
func Leaf(name, role string, hosts ...string) pki.Leaf {
	return pki.Leaf{
		Name: name, Role: role, Hosts: hosts,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		Server: true, Client: true,
	}
}

// Files issues l from issuer and writes it, its key and a bundle of the
// trusted CAs into a new directory; it returns the three paths.
func Files(t testing.TB, issuer *pki.CA, l pki.Leaf, trusted ...*pki.CA) (cert, key, ca string) {
	t.Helper()
	certPEM, keyPEM, err := issuer.Issue(l)
	if err != nil {
		t.Fatal(err)
	}
	var bundle []byte
	for _, c := range trusted {
		bundle = append(bundle, c.CertPEM...)
	}
	dir := t.TempDir()
	return Write(t, dir, "cert.pem", certPEM), Write(t, dir, "key.pem", keyPEM), Write(t, dir, "ca.pem", bundle)
}

// Source is Files loaded as a program loads its flags. logger may be nil.
func Source(t testing.TB, issuer *pki.CA, l pki.Leaf, logger *slog.Logger, trusted ...*pki.CA) *tlsconf.Source {
	t.Helper()
	cert, key, ca := Files(t, issuer, l, trusted...)
	s, err := tlsconf.Load(tlsconf.Config{CertFile: cert, KeyFile: key, CAFile: ca, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Write writes b to dir/name (mode 0600) and returns the path.
func Write(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
