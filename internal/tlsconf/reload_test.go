package tlsconf_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/pki"
	"github.com/kvraft/hraftd/internal/poll"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// reissue writes a fresh certificate for l from ca over cfg's files.
func reissue(t *testing.T, cfg tlsconf.Config, ca *pki.CA, l pki.Leaf) {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(l)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, "", cfg.KeyFile, keyPEM)
	writeFile(t, "", cfg.CertFile, certPEM)
}

// eventually polls cond until it holds or ten seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 10*time.Second, what, cond)
}

func TestServerCertificateReloadsWithoutRestart(t *testing.T) {
	ca := newCA(t, "cluster")
	cfg := files(t, ca, leaf("node0", tlsconf.RoleNode, loopback...))
	cfg.ReloadInterval = 10 * time.Millisecond
	sc, err := load(t, cfg).ServerConfig(tlsconf.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := serve(t, sc)
	cc := load(t, caOnly(t, ca)).ClientConfig(tlsconf.ClientOptions{})
	r := s.dial(t, cc)
	r.ok(t)
	first := r.serverCert

	reissue(t, cfg, ca, leaf("node0", tlsconf.RoleNode, loopback...))
	eventually(t, "the server to present its new certificate", func() bool {
		r := s.dial(t, cc)
		r.ok(t)
		return r.serverCert != first
	})
}

func TestClientCertificateReloadsWithoutRestart(t *testing.T) {
	ca := newCA(t, "cluster")
	sc, err := load(t, files(t, ca, leaf("node0", tlsconf.RoleNode, loopback...))).
		ServerConfig(tlsconf.ServerOptions{ClientAuth: tlsconf.ClientCertRequired})
	if err != nil {
		t.Fatal(err)
	}
	s := serve(t, sc)
	cfg := files(t, ca, clientLeaf("alice", tlsconf.RoleAdmin))
	cfg.ReloadInterval = 10 * time.Millisecond
	cc := load(t, cfg).ClientConfig(tlsconf.ClientOptions{})

	reissue(t, cfg, ca, clientLeaf("bob", tlsconf.RoleAdmin))
	eventually(t, "the client to present its new certificate", func() bool {
		r := s.dial(t, cc)
		r.ok(t)
		id, err := tlsconf.PeerIdentity(&r.state)
		return err == nil && id.Name == "bob"
	})
}

func TestCAReloadWithoutRestart(t *testing.T) {
	oldCA, newCA := newCA(t, "cluster"), newCA(t, "cluster-2")
	bundle := append(append([]byte{}, oldCA.CertPEM...), newCA.CertPEM...)

	t.Run("client trusts a new CA", func(t *testing.T) {
		sc, err := load(t, files(t, newCA, leaf("node0", tlsconf.RoleNode, loopback...))).ServerConfig(tlsconf.ServerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s := serve(t, sc)
		cfg := caOnly(t, oldCA)
		cfg.ReloadInterval = 10 * time.Millisecond
		dial := load(t, cfg).DialTLSContext(tlsconf.ClientOptions{})
		try := func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := dial(ctx, "tcp", s.addr)
			if err == nil {
				c.Close()
			}
			<-s.results
			return err
		}
		if err := try(); err == nil || !strings.Contains(err.Error(), "unknown authority") {
			t.Fatalf("dial before the CA reload: err = %v, want unknown authority", err)
		}
		writeFile(t, "", cfg.CAFile, bundle)
		eventually(t, "the client to trust the new CA", func() bool { return try() == nil })
	})
	t.Run("server trusts a new CA", func(t *testing.T) {
		cfg := files(t, oldCA, leaf("node0", tlsconf.RoleNode, loopback...))
		cfg.ReloadInterval = 10 * time.Millisecond
		sc, err := load(t, cfg).ServerConfig(tlsconf.ServerOptions{ClientAuth: tlsconf.ClientCertRequired})
		if err != nil {
			t.Fatal(err)
		}
		s := serve(t, sc)
		ccfg := files(t, newCA, clientLeaf("alice", tlsconf.RoleAdmin))
		ccfg.CAFile = writeFile(t, t.TempDir(), "ca.pem", oldCA.CertPEM)
		cc := load(t, ccfg).ClientConfig(tlsconf.ClientOptions{})
		s.dial(t, cc).refused(t)
		writeFile(t, "", cfg.CAFile, bundle)
		eventually(t, "the server to trust the new CA", func() bool {
			r := s.dial(t, cc)
			return r.clientErr == nil && r.serverErr == nil
		})
	})
}

func TestFailedReloadKeepsTheOldCertificate(t *testing.T) {
	ca := newCA(t, "cluster")
	cfg := files(t, ca, leaf("node0", tlsconf.RoleNode, loopback...))
	cfg.ReloadInterval = 10 * time.Millisecond
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	src := load(t, cfg)
	sc, err := src.ServerConfig(tlsconf.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := serve(t, sc)
	cc := load(t, caOnly(t, ca)).ClientConfig(tlsconf.ClientOptions{})
	r := s.dial(t, cc)
	r.ok(t)
	first := r.serverCert

	writeFile(t, "", cfg.CertFile, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"))
	eventually(t, "the failed reload to be logged", func() bool {
		r := s.dial(t, cc)
		r.ok(t)
		if r.serverCert != first {
			t.Fatalf("the server presents %s after a failed reload, want the old %s", r.serverCert, first)
		}
		return strings.Contains(logs.String(), "tls reload failed")
	})
	if err := src.Reload(); err == nil {
		t.Error("a forced Reload of a garbage certificate succeeded")
	}

	reissue(t, cfg, ca, leaf("node0", tlsconf.RoleNode, loopback...))
	eventually(t, "the repaired certificate to be picked up", func() bool {
		r := s.dial(t, cc)
		r.ok(t)
		return r.serverCert != first
	})
	if !strings.Contains(logs.String(), "tls material reloaded") {
		t.Errorf("the successful reload was not logged:\n%s", logs.String())
	}
}

func TestReloadChecksAtMostOncePerInterval(t *testing.T) {
	ca := newCA(t, "cluster")
	cfg := files(t, ca, leaf("node0", tlsconf.RoleNode, loopback...))
	cfg.ReloadInterval = time.Hour
	src := load(t, cfg)
	before := src.Certificate().Leaf.SerialNumber
	reissue(t, cfg, ca, leaf("node0", tlsconf.RoleNode, loopback...))
	if got := src.Certificate().Leaf.SerialNumber; got.Cmp(before) != 0 {
		t.Fatal("the files were checked again within the interval")
	}
	if err := src.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := src.Certificate().Leaf.SerialNumber; got.Cmp(before) == 0 {
		t.Fatal("a forced Reload did not pick up the new certificate")
	}
}

func TestDialTLSContextChecksTheHost(t *testing.T) {
	ca := newCA(t, "cluster")
	sc, err := load(t, files(t, ca, leaf("node0", tlsconf.RoleNode, "127.0.0.1"))).ServerConfig(tlsconf.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := serve(t, sc)
	src := load(t, caOnly(t, ca))
	for _, tc := range []struct {
		serverName string
		ok         bool
	}{{"", true}, {"127.0.0.2", false}, {"node0.example", false}} {
		dial := src.DialTLSContext(tlsconf.ClientOptions{ServerName: tc.serverName, ServerRoles: []string{tlsconf.RoleNode}})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := dial(ctx, "tcp", s.addr)
		cancel()
		if err == nil {
			c.Close()
		}
		<-s.results
		if (err == nil) != tc.ok {
			t.Errorf("dial %s as %q: err = %v, want ok = %v (the certificate covers 127.0.0.1 only)", s.addr, tc.serverName, err, tc.ok)
		}
	}
}
