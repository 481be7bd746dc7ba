package server

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/kvraft/hraftd/distributor/router"
)

// keyPaths are keys and how the dashboard's keyPath (web/keys.js) must
// encode them: one path segment each, never a dot segment.
var keyPaths = []struct{ key, path string }{
	{".", "%2E"},
	{"..", "%2E%2E"},
	{"...", "..."},
	{"a.b", "a.b"},
	{"a/b", "a%2Fb"},
	{"a/../b", "a%2F..%2Fb"},
	{"100%", "100%25"},
	{"a b?c#d", "a%20b%3Fc%23d"},
	{"ñandú", "%C3%B1and%C3%BA"},
}

// TestDashboardKeyPathsReachTheKey: every path the dashboard's form sends
// for a key reaches the router as exactly that key, "." and ".." included
// (unencoded, a browser would drop them and fetch the page instead).
func TestDashboardKeyPathsReachTheKey(t *testing.T) {
	var got string
	rt := &fakeRouter{t: t, getFn: func(_ context.Context, key, _ string) (router.GetResult, error) {
		got = key
		return router.GetResult{Value: "v", Found: true}, nil
	}}
	s := newTestServer(t, rt)
	for _, kp := range keyPaths {
		got = ""
		w := do(t, s, "GET", "/get/"+kp.path, "")
		if w.Code != 200 || got != kp.key || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("GET /get/%s: %d %s, reached the router as %q; want %q", kp.path, w.Code, w.Body, got, kp.key)
		}
	}
}

// TestDashboardKeyHelpers runs web/keys.js under Node.js, when installed:
// keyPath must encode as keyPaths says, and isJSON must tell the API's
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
	for _, kp := range keyPaths {
		script.WriteString("if (keyPath(" + jsString(kp.key) + ") !== " + jsString(kp.path) + ") bad.push(" +
			jsString(kp.key) + " + ' -> ' + keyPath(" + jsString(kp.key) + "));\n")
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
