package auth

import (
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/pki"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// TestCertificatesOverRealTLS runs the middleware behind an HTTPS server
// on 127.0.0.1 that asks for (optional) client certificates.
func TestCertificatesOverRealTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("test", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.crt", ca.CertPEM)
	source := func(name, role string, server bool) *tlsconf.Source {
		certPEM, keyPEM, err := ca.Issue(pki.Leaf{Name: name, Role: role, Hosts: []string{"127.0.0.1"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), Server: server, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		s, err := tlsconf.Load(tlsconf.Config{CertFile: write(name+".crt", certPEM), KeyFile: write(name+".key", keyPEM), CAFile: caFile})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sc, err := source("node0", tlsconf.RoleNode, true).ServerConfig(tlsconf.ServerOptions{ClientAuth: tlsconf.ClientCertOptional})
	if err != nil {
		t.Fatal(err)
	}
	store := loadStore(t, usersFile(t, entry{Username: "alice", Password: hash(t, "pw"), Perms: []string{"admin"}}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: store.Require(PermAdmin, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})),
		ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(tls.NewListener(ln, sc)) }()
	t.Cleanup(func() { srv.Close() })

	caOnly, err := tlsconf.Load(tlsconf.Config{CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		client *tlsconf.Source
		user   string
		want   int
	}{
		{"admin certificate", source("admin", tlsconf.RoleAdmin, false), "", http.StatusOK},
		{"distributor certificate", source("distributor", tlsconf.RoleClient, false), "", http.StatusForbidden},
		{"no certificate", caOnly, "", http.StatusUnauthorized},
		{"password over TLS", caOnly, "alice", http.StatusOK},
	} {
		hc := &http.Client{Transport: &http.Transport{DialTLSContext: tc.client.DialTLSContext(tlsconf.ClientOptions{})},
			Timeout: 10 * time.Second}
		req, err := http.NewRequest(http.MethodPost, "https://"+ln.Addr().String()+"/join", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.user != "" {
			req.SetBasicAuth(tc.user, "pw")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		hc.CloseIdleConnections()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}
