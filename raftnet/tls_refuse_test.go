package raftnet

import (
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/internal/pki"
	"github.com/kvraft/hraftd/internal/pki/pkitest"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// Whoever is not a node of the cluster's CA, or claims an address its
// certificate does not cover, is refused: the dial fails, the acceptor
// records why, and the connection never reaches raft (Accept).
func TestTLSRefusesWhoIsNotANodeOfTheCA(t *testing.T) {
	ca, other := pkitest.CA(t, "cluster"), pkitest.CA(t, "other")
	expired := pkitest.Leaf("node7", tlsconf.RoleNode, "127.0.0.1")
	expired.NotBefore, expired.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	clientOnly := pkitest.Leaf("distributor", tlsconf.RoleClient, "127.0.0.1")
	clientOnly.Server = false

	for _, tc := range []struct {
		name string
		// dialer is the attacker's layer, nil for a bare TLS client
		// with no certificate.
		dialer func(t *testing.T) *Layer
		// key is the peer the acceptor records the refusal under:
		// the remote IP when the TLS handshake fails, else the
		// address the preamble claims.
		key, want string
	}{
		{"plain TCP", func(t *testing.T) *Layer { return listenTLS(t, nil) },
			"127.0.0.1", "does not speak TLS"},
		{"no certificate", nil, "127.0.0.1", "no client certificate"},
		// It trusts the cluster's CA (its certificate is public), so
		// it gets past checking the acceptor.
		{"another CA", func(t *testing.T) *Layer {
			return listenTLS(t, pkitest.Source(t, other, pkitest.Leaf("node1", tlsconf.RoleNode, "127.0.0.1"), testLogger(t), ca))
		}, "127.0.0.1", "not signed by this cluster's CA"},
		{"expired", func(t *testing.T) *Layer { return listenTLS(t, pkitest.Source(t, ca, expired, testLogger(t), ca)) },
			"127.0.0.1", "expired"},
		{"role admin", func(t *testing.T) *Layer {
			return listenTLS(t, pkitest.Source(t, ca, pkitest.Leaf("admin", tlsconf.RoleAdmin, "127.0.0.1"), testLogger(t), ca))
		}, "127.0.0.1", `has role "admin"`},
		{"role client", func(t *testing.T) *Layer { return listenTLS(t, pkitest.Source(t, ca, clientOnly, testLogger(t), ca)) },
			"127.0.0.1", `has role "client"`},
		{"address not covered", func(t *testing.T) *Layer {
			return listenTLS(t, pkitest.Source(t, ca, pkitest.Leaf("node3", tlsconf.RoleNode, "10.0.0.9", "node3.example"), testLogger(t), ca))
		}, "", `"node3" does not cover host "127.0.0.1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := listenTLS(t, pkitest.Source(t, ca, pkitest.Leaf("node1", tlsconf.RoleNode, "127.0.0.1"), testLogger(t), ca))
			accepted := acceptCount(t, target)
			key := tc.key
			if tc.dialer == nil {
				dialBare(t, ca, target.Addr().String())
			} else {
				d := tc.dialer(t)
				if key == "" {
					key = d.Addr().String()
				}
				c, err := d.Dial(raft.ServerAddress(target.Addr().String()), 5*time.Second)
				if err == nil {
					c.Close()
					t.Fatal("dial succeeded")
				}
				t.Logf("dialer's error: %v", err)
			}
			if r := waitRefused(t, target, key); !strings.Contains(r, tc.want) {
				t.Errorf("recorded %q, want it to say %q", r, tc.want)
			}
			if n := accepted(); n != 0 {
				t.Errorf("%d connections reached Accept", n)
			}
		})
	}
}

// dialBare connects with a TLS client that trusts ca but has no
// certificate, sends a preamble, and expects no answer.
func dialBare(t *testing.T, ca *pki.CA, addr string) {
	t.Helper()
	src, err := tlsconf.Load(tlsconf.Config{CAFile: pkitest.Write(t, t.TempDir(), "ca.crt", ca.CertPEM)})
	if err != nil {
		t.Fatal(err)
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: src.ClientConfig(tlsconf.ClientOptions{ServerName: "127.0.0.1"})}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return // refused in the handshake already
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	pre := appendShortString([]byte(preambleMagic), "127.0.0.1:1")
	_, _ = c.Write(appendShortString(pre, ""))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a client without a certificate got an answer")
	}
}

// A TLS node and a plain one cannot talk, and both ends say why; a peer
// that keeps failing is logged once, not once per attempt.
func TestTLSAndPlainDoNotMix(t *testing.T) {
	ca := pkitest.CA(t, "cluster")
	secure := listenTLS(t, pkitest.Source(t, ca, pkitest.Leaf("node1", tlsconf.RoleNode, "127.0.0.1"), testLogger(t), ca))
	plain := listenTLS(t, nil)
	var logs syncBuffer
	secure.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))

	_, err := secure.Dial(raft.ServerAddress(plain.Addr().String()), 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "without TLS") {
		t.Errorf("TLS dialer to a plain listener: %v, want an error that suggests the peer runs without TLS", err)
	}
	if r := waitRefused(t, plain, "127.0.0.1"); !strings.Contains(r, "a TLS client") {
		t.Errorf("the plain listener recorded %q", r)
	}

	for range 3 {
		_, err = plain.Dial(raft.ServerAddress(secure.Addr().String()), 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "over TLS") {
			t.Fatalf("plain dialer to a TLS listener: %v, want an error that mentions TLS", err)
		}
	}
	if r := waitRefused(t, secure, "127.0.0.1"); !strings.Contains(r, "does not speak TLS") {
		t.Errorf("the TLS listener recorded %q", r)
	}
	// Each refusal is recorded before the connection closes, and the
	// dialer saw all three closed, so all three were counted by now.
	if n := strings.Count(logs.String(), "peer=127.0.0.1 "); n != 1 {
		t.Errorf("logged %d refusals for three identical attempts, want 1:\n%s", n, logs.String())
	}
}

// The acceptor reads the CA bundle per handshake: a node of a new CA is
// let in once the bundle that adds that CA is reloaded, without a restart.
func TestTLSFollowsCAReload(t *testing.T) {
	ca, next := pkitest.CA(t, "cluster"), pkitest.CA(t, "next")
	certPEM, keyPEM, err := ca.Issue(pkitest.Leaf("node1", tlsconf.RoleNode, "127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile := pkitest.Write(t, dir, "ca.crt", ca.CertPEM)
	src, err := tlsconf.Load(tlsconf.Config{CertFile: pkitest.Write(t, dir, "node.crt", certPEM),
		KeyFile: pkitest.Write(t, dir, "node.key", keyPEM), CAFile: caFile, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	target := listenTLS(t, src)
	newcomer := listenTLS(t, pkitest.Source(t, next, pkitest.Leaf("node2", tlsconf.RoleNode, "127.0.0.1"), testLogger(t), ca, next))
	to := raft.ServerAddress(target.Addr().String())

	if _, err := newcomer.Dial(to, 5*time.Second); err == nil {
		t.Fatal("a node of a CA the target does not trust got in")
	}
	pkitest.Write(t, dir, "ca.crt", append(append([]byte{}, ca.CertPEM...), next.CertPEM...))
	if err := src.Reload(); err != nil {
		t.Fatal(err)
	}
	c, err := newcomer.Dial(to, 5*time.Second)
	if err != nil {
		t.Fatalf("after the CA reload: %v", err)
	}
	c.Close()
	accept(t, target)
}

// The dialer checks the peer too: it must hold a node certificate of the
// CA covering the host dialed, or raft never gets the connection.
func TestTLSDialerRefusesWhoIsNotANodeOfTheCA(t *testing.T) {
	ca, other := pkitest.CA(t, "cluster"), pkitest.CA(t, "other")
	me := listenTLS(t, pkitest.Source(t, ca, pkitest.Leaf("node1", tlsconf.RoleNode, "127.0.0.1"), testLogger(t), ca))
	for _, tc := range []struct {
		name string
		src  *tlsconf.Source
		want string
	}{
		{"another CA", pkitest.Source(t, other, pkitest.Leaf("node2", tlsconf.RoleNode, "127.0.0.1"), testLogger(t), ca, other), "not signed by this cluster's CA"},
		{"role admin", pkitest.Source(t, ca, pkitest.Leaf("admin", tlsconf.RoleAdmin, "127.0.0.1"), testLogger(t), ca), `has role "admin"`},
		{"host not covered", pkitest.Source(t, ca, pkitest.Leaf("node3", tlsconf.RoleNode, "10.0.0.9"), testLogger(t), ca), "not 127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			impostor := listenTLS(t, tc.src)
			accepted := acceptCount(t, impostor)
			to := impostor.Addr().String()
			c, err := me.Dial(raft.ServerAddress(to), 5*time.Second)
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("dial: %v, want it to say %q", err, tc.want)
			}
			if r := me.Refused()[to]; !strings.Contains(r, tc.want) {
				t.Errorf("recorded %q, want it to say %q", r, tc.want)
			}
			if n := accepted(); n != 0 {
				t.Errorf("%d connections reached the impostor's Accept", n)
			}
		})
	}
}
