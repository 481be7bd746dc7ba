package server

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/kvraft/hraftd/distributor/router"
)

// keyURLs are keys and the URL the dashboard's keyURL (web/keys.js) must
// make for them with the prefix /get: one path segment each, and the keys
// "." and ".." in the query, since a browser drops them from a path even
// percent-encoded.
var keyURLs = []struct{ key, url string }{
	{".", "/get?clave=."},
	{"..", "/get?clave=.."},
	{"...", "/get/..."},
	{"a.b", "/get/a.b"},
	{"a/b", "/get/a%2Fb"},
	{"a/../b", "/get/a%2F..%2Fb"},
	{"100%", "/get/100%25"},
	{"a b?c#d", "/get/a%20b%3Fc%23d"},
	{"ñandú", "/get/%C3%B1and%C3%BA"},
}

// TestDashboardKeyPathsReachTheKey: every URL the dashboard's form sends
// for a key reaches the router as exactly that key, "." and ".." included.
func TestDashboardKeyPathsReachTheKey(t *testing.T) {
	var got string
	rt := &fakeRouter{t: t, getFn: func(_ context.Context, key, _ string) (router.GetResult, error) {
		got = key
		return router.GetResult{Value: "v", Found: true}, nil
	}}
	s := newTestServer(t, rt)
	for _, ku := range keyURLs {
		got = ""
		w := do(t, s, "GET", ku.url, "")
		if w.Code != 200 || got != ku.key || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s, reached the router as %q; want %q", ku.url, w.Code, w.Body, got, ku.key)
		}
	}
}

// TestDashboardKeyHelpers runs web/keys.js under Node.js, when installed:
// keyURL must encode as keyURLs says, and isJSON must tell the API's
// answers from anything else (the dashboard page, a proxy's error page).
func TestDashboardKeyHelpers(t *testing.T) {
	nodejs, err := exec.LookPath("node")
	if err != nil {
		t.Skip("Node.js is not installed; the browser test covers the page")
	}
	src, err := web.ReadFile("web/keys.js")
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	script.Write(src)
	script.WriteString("\nconst bad = [];\n")
	for _, ku := range keyURLs {
		call := "keyURL('/get', " + jsString(ku.key) + ")"
		script.WriteString("if (" + call + " !== " + jsString(ku.url) + ") bad.push(" + jsString(ku.key) + " + ' -> ' + " + call + ");\n")
	}
	script.WriteString(`
for (const [ct, want] of [["application/json", true], ["application/json; charset=utf-8", true], ["APPLICATION/JSON", true],
    ["text/html; charset=utf-8", false], ["application/jsonp", false], ["", false], [null, false]]) {
  if (isJSON(ct) !== want) bad.push("isJSON(" + ct + ") should be " + want);
}
console.log(bad.join("\n"));
`)
	cmd := exec.Command(nodejs, "-")
	cmd.Stdin = strings.NewReader(script.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("web/keys.js:\n%s", s)
	}
}

// jsString quotes s as a JavaScript string literal: a JSON string is one.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestKeyInQuery: every key route also takes its key from the query when
// the path has none, which is how the keys "." and ".." can be named.
func TestKeyInQuery(t *testing.T) {
	var got string
	rt := &fakeRouter{t: t,
		getFn: func(_ context.Context, key, _ string) (router.GetResult, error) {
			got = key
			return router.GetResult{Value: "v", Found: true}, nil
		},
		deleteFn: func(_ context.Context, key, _ string) (router.Result, error) {
			got = key
			return router.Result{}, nil
		},
	}
	s := newTestServer(t, rt)
	for _, tc := range []struct{ method, url string }{
		{"GET", "/get?clave=.."},
		{"DELETE", "/delete?clave=.."},
		{"GET", "/key?key=.."},
		{"DELETE", "/key?key=.."},
	} {
		got = ""
		if w := do(t, s, tc.method, tc.url, ""); w.Code != 200 || got != ".." {
			t.Errorf("%s %s: %d %s, reached the router as %q; want \"..\"", tc.method, tc.url, w.Code, w.Body, got)
		}
	}
	if w := do(t, s, "GET", "/shard?clave=..", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `".."`) {
		t.Errorf("GET /shard?clave=..: %d %s", w.Code, w.Body)
	}
}
