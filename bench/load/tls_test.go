package load

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/pki"
)

// tlsFake is a TLS server that requires a client certificate from its CA,
// answers every request 200, and counts the connections it accepted and
// the requests that came without the expected Authorization header or
// certificate.
type tlsFake struct {
	srv        *httptest.Server
	client     *tls.Config // trusts the CA, presents a client certificate
	conns      atomic.Int64
	reqs       atomic.Int64
	mu         sync.Mutex
	wrongAuth  int
	wrongPeers int
}

const fakeAuth = "Basic YmVuY2g6c2VjcmV0" // bench:secret

func newTLSFake(t *testing.T) *tlsFake {
	t.Helper()
	now := time.Now()
	ca, err := pki.NewCA("bench test CA", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pair := func(l pki.Leaf) tls.Certificate {
		l.NotBefore, l.NotAfter = now.Add(-time.Hour), now.Add(time.Hour)
		certPEM, keyPEM, err := ca.Issue(l)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	f := &tlsFake{}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.reqs.Add(1)
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.Header.Get("Authorization") != fakeAuth {
			f.wrongAuth++
		}
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "bench" {
			f.wrongPeers++
		}
	}))
	f.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{pair(pki.Leaf{Name: "node0", Role: "node", Hosts: []string{"127.0.0.1"}, Server: true})},
		ClientCAs:    pool, ClientAuth: tls.RequireAndVerifyClientCert,
	}
	f.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			f.conns.Add(1)
		}
	}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	f.client = &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair(pki.Leaf{Name: "bench", Role: "client", Client: true})}}
	return f
}

// Both engines reach an https:// server with the run's TLS configuration
// and credentials, on one kept-alive connection per worker, or on a new
// one per request when asked.
func TestRunTLS(t *testing.T) {
	for _, engine := range []Engine{EngineRaw, EngineNetHTTP} {
		for _, oneShot := range []bool{false, true} {
			name := string(engine) + map[bool]string{false: "/keep-alive", true: "/new-conn"}[oneShot]
			t.Run(name, func(t *testing.T) {
				f := newTLSFake(t)
				cfg := DefaultConfig()
				cfg.URL, cfg.Engine, cfg.TLS, cfg.Authorization, cfg.NewConnPerRequest = f.srv.URL, engine, f.client, fakeAuth, oneShot
				cfg.Concurrency, cfg.Duration, cfg.Warmup = 2, 100*time.Millisecond, 20*time.Millisecond
				res, err := Run(context.Background(), cfg)
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if res.OK == 0 || res.ErrorCount != 0 {
					t.Fatalf("ok=%d errors=%v first=%q; want successes only", res.OK, res.Errors, res.FirstError)
				}
				f.mu.Lock()
				defer f.mu.Unlock()
				if f.wrongAuth != 0 || f.wrongPeers != 0 {
					t.Errorf("%d requests without the Authorization header, %d without the client certificate", f.wrongAuth, f.wrongPeers)
				}
				// net/http's transport may dial a spare connection
				// when a request finds its pool empty.
				conns, reqs, most := f.conns.Load(), f.reqs.Load(), int64(cfg.Concurrency)
				if engine == EngineNetHTTP {
					most *= 2
				}
				switch {
				case oneShot && conns != reqs:
					t.Errorf("%d connections for %d requests; want one each", conns, reqs)
				case !oneShot && conns > most:
					t.Errorf("%d connections for %d workers; want them kept alive", conns, cfg.Concurrency)
				}
			})
		}
	}
}

func TestValidateCredentials(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Authorization = "Basic x\r\nX-Evil: 1"
	if err := cfg.Validate(); err == nil {
		t.Error("an Authorization header with a line break was accepted")
	}
	cfg = DefaultConfig()
	cfg.URL = "https://127.0.0.1:1"
	if err := cfg.Validate(); err != nil {
		t.Errorf("the raw engine refused an https URL: %v", err)
	}
	cfg.Engine = EngineWrk
	if err := cfg.Validate(); err == nil {
		t.Error("the wrk engine accepted an https URL")
	}
	cfg.URL, cfg.NewConnPerRequest = "http://127.0.0.1:1", true
	if err := cfg.Validate(); err == nil {
		t.Error("the wrk engine accepted a connection per request")
	}
}
