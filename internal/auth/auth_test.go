package auth

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// hash is a cheap bcrypt hash for tests.
func hash(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// usersFile writes entries as a users file and returns its path.
func usersFile(t testing.TB, entries ...entry) string {
	t.Helper()
	if entries == nil {
		entries = []entry{}
	}
	b, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadStore(t testing.TB, file string) *Store {
	t.Helper()
	s, err := Load(Config{File: file, ReloadInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// certState is the TLS state of a request whose client presented a
// verified certificate with this CN and OU.
func certState(cn, ou string) *tls.ConnectionState {
	c := &x509.Certificate{Subject: pkix.Name{CommonName: cn, OrganizationalUnit: []string{ou}}}
	return &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{c}}}
}

// call sends one request through s.Require(perm) and returns the status,
// the JSON error (if any) and the WWW-Authenticate header.
func call(t *testing.T, s *Store, perm Perm, mod func(*http.Request)) (int, string, string) {
	t.Helper()
	h := s.Require(perm, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "user="+UserFrom(r.Context()))
	}))
	r := httptest.NewRequest(http.MethodPost, "/key", nil)
	if mod != nil {
		mod(r)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	var body struct{ Error string }
	if rec.Code != http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("a %d answer is not JSON: %q", rec.Code, rec.Body)
		}
	}
	return rec.Code, body.Error, rec.Header().Get("WWW-Authenticate")
}

func basic(user, password string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, password) }
}

var allPermList = []Perm{PermRead, PermWrite, PermAdmin, PermStatus, PermAll}

func TestEveryPermission(t *testing.T) {
	users := map[string][]string{
		"reader": {"read"}, "writer": {"write"}, "admin": {"admin"}, "watcher": {"status"},
		"root": {"all"}, "rw": {"read", "write"}, "none": {},
	}
	var entries []entry
	for name, perms := range users {
		entries = append(entries, entry{Username: name, Password: hash(t, "pw-"+name), Perms: perms})
	}
	s := loadStore(t, usersFile(t, entries...))
	for name, perms := range users {
		for _, p := range allPermList {
			want := http.StatusForbidden
			for _, g := range perms {
				if Perm(g) == p || g == "all" {
					want = http.StatusOK
				}
			}
			code, msg, _ := call(t, s, p, basic(name, "pw-"+name))
			if code != want {
				t.Errorf("%s asking for %s: %d %q, want %d", name, p, code, msg, want)
			}
			if code == http.StatusForbidden && !strings.Contains(msg, fmt.Sprintf("user %q lacks the %q permission", name, p)) {
				t.Errorf("%s asking for %s: the 403 says %q", name, p, msg)
			}
			if got := s.Allowed(name, p); got != (want == http.StatusOK) {
				t.Errorf("Allowed(%s, %s) = %v, disagrees with the middleware", name, p, got)
			}
		}
	}
}

func TestWrongCredentials(t *testing.T) {
	s := loadStore(t, usersFile(t, entry{Username: "alice", Password: hash(t, "secret"), Perms: []string{"all"}}))
	for _, tc := range []struct {
		name string
		mod  func(*http.Request)
		want string
	}{
		{"wrong password", basic("alice", "guess"), "wrong username or password"},
		{"unknown user", basic("mallory", "secret"), "wrong username or password"},
		{"empty password", basic("alice", ""), "wrong username or password"},
		{"anonymous entry as a user", basic("*", ""), "wrong username or password"},
		{"bearer token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") }, "not HTTP Basic"},
		// Wrong Basic credentials are refused even with a good certificate.
		{"certificate and wrong password", func(r *http.Request) {
			r.TLS = certState("admin", "admin")
			r.SetBasicAuth("alice", "guess")
		}, "wrong username or password"},
	} {
		code, msg, challenge := call(t, s, PermRead, tc.mod)
		if code != http.StatusUnauthorized || !strings.Contains(msg, tc.want) || !strings.Contains(msg, "curl -u") {
			t.Errorf("%s: %d %q, want 401 saying %q and how to send credentials", tc.name, code, msg, tc.want)
		}
		if challenge != `Basic realm="hraftd", charset="UTF-8"` {
			t.Errorf("%s: WWW-Authenticate = %q", tc.name, challenge)
		}
	}
	if code, _, _ := call(t, s, PermRead, basic("alice", "secret")); code != http.StatusOK {
		t.Errorf("the right password: %d", code)
	}
	if user, ok := s.Authenticate(httptest.NewRequest("GET", "/", nil)); ok || user != "" {
		t.Errorf("Authenticate(no credentials) = %q, %v; want anonymous", user, ok)
	}
}

func TestAnonymous(t *testing.T) {
	alice := entry{Username: "alice", Password: hash(t, "secret"), Perms: []string{"write"}}

	s := loadStore(t, usersFile(t, alice))
	code, msg, challenge := call(t, s, PermStatus, nil)
	if code != http.StatusUnauthorized || challenge == "" || !strings.Contains(msg, `needs the "status" permission`) || !strings.Contains(msg, "curl -u USER:PASS") {
		t.Errorf("anonymous without a \"*\" entry: %d %q %q, want a 401 challenge saying how to authenticate", code, msg, challenge)
	}

	s = loadStore(t, usersFile(t, alice, entry{Username: Anonymous, Perms: []string{"status", "read"}}))
	for _, tc := range []struct {
		perm Perm
		mod  func(*http.Request)
		want int
	}{
		{PermStatus, nil, http.StatusOK},
		{PermRead, nil, http.StatusOK},
		{PermWrite, nil, http.StatusUnauthorized},
		{PermAdmin, nil, http.StatusUnauthorized},
		// Everyone gets the anonymous permissions.
		{PermRead, basic("alice", "secret"), http.StatusOK},
		{PermWrite, basic("alice", "secret"), http.StatusOK},
		{PermAdmin, basic("alice", "secret"), http.StatusForbidden},
	} {
		if code, msg, _ := call(t, s, tc.perm, tc.mod); code != tc.want {
			t.Errorf("%s (credentials: %v): %d %q, want %d", tc.perm, tc.mod != nil, code, msg, tc.want)
		}
	}
}

func TestCertificateIdentities(t *testing.T) {
	s := loadStore(t, usersFile(t,
		entry{Username: "client:reports", Perms: []string{"read"}},
		entry{Username: "node:node9", Perms: []string{"status"}},
	))
	for _, tc := range []struct {
		cn, ou string
		perm   Perm
		want   int
	}{
		{"node1", "node", PermWrite, http.StatusOK},
		{"node1", "node", PermStatus, http.StatusOK},
		{"node1", "node", PermAdmin, http.StatusForbidden}, // a self-join is the join handler's check
		{"admin", "admin", PermAdmin, http.StatusOK},
		{"distributor", "client", PermWrite, http.StatusOK},
		{"distributor", "client", PermStatus, http.StatusOK},
		{"distributor", "client", PermAdmin, http.StatusForbidden},
		{"reports", "client", PermRead, http.StatusOK},
		{"reports", "client", PermWrite, http.StatusForbidden}, // the file narrows the role
		{"node9", "node", PermWrite, http.StatusForbidden},
		{"someone", "intern", PermRead, http.StatusForbidden}, // unknown role: nothing
	} {
		code, msg, _ := call(t, s, tc.perm, func(r *http.Request) { r.TLS = certState(tc.cn, tc.ou) })
		if code != tc.want {
			t.Errorf("certificate %s/%s asking for %s: %d %q, want %d", tc.ou, tc.cn, tc.perm, code, msg, tc.want)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.TLS = certState("node1", "node")
	if user, ok := s.Authenticate(r); !ok || user != "node:node1" {
		t.Errorf("Authenticate(node1's certificate) = %q, %v", user, ok)
	}
	// A TLS connection without a verified certificate is anonymous.
	r.TLS = &tls.ConnectionState{}
	if user, ok := s.Authenticate(r); ok || user != "" {
		t.Errorf("Authenticate(TLS, no certificate) = %q, %v", user, ok)
	}
}

// syncBuffer is a log sink that handlers write to while the test reads.
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
