package hostile

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/cluster"
)

// Browser-borne attacks on a real node and distributor: a page on another
// site writing through them (fetch no-cors, or a text/plain form), a
// rebound DNS name, and a body framed two ways. Each is refused with a
// JSON error and writes nothing; curl-like and same-origin requests pass,
// and every answer carries the security headers.
func TestBrowserAttacksAreRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
	c := cluster.NewTest(t, cluster.Config{Shards: 1, PerShard: 3, Distributor: true, Timeout: 60 * time.Second})
	leader := c.WaitLeader(30*time.Second, c.Shards[0]...)
	node, dist := leader.HTTP, c.Dist.Addr
	crossSite := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example", "Content-Type": "text/plain"}
	cases := []struct {
		name string
		addr string
		req  request
		code int
		want string
	}{
		{"cross-site fetch to the distributor", dist, request{method: "POST", path: "/set", body: []byte(`{"clave":"csrf1","valor":"x"}`), header: crossSite}, 403, "cross-origin"},
		{"cross-site form to a node", node, request{method: "POST", path: "/key", body: []byte(`{"csrf2":"x"}`), header: crossSite}, 403, "cross-origin"},
		{"foreign Origin without Sec-Fetch-Site", node, request{method: "DELETE", path: "/key/before", header: map[string]string{"Origin": "http://evil.example"}}, 403, "cross-origin"},
		{"rebound DNS name, distributor", dist, request{method: "GET", path: "/status", host: "evil.example:8080"}, 403, "DNS rebinding"},
		{"rebound DNS name, node", node, request{method: "GET", path: "/key/before", host: "evil.example"}, 403, "DNS rebinding"},
		{"chunked body", node, request{method: "POST", path: "/key", body: []byte("5\r\n{\"a\":\r\n0\r\n\r\n"), header: map[string]string{"Transfer-Encoding": "chunked"}}, 411, "Content-Length"},
		{"same-origin page", dist, request{method: "POST", path: "/set", body: []byte(`{"clave":"same","valor":"ok"}`), header: map[string]string{"Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}}, 200, ""},
		{"curl-like client", node, request{method: "POST", path: "/key", body: []byte(`{"curl":"ok"}`)}, 200, ""},
		{"localhost name", node, request{method: "GET", path: "/status", host: "localhost"}, 200, ""},
	}
	// A key the DELETE case must not remove.
	if resp, body, err := do(node, request{method: "POST", path: "/key", body: []byte(`{"before":"kept"}`)}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("seed write: %v %s", err, body)
	}
	for _, tc := range cases {
		resp, body, err := do(tc.addr, tc.req)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, resp.StatusCode, body, tc.code, tc.want)
		}
		if tc.code != 200 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: refusal is %q, not JSON", tc.name, resp.Header.Get("Content-Type"))
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff header", tc.name)
		}
	}
	// Nothing the refused requests carried was written.
	for key, want := range map[string]string{"csrf1": "false", "csrf2": "false", "before": "true"} {
		resp, body, err := do(node, request{method: "GET", path: "/key/" + key + "?level=linearizable"})
		if err != nil {
			t.Errorf("GET %s after the attacks: %v", key, err)
			continue
		}
		if resp.StatusCode != 200 || resp.Header.Get(api.HeaderFound) != want {
			t.Errorf("GET %s after the attacks: %d %s, found %q, want found %s", key, resp.StatusCode, body, resp.Header.Get(api.HeaderFound), want)
		}
	}
	// The dashboard cannot be framed or load foreign scripts.
	resp, _, err := do(dist, request{method: "GET", path: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("dashboard: %d, CSP %q, X-Frame-Options %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), resp.Header.Get("X-Frame-Options"))
	}
}
