package tlsconf_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/tlsconf"
)

func TestMutualHandshakeReportsPeerIdentity(t *testing.T) {
	ca := newCA(t, "cluster")
	srv := load(t, files(t, ca, leaf("node0", tlsconf.RoleNode, loopback...)))
	cli := load(t, files(t, ca, leaf("node1", tlsconf.RoleNode, loopback...)))
	sc, cc, err := srv.PeerConfigs()
	if err != nil {
		t.Fatal(err)
	}
	_, cc, err = cli.PeerConfigs()
	if err != nil {
		t.Fatal(err)
	}
	s := serve(t, sc)
	r := s.dial(t, cc)
	r.ok(t)
	if r.state.Version != tls.VersionTLS13 {
		t.Errorf("negotiated version %x, want TLS 1.3", r.state.Version)
	}
	id, err := tlsconf.PeerIdentity(&r.state)
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "node1" || id.Role != tlsconf.RoleNode {
		t.Errorf("identity = %q/%q, want node1/node", id.Name, id.Role)
	}
	if err := id.CheckClaim(tlsconf.RoleNode, "node1", "127.0.0.1:12001"); err != nil {
		t.Errorf("a true claim was refused: %v", err)
	}
}

func TestTLS12IsAcceptedAndOlderIsNot(t *testing.T) {
	ca := newCA(t, "cluster")
	sc, err := load(t, files(t, ca, leaf("node0", tlsconf.RoleNode, loopback...))).ServerConfig(tlsconf.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := serve(t, sc)
	cc := load(t, caOnly(t, ca)).ClientConfig(tlsconf.ClientOptions{})
	cc.MaxVersion = tls.VersionTLS12
	r := s.dial(t, cc)
	r.ok(t)
	if r.state.Version != tls.VersionTLS12 {
		t.Errorf("negotiated %x, want TLS 1.2", r.state.Version)
	}
	cc.MinVersion, cc.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	s.dial(t, cc).refused(t)
}

func TestWrongCAIsRefused(t *testing.T) {
	ca, rogue := newCA(t, "cluster"), newCA(t, "rogue")
	good := load(t, files(t, ca, leaf("node0", tlsconf.RoleNode, loopback...)))
	bad := load(t, files(t, rogue, leaf("node9", tlsconf.RoleNode, loopback...)))

	t.Run("client certificate from another CA", func(t *testing.T) {
		sc, _, err := good.PeerConfigs()
		if err != nil {
			t.Fatal(err)
		}
		// The rogue trusts the real CA, so only the server's check
		// stands between it and the cluster.
		rogueCfg := files(t, rogue, leaf("node9", tlsconf.RoleNode, loopback...))
		rogueCfg.CAFile = writeFile(t, t.TempDir(), "ca.pem", ca.CertPEM)
		_, cc, err := load(t, rogueCfg).PeerConfigs()
		if err != nil {
			t.Fatal(err)
		}
		r := serve(t, sc).dial(t, cc)
		r.refused(t)
		if !strings.Contains(r.serverErr.Error(), "unknown authority") {
			t.Errorf("server error = %v, want an unknown-authority error", r.serverErr)
		}
	})
	t.Run("server certificate from another CA", func(t *testing.T) {
		sc, err := bad.ServerConfig(tlsconf.ServerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := serve(t, sc).dial(t, load(t, caOnly(t, ca)).ClientConfig(tlsconf.ClientOptions{}))
		r.refused(t)
		if !strings.Contains(r.clientErr.Error(), "unknown authority") {
			t.Errorf("client error = %v, want an unknown-authority error", r.clientErr)
		}
	})
	t.Run("no client certificate at all", func(t *testing.T) {
		sc, _, err := good.PeerConfigs()
		if err != nil {
			t.Fatal(err)
		}
		cc := load(t, caOnly(t, ca)).ClientConfig(tlsconf.ClientOptions{})
		serve(t, sc).dial(t, cc).refused(t)
	})
}

func TestExpiredCertificateIsRefused(t *testing.T) {
	ca := newCA(t, "cluster")
	expired := leaf("node1", tlsconf.RoleNode, loopback...)
	expired.NotBefore, expired.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
	good := load(t, files(t, ca, leaf("node0", tlsconf.RoleNode, loopback...)))
	old := load(t, files(t, ca, expired))

	t.Run("client", func(t *testing.T) {
		sc, _, err := good.PeerConfigs()
		if err != nil {
			t.Fatal(err)
		}
		_, cc, err := old.PeerConfigs()
		if err != nil {
			t.Fatal(err)
		}
		r := serve(t, sc).dial(t, cc)
		r.refused(t)
		if !strings.Contains(r.serverErr.Error(), "expired") {
			t.Errorf("server error = %v, want an expiry error", r.serverErr)
		}
	})
	t.Run("server", func(t *testing.T) {
		sc, _, err := old.PeerConfigs()
		if err != nil {
			t.Fatal(err)
		}
		_, cc, err := good.PeerConfigs()
		if err != nil {
			t.Fatal(err)
		}
		r := serve(t, sc).dial(t, cc)
		r.refused(t)
		if !strings.Contains(r.clientErr.Error(), "expired") {
			t.Errorf("client error = %v, want an expiry error", r.clientErr)
		}
	})
}

func TestServerMustCoverTheHostDialed(t *testing.T) {
	ca := newCA(t, "cluster")
	// A member's certificate for another address: it may not stand in
	// for whoever is expected at 127.0.0.1.
	other := load(t, files(t, ca, leaf("node7", tlsconf.RoleNode, "10.9.9.9", "node7.example")))
	sc, _, err := other.PeerConfigs()
	if err != nil {
		t.Fatal(err)
	}
	_, cc, err := load(t, files(t, ca, leaf("node0", tlsconf.RoleNode, loopback...))).PeerConfigs()
	if err != nil {
		t.Fatal(err)
	}
	r := serve(t, sc).dial(t, cc)
	r.refused(t)
	if !strings.Contains(r.clientErr.Error(), "127.0.0.1") {
		t.Errorf("client error = %v, want it to name the host", r.clientErr)
	}
}

func TestPeerLinksNeedTheNodeRole(t *testing.T) {
	ca := newCA(t, "cluster")
	node := load(t, files(t, ca, leaf("node0", tlsconf.RoleNode, loopback...)))
	admin := load(t, files(t, ca, leaf("admin", tlsconf.RoleAdmin, loopback...)))
	nodeServer, nodeClient, err := node.PeerConfigs()
	if err != nil {
		t.Fatal(err)
	}
	adminServer, adminClient, err := admin.PeerConfigs()
	if err != nil {
		t.Fatal(err)
	}
	r := serve(t, nodeServer).dial(t, adminClient)
	r.refused(t)
	if !strings.Contains(r.serverErr.Error(), `role "admin"`) {
		t.Errorf("server error = %v, want it to name the role", r.serverErr)
	}
	r = serve(t, adminServer).dial(t, nodeClient)
	r.refused(t)
	if !strings.Contains(r.clientErr.Error(), `role "admin"`) {
		t.Errorf("client error = %v, want it to name the role", r.clientErr)
	}
}

func TestOptionalClientCertificate(t *testing.T) {
	ca := newCA(t, "cluster")
	sc, err := load(t, files(t, ca, leaf("node0", tlsconf.RoleNode, loopback...))).
		ServerConfig(tlsconf.ServerOptions{ClientAuth: tlsconf.ClientCertOptional})
	if err != nil {
		t.Fatal(err)
	}
	s := serve(t, sc)

	r := s.dial(t, load(t, caOnly(t, ca)).ClientConfig(tlsconf.ClientOptions{}))
	r.ok(t)
	if _, err := tlsconf.PeerIdentity(&r.state); !errors.Is(err, tlsconf.ErrNoCertificate) {
		t.Errorf("PeerIdentity without a certificate: err = %v, want ErrNoCertificate", err)
	}

	admin := load(t, files(t, ca, clientLeaf("alice", tlsconf.RoleAdmin)))
	r = s.dial(t, admin.ClientConfig(tlsconf.ClientOptions{}))
	r.ok(t)
	id, err := tlsconf.PeerIdentity(&r.state)
	if err != nil || id.Name != "alice" || id.Role != tlsconf.RoleAdmin {
		t.Errorf("PeerIdentity = %+v, %v; want alice/admin", id, err)
	}

	rogue := newCA(t, "rogue")
	cfg := files(t, rogue, clientLeaf("mallory", tlsconf.RoleAdmin))
	cfg.CAFile = writeFile(t, t.TempDir(), "ca.pem", ca.CertPEM)
	s.dial(t, load(t, cfg).ClientConfig(tlsconf.ClientOptions{})).refused(t)
}

func TestClientWithoutServerNameIsRefused(t *testing.T) {
	ca := newCA(t, "cluster")
	sc, err := load(t, files(t, ca, leaf("node0", tlsconf.RoleNode, loopback...))).ServerConfig(tlsconf.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := serve(t, sc)
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, load(t, caOnly(t, ca)).ClientConfig(tlsconf.ClientOptions{}))
	if err := tc.Handshake(); err == nil || !strings.Contains(err.Error(), "ServerName") {
		t.Errorf("handshake without a server name: err = %v, want a refusal naming the problem", err)
	}
	c.Close()
	<-s.results
}

func TestCheckClaim(t *testing.T) {
	ca := newCA(t, "cluster")
	s := load(t, files(t, ca, leaf("node1", tlsconf.RoleNode, "127.0.0.1", "node1.local")))
	id := tlsconf.IdentityOf(s.Certificate().Leaf)
	for _, tc := range []struct {
		role, name, addr string
		want             string // "" = accepted; else a part of the error
	}{
		{tlsconf.RoleNode, "node1", "127.0.0.1:12001", ""},
		{tlsconf.RoleNode, "node1", "node1.local:12001", ""},
		{tlsconf.RoleNode, "", "", ""},
		{tlsconf.RoleNode, "node2", "127.0.0.1:12001", `proves the identity "node1" (its CN), not "node2"`},
		{tlsconf.RoleNode, "node1", "10.0.0.7:12001", `does not cover host "10.0.0.7"`},
		{tlsconf.RoleNode, "node1", "evil.example:12001", "it covers 127.0.0.1, node1.local"},
		{tlsconf.RoleAdmin, "node1", "", `has role "node" (its OU), not "admin"`},
		{tlsconf.RoleNode, "node1", "no-port", "missing port"},
	} {
		err := id.CheckClaim(tc.role, tc.name, tc.addr)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckClaim(%q, %q, %q) = %v, want nil", tc.role, tc.name, tc.addr, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckClaim(%q, %q, %q) = %v, want an error containing %q", tc.role, tc.name, tc.addr, err, tc.want)
		}
	}
}

func TestHTTPSWithClientCertificate(t *testing.T) {
	ca := newCA(t, "cluster")
	sc, err := load(t, files(t, ca, leaf("node0", tlsconf.RoleNode, loopback...))).
		ServerConfig(tlsconf.ServerOptions{ClientAuth: tlsconf.ClientCertOptional, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, err := tlsconf.PeerIdentity(r.TLS)
			if err != nil {
				io.WriteString(w, "anonymous")
				return
			}
			io.WriteString(w, id.Role+":"+id.Name)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = hs.Serve(tls.NewListener(ln, sc)) }()
	t.Cleanup(func() { hs.Close() })

	get := func(src *tlsconf.Source, host string) (string, error) {
		c := &http.Client{
			Transport: &http.Transport{TLSClientConfig: src.ClientConfig(tlsconf.ClientOptions{})},
			Timeout:   10 * time.Second,
		}
		defer c.CloseIdleConnections()
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		resp, err := c.Get("https://" + net.JoinHostPort(host, port) + "/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	admin := load(t, files(t, ca, clientLeaf("alice", tlsconf.RoleAdmin)))
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if got, err := get(admin, host); err != nil || got != "admin:alice" {
			t.Errorf("GET via %s with alice's certificate = %q, %v; want admin:alice", host, got, err)
		}
	}
	if got, err := get(load(t, caOnly(t, ca)), "127.0.0.1"); err != nil || got != "anonymous" {
		t.Errorf("GET without a certificate = %q, %v; want anonymous", got, err)
	}
	if _, err := get(load(t, caOnly(t, newCA(t, "other"))), "127.0.0.1"); err == nil {
		t.Error("a client trusting another CA accepted the server")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  tlsconf.Config
		want string
	}{
		{tlsconf.Config{}, "no CA file"},
		{tlsconf.Config{CAFile: "ca", CertFile: "c"}, "both a certificate and its key"},
		{tlsconf.Config{CAFile: "ca", KeyFile: "k"}, "both a certificate and its key"},
		{tlsconf.Config{CAFile: "ca", ReloadInterval: -1}, "negative"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := tlsconf.Load(tlsconf.Config{CAFile: "/nonexistent/ca.pem"}); err == nil {
		t.Error("Load with a missing CA file succeeded")
	}
	ca := newCA(t, "cluster")
	cfg := files(t, ca, leaf("node0", tlsconf.RoleNode, loopback...))
	cfg.KeyFile = files(t, ca, leaf("node1", tlsconf.RoleNode, loopback...)).KeyFile
	if _, err := tlsconf.Load(cfg); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("Load with another certificate's key: err = %v, want a mismatch error", err)
	}
	if _, err := load(t, caOnly(t, ca)).ServerConfig(tlsconf.ServerOptions{}); err == nil {
		t.Error("ServerConfig without a certificate succeeded")
	}
}
