package router

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/pki"
	"github.com/kvraft/hraftd/internal/pki/pkitest"
	"github.com/kvraft/hraftd/internal/secure"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// issue makes a certificate of ca for name with role, covering hosts.
func issue(t *testing.T, ca *pki.CA, name, role string, hosts ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(pkitest.Leaf(name, role, hosts...))
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

// keyPair is a certificate of ca as a server presents it.
func keyPair(t *testing.T, ca *pki.CA, name, role string, hosts ...string) *tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(issue(t, ca, name, role, hosts...))
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// distributorTLS is the distributor's TLS set-up: its certificate (role
// client, as make certs issues it) from ca, and ca as its CA, loaded from
// files as -tls-cert, -tls-key and -tls-ca load them.
func distributorTLS(t *testing.T, ca *pki.CA) *secure.Setup {
	t.Helper()
	certPEM, keyPEM := issue(t, ca, "distributor", tlsconf.RoleClient, "127.0.0.1")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := secure.Flags{Cert: write("d.crt", certPEM), Key: write("d.key", keyPEM), CA: write("ca.crt", ca.CertPEM)}
	s, err := f.Load(testConfig(t).Logger)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tlsNodes is the TLS side of fake nodes: the certificate they present
// (swappable) and the CA they check client certificates against.
type tlsNodes struct {
	cert atomic.Pointer[tls.Certificate]
	ca   *x509.CertPool
}

func newTLSNodes(ca *pki.CA, cert *tls.Certificate) *tlsNodes {
	n := &tlsNodes{ca: x509.NewCertPool()}
	n.ca.AddCert(ca.Cert)
	n.cert.Store(cert)
	return n
}

// config is the nodes' server config: it presents the current certificate
// and verifies a client certificate, if one is sent, as a node does.
func (n *tlsNodes) config() *tls.Config {
	return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return &tls.Config{
			Certificates: []tls.Certificate{*n.cert.Load()},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    n.ca,
			NextProtos:   []string{"http/1.1"},
		}, nil
	}}
}

// tlsRouterConfig is testConfig for nodes called over HTTPS with sec.
func tlsRouterConfig(t *testing.T, sec *secure.Setup, shards ...[]string) Config {
	cfg := testConfig(t, shards...)
	cfg.Scheme = sec.Scheme()
	cfg.Transport = sec.Transport
	return cfg
}

// With TLS the router calls the nodes over HTTPS, accepts their node
// certificates, and presents its own: every request the nodes see,
// polls included, comes from "client:distributor".
func TestTLSNodes(t *testing.T) {
	ca := pkitest.CA(t, "cluster")
	nodes := newTLSNodes(ca, keyPair(t, ca, "node0", tlsconf.RoleNode, "127.0.0.1"))
	g := newFakeGroupServing(t, "node", 3, 1, nodes.config())
	r := startRouter(t, tlsRouterConfig(t, distributorTLS(t, ca), g.addrs()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := r.Set(ctx, map[string]string{"batman": "bruce"}, ""); err != nil {
		t.Fatal(err)
	}
	got, err := r.Get(ctx, "batman", "linearizable")
	if err != nil || got.Value != "bruce" {
		t.Fatalf("Get: %+v, %v", got, err)
	}
	// Follow a redirect (an https Location) to a new leader.
	g.setLeader(2)
	if _, err := r.Set(ctx, map[string]string{"robin": "dick"}, ""); err != nil {
		t.Fatal(err)
	}
	if v, _ := g.value("robin"); v != "dick" {
		t.Fatalf("robin = %q after a failover", v)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.clients) == 0 {
		t.Fatal("the nodes saw no request over TLS")
	}
	for _, c := range g.clients {
		if c != "client:distributor" {
			t.Fatalf("a node saw the client %q, want client:distributor", c)
		}
	}
}

// The router refuses a node whose certificate is not a node certificate
// of its CA for the address it dialed: nothing is sent to it, and the
// shard's status says why.
func TestTLSRefusesNodesWithoutANodeCertificate(t *testing.T) {
	ca := pkitest.CA(t, "cluster")
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
		why  string
	}{
		{"another CA", keyPair(t, pkitest.CA(t, "other"), "node0", tlsconf.RoleNode, "127.0.0.1"), "unknown authority"},
		{"role client", keyPair(t, ca, "node0", tlsconf.RoleClient, "127.0.0.1"), `role "client"`},
		{"role admin", keyPair(t, ca, "node0", tlsconf.RoleAdmin, "127.0.0.1"), `role "admin"`},
		{"another host", keyPair(t, ca, "node0", tlsconf.RoleNode, "10.9.9.9"), "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGroupServing(t, "node", 1, 0, newTLSNodes(ca, tc.cert).config())
			cfg := tlsRouterConfig(t, distributorTLS(t, ca), g.addrs())
			cfg.Timeout = 300 * time.Millisecond
			r := startRouter(t, cfg)
			_, err := r.Set(context.Background(), map[string]string{"batman": "bruce"}, "")
			var se *ShardError
			if !errors.As(err, &se) || se.MaybeApplied {
				t.Fatalf("Set: %v; want a ShardError that says the write was not applied", err)
			}
			if !strings.Contains(err.Error(), "TLS handshake failed") || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("error %q does not say the handshake failed because of %q", err, tc.why)
			}
			if n := g.nodes[0].writes.Load(); n != 0 {
				t.Errorf("the node received %d writes", n)
			}
			if p := r.Shard(0).Nodes[0].Problem; !strings.Contains(p, "TLS handshake failed") {
				t.Errorf("shard status problem %q does not name the handshake", p)
			}
		})
	}
}

// A leader whose certificate stops verifying (here: replaced by one from
// another CA) fails the handshake of the next connection. The write was
// certainly not sent, so the router does not report it as maybe applied.
func TestTLSHandshakeFailureIsNotMaybeApplied(t *testing.T) {
	ca := pkitest.CA(t, "cluster")
	nodes := newTLSNodes(ca, keyPair(t, ca, "node0", tlsconf.RoleNode, "127.0.0.1"))
	g := newFakeGroupServing(t, "node", 1, 0, nodes.config())
	cfg := tlsRouterConfig(t, distributorTLS(t, ca), g.addrs())
	cfg.Timeout = 300 * time.Millisecond
	r := startRouter(t, cfg)
	if _, err := r.Set(context.Background(), map[string]string{"a": "1"}, ""); err != nil {
		t.Fatal(err)
	}
	nodes.cert.Store(keyPair(t, pkitest.CA(t, "other"), "node0", tlsconf.RoleNode, "127.0.0.1"))
	r.client.CloseIdleConnections()
	g.nodes[0].srv.CloseClientConnections()
	before := g.nodes[0].writes.Load()
	_, err := r.Set(context.Background(), map[string]string{"b": "2"}, "")
	var se *ShardError
	if !errors.As(err, &se) {
		t.Fatalf("Set: %v; want a ShardError", err)
	}
	if se.MaybeApplied {
		t.Errorf("Set: %v; a write refused at the handshake was reported as maybe applied", err)
	}
	if !strings.Contains(err.Error(), "TLS handshake failed") {
		t.Errorf("Set: %v; want it to say the TLS handshake failed", err)
	}
	if n := g.nodes[0].writes.Load(); n != before {
		t.Errorf("the node received %d more writes", n-before)
	}
}

// Scheme is http (also "") or https.
func TestSchemeValidation(t *testing.T) {
	for scheme, ok := range map[string]bool{"": true, "http": true, "https": true, "ftp": false, "HTTP": false} {
		cfg := DefaultConfig()
		cfg.Scheme = scheme
		if err := cfg.Validate(); (err == nil) != ok {
			t.Errorf("Scheme %q: Validate = %v, want ok = %v", scheme, err, ok)
		}
	}
}
