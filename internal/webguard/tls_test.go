package webguard

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/pki"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// tlsPair makes a CA and a node certificate and returns a Source for the
// server and one for a client that trusts the CA.
func tlsPair(t *testing.T) (server, client *tlsconf.Source) {
	t.Helper()
	ca, err := pki.NewCA("test", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(pki.Leaf{Name: "node0", Role: tlsconf.RoleNode, Hosts: []string{"127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), Server: true, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.crt", ca.CertPEM)
	server, err = tlsconf.Load(tlsconf.Config{CertFile: write("n.crt", certPEM), KeyFile: write("n.key", keyPEM), CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	client, err = tlsconf.Load(tlsconf.Config{CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	return server, client
}

func TestTLSListener(t *testing.T) {
	server, client := tlsPair(t)
	sc, err := server.ServerConfig(tlsconf.ServerOptions{NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	addr, ln := start(t, ServerConfig{TLS: sc, MaxConns: 1}, okHandler)
	hc := &http.Client{
		Transport: &http.Transport{DialTLSContext: client.DialTLSContext(tlsconf.ClientOptions{}), ForceAttemptHTTP2: true},
		Timeout:   10 * time.Second,
	}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Proto != "HTTP/1.1" || resp.TLS == nil {
		t.Errorf("GET over TLS: %d %s (TLS %v), want 200 over HTTP/1.1", resp.StatusCode, resp.Proto, resp.TLS != nil)
	}
	waitOpen(t, ln, 1) // the client keeps its connection alive

	// Past the cap a TLS connection is closed before its handshake.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.DialTLSContext(tlsconf.ClientOptions{})(ctx, "tcp", addr)
	if err == nil {
		c.Close()
		t.Error("a TLS connection past the cap completed its handshake")
	}
}
