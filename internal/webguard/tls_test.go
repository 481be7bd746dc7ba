package webguard

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/pki/pkitest"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// tlsPair makes a CA and a node certificate and returns a Source for the
// server and one for a client that trusts the CA.
func tlsPair(t *testing.T) (server, client *tlsconf.Source) {
	t.Helper()
	ca := pkitest.CA(t, "test")
	server = pkitest.Source(t, ca, pkitest.Leaf("node0", tlsconf.RoleNode, "127.0.0.1"), nil, ca)
	client, err := tlsconf.Load(tlsconf.Config{CAFile: pkitest.Write(t, t.TempDir(), "ca.crt", ca.CertPEM)})
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
