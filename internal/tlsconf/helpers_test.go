package tlsconf_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/pki"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

var loopback = []string{"127.0.0.1", "localhost", "::1"}

func newCA(t *testing.T, name string) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA(name, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// leaf is a valid node-style certificate spec (server and client).
func leaf(name, role string, hosts ...string) pki.Leaf {
	return pki.Leaf{
		Name: name, Role: role, Hosts: hosts,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		Server: true, Client: true,
	}
}

// clientLeaf is an operator's or a program's certificate: a client only,
// with no hosts.
func clientLeaf(name, role string) pki.Leaf {
	l := leaf(name, role)
	l.Server = false
	return l
}

// writeFile writes b to dir/name, replacing it.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// files issues l from ca into a fresh directory and returns the Config
// naming the certificate, its key and ca's bundle.
func files(t *testing.T, ca *pki.CA, l pki.Leaf) tlsconf.Config {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM, err := ca.Issue(l)
	if err != nil {
		t.Fatal(err)
	}
	return tlsconf.Config{
		CertFile: writeFile(t, dir, "cert.pem", certPEM),
		KeyFile:  writeFile(t, dir, "key.pem", keyPEM),
		CAFile:   writeFile(t, dir, "ca.pem", ca.CertPEM),
		Logger:   testLogger(t),
	}
}

// caOnly is a Config that trusts ca and has no certificate.
func caOnly(t *testing.T, ca *pki.CA) tlsconf.Config {
	t.Helper()
	return tlsconf.Config{CAFile: writeFile(t, t.TempDir(), "ca.pem", ca.CertPEM), Logger: testLogger(t)}
}

func load(t *testing.T, cfg tlsconf.Config) *tlsconf.Source {
	t.Helper()
	s, err := tlsconf.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testLogger sends logs to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

// syncBuffer is a log sink tests can read while handshakes write to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is what each side of one connection saw.
type result struct {
	clientErr error
	serverErr error
	// state is the server's view of the finished handshake.
	state tls.ConnectionState
	// serverCert is the leaf the client received.
	serverCert string
}

// server listens on 127.0.0.1:0 with cfg; each accepted connection
// handshakes, answers "ok" and reports its state or error.
type server struct {
	addr    string
	results chan serverResult
}

type serverResult struct {
	state tls.ConnectionState
	err   error
}

func serve(t *testing.T, cfg *tls.Config) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &server{addr: ln.Addr().String(), results: make(chan serverResult, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				err := tc.Handshake()
				if err == nil {
					_, err = tc.Write([]byte("ok\n"))
				}
				s.results <- serverResult{tc.ConnectionState(), err}
			}()
		}
	}()
	return s
}

// dial connects to s with cfg, reads the server's "ok" (in TLS 1.3 a
// server refuses a client certificate after the client's handshake has
// returned, so only the first read shows it), and collects both sides.
func (s *server) dial(t *testing.T, cfg *tls.Config) result {
	t.Helper()
	var r result
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", s.addr, cfg)
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if pc := c.ConnectionState().PeerCertificates; len(pc) > 0 {
			r.serverCert = pc[0].Subject.CommonName + "/" + pc[0].SerialNumber.String()
		}
		_, err = bufio.NewReader(c).ReadString('\n')
		c.Close()
	}
	r.clientErr = err
	select {
	case sr := <-s.results:
		r.serverErr, r.state = sr.err, sr.state
	case <-time.After(10 * time.Second):
		t.Fatal("the server reported nothing")
	}
	return r
}

// ok fails the test unless both sides completed the handshake.
func (r result) ok(t *testing.T) {
	t.Helper()
	if r.clientErr != nil || r.serverErr != nil {
		t.Fatalf("handshake failed: client: %v; server: %v", r.clientErr, r.serverErr)
	}
}

// refused fails the test unless the handshake failed.
func (r result) refused(t *testing.T) {
	t.Helper()
	if r.clientErr == nil || r.serverErr == nil {
		t.Fatalf("handshake completed; want refused (client: %v; server: %v)", r.clientErr, r.serverErr)
	}
}
