package httpd

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/kvraft/hraftd/internal/cleanpath"
	"github.com/kvraft/hraftd/kv"
)

// muxKey routes a request for target through a mux with the node's key
// routes and reports the key the GET /key/{key...} handler saw, if it was
// the one that served the request (a redirect or another route is not).
func muxKey(t testing.TB, target string) (key string, routed bool) {
	mux := http.NewServeMux()
	mux.HandleFunc(keyGetPattern, func(w http.ResponseWriter, r *http.Request) {
		key, routed = r.PathValue("key"), true
	})
	mux.HandleFunc("GET /key", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/", func(http.ResponseWriter, *http.Request) {})
	r := readRequest(t, target)
	if r == nil {
		return "", false
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		return "", false // a redirect: not served by the key route
	}
	return key, routed
}

// readRequest parses a GET for target as the server would; nil if the
// server would refuse it before routing.
func readRequest(t testing.TB, target string) *http.Request {
	raw := "GET " + target + " HTTP/1.1\r\nHost: node\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		return nil
	}
	return r
}

// checkKeyGetPath fails if keyGetPath claims a request the mux would not
// serve with the key route, or names a different key.
func checkKeyGetPath(t testing.TB, target string) (claimed bool) {
	r := readRequest(t, target)
	if r == nil {
		return false
	}
	// As ServeHTTP: a path that is not clean is refused before routing
	// and never reaches keyGetPath.
	p := r.URL.EscapedPath()
	if cleanpath.Refusal(p) != "" {
		return false
	}
	key, ok := keyGetPath(p)
	if !ok {
		return false
	}
	want, routed := muxKey(t, target)
	if !routed {
		t.Fatalf("keyGetPath(%q) = %q, but the mux does not route it to %s", target, key, keyGetPattern)
	}
	if key != want {
		t.Fatalf("keyGetPath(%q) = %q, the mux's PathValue is %q", target, key, want)
	}
	return true
}

func TestKeyGetPathAgreesWithMux(t *testing.T) {
	for _, tc := range []struct {
		target  string
		claimed bool // whether the fast route takes it
	}{
		{"/key/batman", true},
		{"/key/a/b/c", true},           // {key...} takes slashes
		{"/key/a%2Fb", true},           // an escaped slash
		{"/key/caf%C3%A9", true},       // escaped UTF-8
		{"/key/sp%20ace", true},        // escaped space
		{"/key/100%", false},           // invalid escaping: the server refuses it before routing
		{"/key/%zz", false},            // same
		{"/key/trailing/", true},       // a trailing slash stays in the key
		{"/key/a%2e%2e/b", true},       // escaped dots are not path elements
		{"/key/", false},               // empty key: the mux decides
		{"/key", false},                // another route
		{"/keys/x", false},             // another path
		{"/key/a/../b", false},         // the mux redirects these
		{"/key/./a", false},            //
		{"/key//a", false},             //
		{"/key/a/.", false},            //
		{"/other/key/x", false},        //
		{"/key/x?level=none", true},    // the query is not the path
		{"http://node/key/abs", true},  // absolute-form target
		{"/key/%E2%9C%93%2F%3F", true}, // ✓/? escaped
	} {
		if got := checkKeyGetPath(t, tc.target); got != tc.claimed {
			t.Errorf("keyGetPath claims %q: %v, want %v", tc.target, got, tc.claimed)
		}
	}
}

// A GET served by the fast route and one served by the mux answer alike,
// and both are labelled with the key route for metrics.
func TestKeyGetFastRouteServesLikeMux(t *testing.T) {
	obs := &recordingObserver{}
	get := func(context.Context, string, kv.ReadLevel) (string, bool, uint64, error) { return "v", true, 7, nil }
	s := newService(t, &fakeStore{IDFn: func() string { return "node1" }, GetFn: get},
		func(c *Config) { c.Observer = obs })
	fast := serve(t, s, "GET", "/key/a%2Fb?level=none", "")
	slow := serve(t, s, "GET", "/key/a%2Fb?level=weak", "")
	if fast.Code != 200 || slow.Code != 200 || fast.Body.String() != slow.Body.String() {
		t.Fatalf("fast route %d %q, mux %d %q", fast.Code, fast.Body, slow.Code, slow.Body)
	}
	if got := fast.Body.String(); got != "{\"a/b\":\"v\"}\n" {
		t.Errorf("body = %q", got)
	}
	for _, h := range []string{"X-Raft-Node", "X-Raft-Index", "X-Key-Found", "Content-Type"} {
		if fast.Header().Get(h) != slow.Header().Get(h) {
			t.Errorf("header %s: fast %q, mux %q", h, fast.Header().Get(h), slow.Header().Get(h))
		}
	}
	want := []observedRequest{{keyGetPattern, 200}, {keyGetPattern, 200}}
	if !slices.Equal(obs.got, want) {
		t.Errorf("observed %v, want %v", obs.got, want)
	}
}

func FuzzKeyGetPath(f *testing.F) {
	for _, s := range []string{"/key/batman", "/key/a/../b", "/key//x", "/key/%2F", "/key/100%", "/key/./", "/key/a/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		checkKeyGetPath(t, target)
	})
}
