package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/pki"
	"github.com/kvraft/hraftd/internal/pki/pkitest"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// testFiles writes the files of a test: certificates, keys and users.
type testFiles struct {
	t   *testing.T
	dir string
}

func newTestFiles(t *testing.T) *testFiles { return &testFiles{t: t, dir: t.TempDir()} }

func (f *testFiles) write(name string, b []byte) string {
	f.t.Helper()
	return pkitest.Write(f.t, f.dir, name, b)
}

// issue writes a certificate of ca for name with role, covering hosts,
// and its key; it returns their paths.
func (f *testFiles) issue(ca *pki.CA, name, role string, hosts ...string) (cert, key string) {
	f.t.Helper()
	certPEM, keyPEM, err := ca.Issue(pkitest.Leaf(name, role, hosts...))
	if err != nil {
		f.t.Fatal(err)
	}
	return f.write(name+"-"+role+".crt", certPEM), f.write(name+"-"+role+".key", keyPEM)
}

// tlsFlags are -tls-cert, -tls-key and -tls-ca for the distributor's
// certificate from ca (role client, as make certs issues it).
func (f *testFiles) tlsFlags(ca *pki.CA) []string {
	cert, key := f.issue(ca, "distributor", tlsconf.RoleClient, "127.0.0.1", "localhost")
	return []string{"-tls-cert", cert, "-tls-key", key, "-tls-ca", f.write("ca.crt", ca.CertPEM)}
}

// users writes a users file: name -> perms; every user but "*" and
// certificate identities ("role:CN") gets the password "pw-" + name.
func (f *testFiles) users(perms map[string][]string) string {
	f.t.Helper()
	type entry struct {
		Username string   `json:"username"`
		Password string   `json:"password,omitempty"`
		Perms    []string `json:"perms"`
	}
	var entries []entry
	for name, p := range perms {
		e := entry{Username: name, Perms: p}
		if name != "*" && !strings.Contains(name, ":") {
			h, err := bcrypt.GenerateFromPassword([]byte("pw-"+name), bcrypt.MinCost)
			if err != nil {
				f.t.Fatal(err)
			}
			e.Password = string(h)
		}
		entries = append(entries, e)
	}
	b, err := json.Marshal(entries)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.write("users.json", b)
}

// The off-loopback rule: listening beyond loopback needs TLS and -auth, or
// -insecure. Nothing listens here: only the flags are checked.
func TestOffLoopbackRule(t *testing.T) {
	f := newTestFiles(t)
	tlsArgs := f.tlsFlags(pkitest.CA(t, "cluster"))
	authArgs := []string{"-auth", f.users(map[string][]string{"ops": {"all"}})}
	for _, tc := range []struct {
		args []string
		ok   bool
		want string // in the refusal
	}{
		{[]string{"-addr", ":8080"}, false, "-insecure"},
		{[]string{"-addr", ":8080", "-insecure"}, true, ""},
		{[]string{"-addr", "127.0.0.1:8080"}, true, ""},
		{[]string{"-addr", "localhost:8080"}, true, ""},
		{[]string{"-addr", "[::1]:8080"}, true, ""},
		{[]string{}, true, ""}, // the default, localhost:8080
		{[]string{"-addr", "0.0.0.0:8080"}, false, "0.0.0.0:8080"},
		{[]string{"-addr", "[::]:8080"}, false, "[::]:8080"},
		{append([]string{"-addr", ":8080"}, append(tlsArgs, authArgs...)...), true, ""},
		{append([]string{"-addr", ":8080"}, tlsArgs...), false, "authentication"},
		{append([]string{"-addr", ":8080"}, authArgs...), false, "TLS"},
	} {
		o, err := parse(t, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = loadSecurity(o, slog.New(slog.DiscardHandler))
		switch {
		case tc.ok && err != nil:
			t.Errorf("%q: refused: %v", tc.args, err)
		case !tc.ok && err == nil:
			t.Errorf("%q: accepted; want it refused", tc.args)
		case !tc.ok && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%q: refusal %q does not mention %q", tc.args, err, tc.want)
		}
	}
}

// A refused address ends the program with exit code 2 and one line on
// stderr, like any other bad flag, before anything listens.
func TestRefusalIsOneLineAndExitCode2(t *testing.T) {
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"-addr", "0.0.0.0:0", "-shard", "127.0.0.1:1"}, &stderr) }()
	select {
	case code := <-done:
		out := stderr.String()
		if code != 2 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "distributor: refusing to listen on 0.0.0.0:0") {
			t.Fatalf("exit %d, stderr %q; want 2 and one line", code, out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the distributor started on 0.0.0.0 without TLS, -auth or -insecure")
	}
}

// fakeNode is a one-node shard served over HTTPS as a node with TLS
// serves: a node certificate, client certificates verified against the CA.
type fakeNode struct {
	srv     *httptest.Server
	mu      sync.Mutex
	data    map[string]string
	clients []string // the client identity of each request
}

func newFakeNode(t *testing.T, ca *pki.CA, cert tls.Certificate) *fakeNode {
	n := &fakeNode{data: map[string]string{}}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		me := api.Server{ID: "node0", Address: "raft0", HTTP: n.srv.Listener.Addr().String()}
		writeJSON(w, api.Status{Me: me, Leader: me, Followers: []api.Server{}, State: "Leader", Term: 1, Admitted: true})
	})
	mux.HandleFunc("POST /key", func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		_ = json.NewDecoder(r.Body).Decode(&m)
		n.mu.Lock()
		for k, v := range m {
			n.data[k] = v
		}
		n.mu.Unlock()
	})
	mux.HandleFunc("GET /key/{key...}", func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		v, ok := n.data[r.PathValue("key")]
		n.mu.Unlock()
		w.Header().Set(api.HeaderFound, map[bool]string{true: "true", false: "false"}[ok])
		writeJSON(w, map[string]string{r.PathValue("key"): v})
	})
	mux.HandleFunc("POST /read", func(w http.ResponseWriter, r *http.Request) {
		var req api.ReadRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		ans := api.ReadResponse{Values: map[string]string{}, Found: map[string]bool{}}
		n.mu.Lock()
		for _, k := range req.Keys {
			v, ok := n.data[k]
			ans.Values[k], ans.Found[k] = v, ok
		}
		n.mu.Unlock()
		writeJSON(w, ans)
	})
	n.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := "anonymous"
		if id, err := tlsconf.PeerIdentity(r.TLS); err == nil {
			who = id.Role + ":" + id.Name
		}
		n.mu.Lock()
		n.clients = append(n.clients, who)
		n.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	n.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	n.srv.StartTLS()
	t.Cleanup(n.srv.Close)
	return n
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// startDistributor runs the distributor's wiring with args (and -addr
// 127.0.0.1:0) until the test ends; it returns the address it listens on.
func startDistributor(t *testing.T, args ...string) string {
	t.Helper()
	o, err := parse(t, append([]string{"-addr", "127.0.0.1:0", "-poll", "50ms"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	sec, err := loadSecurity(o, logger)
	if err != nil {
		t.Fatal(err)
	}
	d, err := build(o, sec, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.listen(o.addr); err != nil {
		t.Fatal(err)
	}
	d.start()
	t.Cleanup(func() { d.close(time.Second) })
	return d.ln.Addr().String()
}

// httpsClient trusts ca and presents cert, if set, whatever CAs the
// server says it accepts (Go's client would otherwise keep quiet a
// certificate of another CA).
func httpsClient(ca *pki.CA, cert *tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// pair is issue's certificate, loaded.
func (f *testFiles) pair(ca *pki.CA, name, role string, hosts ...string) tls.Certificate {
	f.t.Helper()
	c, err := tls.LoadX509KeyPair(f.issue(ca, name, role, hosts...))
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// With -tls-* and -auth, the distributor serves HTTPS, checks each
// request's permission (password or client certificate), and calls the
// node over HTTPS with its own certificate.
func TestTLSAndAuthEndToEnd(t *testing.T) {
	ca := pkitest.CA(t, "cluster")
	f := newTestFiles(t)
	node := newFakeNode(t, ca, f.pair(ca, "node0", tlsconf.RoleNode, "127.0.0.1"))
	users := f.users(map[string][]string{"alice": {"read", "write"}, "*": {"status"}, "client:reports": {"read"}})
	args := append(f.tlsFlags(ca), "-auth", users, "-shard", node.srv.Listener.Addr().String())
	base := "https://" + startDistributor(t, args...)
	reports := f.pair(ca, "reports", tlsconf.RoleClient)
	stranger := f.pair(pkitest.CA(t, "other"), "stranger", tlsconf.RoleClient)

	type call struct {
		name           string
		client         *http.Client
		user           string // Basic user, password "pw-"+user
		method, path   string
		body           string
		want           int
		wantChallenged bool
	}
	anon, alice, report := httpsClient(ca, nil), httpsClient(ca, nil), httpsClient(ca, &reports)
	for _, c := range []call{
		{"anonymous status", anon, "", "GET", "/status", "", 200, false},
		{"anonymous dashboard", anon, "", "GET", "/", "", 200, false},
		{"anonymous read", anon, "", "GET", "/get/batman", "", 401, true},
		{"anonymous write", anon, "", "POST", "/set", `{"clave":"batman","valor":"bruce"}`, 401, true},
		{"alice writes", alice, "alice", "POST", "/set", `{"clave":"batman","valor":"bruce"}`, 200, false},
		{"alice reads", alice, "alice", "GET", "/get/batman", "", 200, false},
		{"certificate reads", report, "", "GET", "/get/batman", "", 200, false},
		{"certificate cannot write", report, "", "POST", "/set", `{"clave":"batman","valor":"x"}`, 403, false},
	} {
		req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.user != "" {
			req.SetBasicAuth(c.user, "pw-"+c.user)
		}
		resp, err := c.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		challenged := strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic")
		if resp.StatusCode != c.want || challenged != c.wantChallenged {
			t.Errorf("%s: %d (challenge %v) %s; want %d (challenge %v)", c.name, resp.StatusCode, challenged, body, c.want, c.wantChallenged)
		}
		if c.path == "/get/batman" && c.want == 200 && !strings.Contains(string(body), `"valor":"bruce"`) {
			t.Errorf("%s: %s, want batman=bruce", c.name, body)
		}
	}
	// A client certificate from another CA fails the handshake.
	if resp, err := httpsClient(ca, &stranger).Get(base + "/status"); err == nil {
		resp.Body.Close()
		t.Errorf("a client certificate of another CA was accepted: %d", resp.StatusCode)
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if len(node.clients) == 0 {
		t.Fatal("the node got no request")
	}
	for _, who := range node.clients {
		if who != "client:distributor" {
			t.Fatalf("the node saw a request from %s; want client:distributor", who)
		}
	}
}
