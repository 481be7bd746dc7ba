package httpd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/auth"
	"github.com/kvraft/hraftd/kv"
)

func TestRoutePerm(t *testing.T) {
	cases := []struct {
		method, path string
		want         auth.Perm // "" means none needed
	}{
		{"GET", "/readyz", ""},
		{"GET", "/status", auth.PermStatus},
		{"GET", "/metrics", auth.PermStatus},
		{"GET", "/key/a", auth.PermRead},
		{"HEAD", "/key/a", auth.PermRead},
		{"POST", "/read", auth.PermRead},
		{"POST", "/key", auth.PermWrite},
		{"DELETE", "/key/a", auth.PermWrite},
		{"POST", "/join", auth.PermAdmin},
		{"POST", "/remove", auth.PermAdmin},
		{"GET", "/debug/faults", auth.PermAdmin},
		{"GET", "/debug/pprof/heap", auth.PermAdmin},
		{"GET", "/no-such-route", auth.PermStatus},
		{"PUT", "/no-such-route", auth.PermAdmin},
	}
	for _, c := range cases {
		got, needed := routePerm(c.method, c.path)
		if needed != (c.want != "") || got != c.want {
			t.Errorf("routePerm(%s %s) = %q, %v; want %q", c.method, c.path, got, needed, c.want)
		}
	}
}

// certFor is the TLS state of a request whose client presented a
// verified certificate named cn with role ou, covering hosts.
func certFor(cn, ou string, hosts ...string) *tls.ConnectionState {
	c := &x509.Certificate{Subject: pkix.Name{CommonName: cn, OrganizationalUnit: []string{ou}}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			c.IPAddresses = append(c.IPAddresses, ip)
		} else {
			c.DNSNames = append(c.DNSNames, h)
		}
	}
	return &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{c}}}
}

// accessCall sends one request to h with an optional TLS state and Basic
// credentials ("user:password", "" for none).
func accessCall(h http.Handler, method, target, body string, cs *tls.ConnectionState, creds string, hdr ...string) *httptest.ResponseRecorder {
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	req.TLS = cs
	if user, pass, ok := strings.Cut(creds, ":"); ok {
		req.SetBasicAuth(user, pass)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// membershipFake is a fake whose Join and Remove count their calls and
// whose joins come back as voters (no admission round trip).
func membershipFake(t *testing.T, joins, removes *int) *fakeStore {
	fs := newFake(t)
	fs.JoinFn = func(context.Context, kv.Joiner) (kv.JoinResult, error) {
		*joins++
		return kv.JoinResult{Voter: true, Group: "g1"}, nil
	}
	fs.RemoveFn = func(context.Context, string) error { *removes++; return nil }
	fs.GetFn = func(context.Context, string, kv.ReadLevel) (string, bool, uint64, error) { return "v", true, 1, nil }
	fs.GetManyFn = func(context.Context, []string, kv.ReadLevel) (map[string]string, uint64, error) {
		return map[string]string{"a": "v"}, 1, nil
	}
	fs.SetFn = func(context.Context, map[string]string, string) (uint64, error) { return 1, nil }
	fs.StatusFn = func() (kv.Status, error) {
		return kv.Status{Members: []kv.Member{{ID: "node1"}, {ID: "node2"}}}, nil
	}
	fs.ReadyFn = func() error { return nil }
	return fs
}

const joinNode2 = `{"id":"node2","addr":"127.0.0.1:12002","http_addr":"127.0.0.1:11002"}`

// With TLS and no users file, keys and status are open, and membership
// needs an admin certificate, or a node certificate that proves the join.
func TestAccessTLSWithoutUsers(t *testing.T) {
	var joins, removes int
	svc := newService(t, membershipFake(t, &joins, &removes), func(c *Config) { c.Server.TLS = &tls.Config{} })
	node2 := certFor("node2", "node", "127.0.0.1")
	cases := []struct {
		name, method, target, body string
		cs                         *tls.ConnectionState
		hdr                        []string
		code, joins, removes       int
	}{
		{"anonymous read", "GET", "/key/a", "", nil, nil, 200, 0, 0},
		{"anonymous write", "POST", "/key", `{"a":"b"}`, nil, nil, 200, 0, 0},
		{"anonymous remove", "POST", "/remove", `{"id":"node1"}`, nil, nil, 401, 0, 0},
		{"anonymous join", "POST", "/join", joinNode2, nil, nil, 401, 0, 0},
		{"anonymous faults", "GET", "/debug/faults", "", nil, nil, 401, 0, 0},
		{"client cert remove", "POST", "/remove", `{"id":"node1"}`, certFor("distributor", "client"), nil, 401, 0, 0},
		{"node cert remove", "POST", "/remove", `{"id":"node1"}`, node2, nil, 401, 0, 0},
		{"admin cert remove", "POST", "/remove", `{"id":"node1"}`, certFor("ops", "admin"), nil, 200, 0, 1},
		{"node joins as itself", "POST", "/join", joinNode2, node2, nil, 200, 1, 1},
		{"node joins as another", "POST", "/join", `{"id":"node1","addr":"127.0.0.1:12001"}`, node2, nil, 403, 1, 1},
		{"node claims a host it lacks", "POST", "/join", `{"id":"node2","addr":"10.9.9.9:12002"}`, node2, nil, 403, 1, 1},
		{"node claims an http host it lacks", "POST", "/join", `{"id":"node2","addr":"127.0.0.1:12002","http_addr":"10.9.9.9:1"}`, node2, nil, 403, 1, 1},
		{"admin joins for a node", "POST", "/join", joinNode2, certFor("ops", "admin"), nil, 200, 2, 1},
		{"member forwards a remove", "POST", "/remove", `{"id":"node1"}`, node2, []string{api.HeaderForwarded, "node2"}, 200, 2, 2},
		{"forwarded header without a node cert", "POST", "/remove", `{"id":"node1"}`, nil, []string{api.HeaderForwarded, "node2"}, 401, 2, 2},
		{"non-member node cert with the forwarded header removes", "POST", "/remove", `{"id":"node1"}`, certFor("node9", "node"), []string{api.HeaderForwarded, "node9"}, 401, 2, 2},
		{"member cert naming another forwarder", "POST", "/remove", `{"id":"node1"}`, node2, []string{api.HeaderForwarded, "node1"}, 401, 2, 2},
		{"non-member node cert with the forwarded header joins as another", "POST", "/join", joinNode2, certFor("node9", "node", "127.0.0.1"), []string{api.HeaderForwarded, "node9"}, 403, 2, 2},
		{"member forwards another node's join", "POST", "/join", `{"id":"node7","addr":"127.0.0.1:12007"}`, node2, []string{api.HeaderForwarded, "node2"}, 200, 3, 2},
	}
	for _, c := range cases {
		rec := accessCall(svc, c.method, c.target, c.body, c.cs, "", c.hdr...)
		if rec.Code != c.code || joins != c.joins || removes != c.removes {
			t.Errorf("%s: %d (joins %d, removes %d), want %d (%d, %d); body %s",
				c.name, rec.Code, joins, removes, c.code, c.joins, c.removes, rec.Body)
		}
		if rec.Code >= 400 {
			checkJSONError(t, rec, c.code)
		}
	}
}

// usersForTest writes a users file: reader (read), writer (read, write),
// ops (all), and everyone status.
func usersForTest(t *testing.T) *auth.Store {
	t.Helper()
	hash := func(p string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	entries := []map[string]any{
		{"username": "reader", "password": hash("r-pass"), "perms": []string{"read"}},
		{"username": "writer", "password": hash("w-pass"), "perms": []string{"read", "write"}},
		{"username": "ops", "password": hash("o-pass"), "perms": []string{"all"}},
		{"username": "*", "perms": []string{"status"}},
	}
	b, _ := json.Marshal(entries)
	file := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := auth.Load(auth.Config{File: file, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestAccessWithUsers(t *testing.T) {
	var joins, removes int
	svc := newService(t, membershipFake(t, &joins, &removes), func(c *Config) {
		c.Server.TLS = &tls.Config{}
		c.Auth = usersForTest(t)
	})
	cases := []struct {
		name, method, target, body, creds string
		cs                                *tls.ConnectionState
		code                              int
	}{
		{"no credentials read", "GET", "/key/a", "", "", nil, 401},
		{"no credentials level=linearizable read", "GET", "/key/a?level=linearizable", "", "", nil, 401},
		{"no credentials write", "POST", "/key", `{"a":"b"}`, "", nil, 401},
		{"wrong password", "GET", "/key/a", "", "reader:nope", nil, 401},
		{"unknown user", "GET", "/key/a", "", "mallory:x", nil, 401},
		{"reader reads", "GET", "/key/a", "", "reader:r-pass", nil, 200},
		{"reader batch-reads", "POST", "/read", `{"keys":["a"]}`, "reader:r-pass", nil, 200},
		{"reader writes", "POST", "/key", `{"a":"b"}`, "reader:r-pass", nil, 403},
		{"reader deletes", "DELETE", "/key/a", "", "reader:r-pass", nil, 403},
		{"writer writes", "POST", "/key", `{"a":"b"}`, "writer:w-pass", nil, 200},
		{"writer removes", "POST", "/remove", `{"id":"node1"}`, "writer:w-pass", nil, 403},
		{"ops removes", "POST", "/remove", `{"id":"node1"}`, "ops:o-pass", nil, 200},
		{"anyone reads status", "GET", "/status", "", "", nil, 200},
		{"health probe", "GET", "/readyz", "", "", nil, 200},
		{"distributor certificate writes", "POST", "/key", `{"a":"b"}`, "", certFor("distributor", "client"), 200},
		{"distributor certificate removes", "POST", "/remove", `{"id":"node1"}`, "", certFor("distributor", "client"), 403},
		{"admin certificate removes", "POST", "/remove", `{"id":"node1"}`, "", certFor("ops", "admin"), 200},
	}
	for _, c := range cases {
		rec := accessCall(svc, c.method, c.target, c.body, c.cs, c.creds)
		if rec.Code != c.code {
			t.Errorf("%s: %d, want %d; body %s", c.name, rec.Code, c.code, rec.Body)
			continue
		}
		if c.code >= 400 {
			checkJSONError(t, rec, c.code)
		}
		if c.code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: 401 without a Basic challenge", c.name)
		}
	}
	if removes != 2 {
		t.Errorf("Remove called %d times, want 2 (ops and the admin certificate)", removes)
	}
}

// Without TLS and users, the API is open, as hraftd's always was.
func TestAccessPlainIsOpen(t *testing.T) {
	var joins, removes int
	svc := newService(t, membershipFake(t, &joins, &removes))
	if rec := accessCall(svc, "POST", "/remove", `{"id":"node1"}`, nil, ""); rec.Code != 200 || removes != 1 {
		t.Fatalf("plain remove: %d (removes %d); body %s", rec.Code, removes, rec.Body)
	}
}
