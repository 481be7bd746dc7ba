package load

import (
	"encoding/json"
	"net/http"
	"testing"
)

func newTestRequester(t *testing.T, target Target, rawURL, level string, valueSize int) *requester {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Target, cfg.URL, cfg.Level, cfg.ValueSize = target, rawURL, level, valueSize
	r, err := newRequester(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSetCall(t *testing.T) {
	key := []byte("bench-w3-17")
	node := newTestRequester(t, TargetNode, "http://127.0.0.1:11000", "", 5).setCall(key)
	if node.method != http.MethodPost || node.uri != "/key" {
		t.Errorf("node set = %s %s, want POST /key", node.method, node.uri)
	}
	var pairs map[string]string
	if err := json.Unmarshal(node.body, &pairs); err != nil {
		t.Fatalf("node body %s is not JSON: %v", node.body, err)
	}
	if len(pairs) != 1 || pairs["bench-w3-17"] != "abcde" {
		t.Errorf("node body = %v, want {bench-w3-17: abcde}", pairs)
	}

	dist := newTestRequester(t, TargetDistributor, "http://127.0.0.1:8080/", "", 3).setCall(key)
	if dist.method != http.MethodPost || dist.uri != "/set" {
		t.Errorf("distributor set = %s %s, want POST /set", dist.method, dist.uri)
	}
	var seed struct{ Clave, Valor string }
	if err := json.Unmarshal(dist.body, &seed); err != nil {
		t.Fatalf("distributor body %s is not JSON: %v", dist.body, err)
	}
	if seed.Clave != "bench-w3-17" || seed.Valor != "abc" {
		t.Errorf("distributor body = %+v, want clave bench-w3-17, valor abc", seed)
	}
}

func TestGetCall(t *testing.T) {
	key := []byte("rn-k42")
	tests := []struct {
		target      Target
		url, level  string
		wantURI     string
		description string
	}{
		{TargetNode, "http://127.0.0.1:11000", "", "/key/rn-k42", "node, server's default level"},
		{TargetNode, "http://127.0.0.1:11000", "none", "/key/rn-k42?level=none", "node, level none"},
		{TargetDistributor, "http://127.0.0.1:8080", "linearizable", "/get/rn-k42?level=linearizable", "distributor"},
		{TargetNode, "http://127.0.0.1:9000/proxy/", "weak", "/proxy/key/rn-k42?level=weak", "base URL with a path"},
		{TargetHello, "http://127.0.0.1:9000/hi?x=1", "none", "/hi?x=1", "hello GETs its URL as given"},
		{TargetHello, "http://127.0.0.1:9000", "", "/", "hello with no path"},
	}
	for _, tt := range tests {
		c := newTestRequester(t, tt.target, tt.url, tt.level, 1).getCall(key)
		if c.method != http.MethodGet || c.uri != tt.wantURI || c.body != nil {
			t.Errorf("%s: %s %s (body %q), want GET %s", tt.description, c.method, c.uri, c.body, tt.wantURI)
		}
	}
}

func TestJudge(t *testing.T) {
	node := &requester{target: TargetNode}
	dist := &requester{target: TargetDistributor}
	tests := []struct {
		r        *requester
		read     bool
		a        answer
		want     outcome
		wantKind string
	}{
		{node, false, answer{status: 200}, outcomeOK, ""},
		{node, true, answer{status: 200, found: "true"}, outcomeOK, ""},
		{node, true, answer{status: 200, found: "false"}, outcomeMiss, ""},
		{node, true, answer{status: 404}, outcomeFail, "HTTP 404"}, // a node never 404s a key
		{node, false, answer{status: 307}, outcomeFail, "HTTP 307"},
		{node, false, answer{status: 503}, outcomeFail, "HTTP 503"},
		{dist, true, answer{status: 404}, outcomeMiss, ""},
		{dist, false, answer{status: 404}, outcomeFail, "HTTP 404"},
		{dist, true, answer{status: 400}, outcomeFail, "HTTP 400"},
	}
	for _, tt := range tests {
		got, kind := tt.r.judge(tt.read, tt.a)
		if got != tt.want || kind != tt.wantKind {
			t.Errorf("%s read=%v status %d found %q: got (%d, %q), want (%d, %q)",
				tt.r.target, tt.read, tt.a.status, tt.a.found, got, kind, tt.want, tt.wantKind)
		}
	}
}

func TestValidateURL(t *testing.T) {
	ok := []string{"http://127.0.0.1:11000", "http://localhost:8080", "http://[::1]:80", "http://127.0.0.2:1"}
	for _, u := range ok {
		cfg := DefaultConfig()
		cfg.URL = u
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate(%s) = %v, want nil", u, err)
		}
	}
	for _, u := range []string{"http://10.0.0.1:11000", "http://example.com", "ftp://127.0.0.1", "127.0.0.1:11000"} {
		cfg := DefaultConfig()
		cfg.URL = u
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate(%s) = nil, want an error", u)
		}
	}
	cfg := DefaultConfig()
	cfg.URL, cfg.AllowRemote = "http://10.0.0.1:11000", true
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate with AllowRemote = %v, want nil", err)
	}
	cfg = DefaultConfig()
	cfg.URL, cfg.Engine = "https://127.0.0.1:443", EngineWrk
	if err := cfg.Validate(); err == nil {
		t.Errorf("wrk engine accepted an https URL")
	}
}
