package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/internal/auth"
)

// userEntry is one entry of a users file.
type userEntry struct {
	Username string   `json:"username"`
	Password string   `json:"password,omitempty"`
	Perms    []string `json:"perms"`
}

// testPassword is every test user's password.
const testPassword = "s3cret"

// usersStore writes entries (each with testPassword, except "*" and
// certificate identities) as a users file and loads it.
func usersStore(t testing.TB, entries ...userEntry) *auth.Store {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for i := range entries {
		if e := &entries[i]; e.Username != auth.Anonymous && !strings.Contains(e.Username, ":") {
			e.Password = string(h)
		}
	}
	b, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := auth.Load(auth.Config{File: p, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// answeringRouter answers every call at once.
func answeringRouter(t *testing.T) *fakeRouter {
	res := router.Result{Shard: 1, Node: "node4", Index: 7}
	return &fakeRouter{t: t,
		setFn: func(context.Context, map[string]string, string) ([]router.Result, error) {
			return []router.Result{res}, nil
		},
		getFn: func(context.Context, string, string) (router.GetResult, error) {
			return router.GetResult{Result: res, Value: "bruce", Found: true}, nil
		},
		deleteFn: func(context.Context, string, string) (router.Result, error) { return res, nil },
	}
}

// newAuthServer is a Server with users and the profiler on.
func newAuthServer(t *testing.T, users *auth.Store) *Server {
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	cfg.Auth = users
	cfg.Pprof = true
	return New(cfg, answeringRouter(t))
}

// routeCase is one request to one route, and the permission it needs.
type routeCase struct {
	method, target, body string
	perm                 auth.Perm
}

// everyRoute is a request to every route of the distributor.
var everyRoute = []routeCase{
	{"POST", "/set", `{"clave":"batman","valor":"bruce"}`, auth.PermWrite},
	{"GET", "/get/batman", "", auth.PermRead},
	{"GET", "/get?clave=batman", "", auth.PermRead},
	{"DELETE", "/delete/batman", "", auth.PermWrite},
	{"DELETE", "/delete?clave=batman", "", auth.PermWrite},
	{"POST", "/key", `{"batman":"bruce"}`, auth.PermWrite},
	{"GET", "/key/batman", "", auth.PermRead},
	{"GET", "/key?key=batman", "", auth.PermRead},
	{"DELETE", "/key/batman", "", auth.PermWrite},
	{"DELETE", "/key?key=batman", "", auth.PermWrite},
	{"GET", "/shard/batman", "", auth.PermStatus},
	{"GET", "/shard?clave=batman", "", auth.PermStatus},
	{"GET", "/status", "", auth.PermStatus},
	{"GET", "/metrics", "", auth.PermStatus},
	{"GET", "/", "", auth.PermStatus},
	{"GET", "/ui/app.js", "", auth.PermStatus},
	{"GET", "/ui/style.css", "", auth.PermStatus},
	{"GET", "/dashboard/state", "", auth.PermStatus},
	{"GET", "/debug/pprof/", "", auth.PermAdmin},
	{"GET", "/debug/pprof/cmdline", "", auth.PermAdmin},
}

// Each route lets through exactly the users with its permission: a user
// with any other permission gets 403, and "all" passes everywhere.
func TestEveryRouteNeedsItsPermission(t *testing.T) {
	perms := []auth.Perm{auth.PermRead, auth.PermWrite, auth.PermStatus, auth.PermAdmin, auth.PermAll}
	var entries []userEntry
	for _, p := range perms {
		entries = append(entries, userEntry{Username: "u-" + string(p), Perms: []string{string(p)}})
	}
	s := newAuthServer(t, usersStore(t, entries...))
	for _, rc := range everyRoute {
		for _, p := range perms {
			w := do(t, s, rc.method, rc.target, rc.body, "Authorization", basic("u-"+string(p), testPassword))
			allowed := p == rc.perm || p == auth.PermAll
			switch {
			case allowed && (w.Code == http.StatusUnauthorized || w.Code == http.StatusForbidden):
				t.Errorf("%s %s as a user with %q: %d %s, want it served", rc.method, rc.target, p, w.Code, w.Body)
			case !allowed && w.Code != http.StatusForbidden:
				t.Errorf("%s %s as a user with %q: %d, want 403 (it needs %q)", rc.method, rc.target, p, w.Code, rc.perm)
			case !allowed && !strings.Contains(decodeError(t, w).Error, string(rc.perm)):
				t.Errorf("%s %s: the 403 does not name the permission %q: %s", rc.method, rc.target, rc.perm, w.Body)
			}
		}
	}
}

// basic is an Authorization header value for HTTP Basic.
func basic(user, password string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, password)
	return r.Header.Get("Authorization")
}

// Without credentials, or with wrong ones, every route answers 401 with a
// Basic challenge, so that a browser asks for a password.
func TestMissingOrWrongCredentialsAre401(t *testing.T) {
	s := newAuthServer(t, usersStore(t, userEntry{Username: "ops", Perms: []string{"all"}}))
	for _, rc := range everyRoute {
		for _, hdr := range [][]string{
			nil,
			{"Authorization", basic("ops", "wrong")},
			{"Authorization", basic("nobody", testPassword)},
			{"Authorization", "Bearer abc"},
		} {
			w := do(t, s, rc.method, rc.target, rc.body, hdr...)
			if w.Code != http.StatusUnauthorized || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("%s %s with %q: %d, WWW-Authenticate %q; want 401 with a Basic challenge",
					rc.method, rc.target, hdr, w.Code, w.Header().Get("WWW-Authenticate"))
				continue
			}
			decodeError(t, w)
		}
	}
}

// A read-only user reads but cannot write; a status user sees the
// dashboard and /status but cannot read keys.
func TestReaderAndWatcher(t *testing.T) {
	s := newAuthServer(t, usersStore(t,
		userEntry{Username: "reader", Perms: []string{"read"}},
		userEntry{Username: "watcher", Perms: []string{"status"}},
	))
	reader := []string{"Authorization", basic("reader", testPassword)}
	watcher := []string{"Authorization", basic("watcher", testPassword)}
	for _, tc := range []struct {
		who                  []string
		method, target, body string
		want                 int
	}{
		{reader, "POST", "/set", `{"clave":"batman","valor":"bruce"}`, 403},
		{reader, "DELETE", "/delete/batman", "", 403},
		{reader, "GET", "/get/batman", "", 200},
		{reader, "GET", "/key/batman", "", 200},
		{reader, "GET", "/status", "", 403},
		{watcher, "GET", "/", "", 200},
		{watcher, "GET", "/ui/app.js", "", 200},
		{watcher, "GET", "/dashboard/state", "", 200},
		{watcher, "GET", "/status", "", 200},
		{watcher, "GET", "/metrics", "", 200},
		{watcher, "GET", "/get/batman", "", 403},
		{watcher, "POST", "/set", `{"clave":"batman","valor":"bruce"}`, 403},
	} {
		w := do(t, s, tc.method, tc.target, tc.body, tc.who...)
		if w.Code != tc.want {
			t.Errorf("%s %s %s: %d %s, want %d", tc.who[1], tc.method, tc.target, w.Code, w.Body, tc.want)
		}
	}
}

// The anonymous entry "*" with status opens the dashboard to everyone;
// keys still need credentials (401, with the challenge).
func TestAnonymousStatus(t *testing.T) {
	s := newAuthServer(t, usersStore(t,
		userEntry{Username: auth.Anonymous, Perms: []string{"status"}},
		userEntry{Username: "reader", Perms: []string{"read"}},
	))
	for _, target := range []string{"/", "/ui/app.js", "/dashboard/state", "/status", "/metrics"} {
		if w := do(t, s, "GET", target, ""); w.Code != http.StatusOK {
			t.Errorf("anonymous GET %s: %d %s, want 200", target, w.Code, w.Body)
		}
	}
	w := do(t, s, "GET", "/get/batman", "")
	if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("anonymous GET /get/batman: %d, WWW-Authenticate %q; want 401 with a challenge", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	// A user has its own permissions and the anonymous ones.
	if w := do(t, s, "GET", "/status", "", "Authorization", basic("reader", testPassword)); w.Code != http.StatusOK {
		t.Errorf("reader GET /status: %d, want 200 through \"*\"", w.Code)
	}
}

// A client certificate verified by the TLS handshake is the identity
// "role:CN": named in the users file it has the file's permissions,
// otherwise its role's (client: read, write, status; not admin).
func TestCertificateIdentity(t *testing.T) {
	s := newAuthServer(t, usersStore(t, userEntry{Username: "client:reports", Perms: []string{"read"}}))
	withCert := func(cn, ou string) func(*http.Request) {
		return func(r *http.Request) {
			c := &x509.Certificate{Subject: pkix.Name{CommonName: cn, OrganizationalUnit: []string{ou}}}
			r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{c}}}
		}
	}
	for _, tc := range []struct {
		name           string
		mod            func(*http.Request)
		method, target string
		want           int
	}{
		{"named: read", withCert("reports", "client"), "GET", "/get/batman", 200},
		{"named: no write", withCert("reports", "client"), "DELETE", "/delete/batman", 403},
		{"client role: write", withCert("distributor", "client"), "DELETE", "/delete/batman", 200},
		{"client role: status", withCert("distributor", "client"), "GET", "/status", 200},
		{"client role: no admin", withCert("distributor", "client"), "GET", "/debug/pprof/", 403},
		{"admin role: admin", withCert("ops", "admin"), "GET", "/debug/pprof/", 200},
		{"unverified certificate", func(r *http.Request) { r.TLS = &tls.ConnectionState{} }, "GET", "/get/batman", 401},
	} {
		r := newRequest(tc.method, tc.target)
		tc.mod(r)
		w := serve(s, r)
		if w.Code != tc.want {
			t.Errorf("%s: %s %s: %d %s, want %d", tc.name, tc.method, tc.target, w.Code, w.Body, tc.want)
		}
	}
}

// Unknown paths and wrong methods serve nothing: they are answered as
// without -auth, so a client learns the endpoints before it logs in.
func TestMissesNeedNoCredentials(t *testing.T) {
	s := newAuthServer(t, usersStore(t, userEntry{Username: "ops", Perms: []string{"all"}}))
	if w := do(t, s, "GET", "/nope", ""); w.Code != http.StatusNotFound {
		t.Errorf("GET /nope: %d, want 404", w.Code)
	}
	if w := do(t, s, "PUT", "/status", ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("PUT /status: %d, want 405", w.Code)
	}
}

func newRequest(method, target string) *http.Request {
	return httptest.NewRequest(method, target, nil)
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
