package webguard

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// okHandler answers 200 with the body it read.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Write(b)
})

func newGuard(t *testing.T, cfg Config) *Guard {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// serveOne runs one request through h and returns the recorder and the
// JSON error of a non-200 answer.
func serveOne(t *testing.T, h http.Handler, r *http.Request) (*httptest.ResponseRecorder, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code == http.StatusOK {
		return rec, ""
	}
	var body struct{ Error string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" {
		t.Fatalf("a %d answer is not a JSON error: %q", rec.Code, rec.Body)
	}
	return rec, body.Error
}

func TestCrossOriginWrites(t *testing.T) {
	g := newGuard(t, Config{TrustedOrigins: []string{"https://ops.example"}})
	h := g.Handler(okHandler)
	const host = "127.0.0.1:8080"
	for _, tc := range []struct {
		name, method string
		headers      map[string]string
		want         int
	}{
		{"curl (no browser headers)", "POST", nil, 200},
		{"curl DELETE", "DELETE", nil, 200},
		{"own page", "POST", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://" + host}, 200},
		{"typed by the user", "POST", map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"old browser, own page", "POST", map[string]string{"Origin": "http://" + host}, 200},
		{"fetch no-cors from another site", "POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403},
		{"form text/plain from another site", "POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "null", "Content-Type": "text/plain"}, 403},
		{"DELETE from another site", "DELETE", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403},
		{"PUT from another site", "PUT", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403},
		// Another port of the same host is another origin (the dashboard
		// of one program cannot write through another).
		{"another port, same host", "POST", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:11000"}, 403},
		{"old browser, another site", "POST", map[string]string{"Origin": "https://evil.example"}, 403},
		{"reads from another site", "GET", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 200},
		{"trusted origin", "POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://ops.example"}, 200},
	} {
		r := httptest.NewRequest(tc.method, "http://"+host+"/key", strings.NewReader(`{"k":"v"}`))
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		rec, msg := serveOne(t, h, r)
		if rec.Code != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, rec.Code, msg, tc.want)
			continue
		}
		if tc.want == 403 && (!strings.Contains(msg, "cross-origin request refused") || !strings.Contains(msg, "-trusted-origin")) {
			t.Errorf("%s: the refusal says %q", tc.name, msg)
		}
	}
	if _, err := New(Config{TrustedOrigins: []string{"ops.example"}}); err == nil {
		t.Error("an origin without a scheme was accepted")
	}
}

func TestHostAllowlist(t *testing.T) {
	g := newGuard(t, Config{AllowedHosts: []string{"node1.internal:11001", ".corp.example", "DB.Example."}, HostFlag: "-allow-host"})
	h := g.Handler(okHandler)
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"10.1.2.3", true},
		{"[::1]:8080", true},
		{"[::1]", true},
		{"localhost:8080", true},
		{":11000", true}, // Go's client for http://:11000 (-join :11000)
		{"LOCALHOST.", true},
		{"dash.localhost:8080", true},
		{"node1.internal:9999", true}, // the port is not part of the check
		{"db.example", true},
		{"a.corp.example:443", true},
		{"corp.example", true},
		{"xcorp.example", false},
		{"evil.example:8080", false},
		{"127.0.0.1.nip.io:8080", false},
		{"localhost.evil.example", false},
	} {
		r := httptest.NewRequest("GET", "/status", nil)
		r.Host = tc.host
		rec, msg := serveOne(t, h, r)
		if (rec.Code == 200) != tc.ok {
			t.Errorf("Host %q: %d %q, want allowed = %v", tc.host, rec.Code, msg, tc.ok)
		}
		if !tc.ok && rec.Code != http.StatusForbidden {
			t.Errorf("Host %q: refused with %d, want 403", tc.host, rec.Code)
		}
		if !tc.ok && !strings.Contains(msg, "-allow-host "+normalizeHost(tc.host)) {
			t.Errorf("Host %q: the refusal %q does not say how to allow it", tc.host, msg)
		}
	}
	if _, err := New(Config{AllowedHosts: []string{""}}); err == nil {
		t.Error("an empty allowed host was accepted")
	}
}

func TestSecurityHeaders(t *testing.T) {
	g := newGuard(t, Config{})
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<!doctype html><title>dashboard</title>")
	}))
	want := map[string]string{
		"Content-Security-Policy":      DefaultCSP,
		"X-Frame-Options":              "DENY",
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "no-referrer",
		"Cross-Origin-Resource-Policy": "same-origin",
	}
	for _, host := range []string{"127.0.0.1:8080", "evil.example"} { // an answer and a refusal
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range want {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("Host %s: %s = %q, want %q", host, k, got, v)
			}
		}
	}
	if !strings.Contains(DefaultCSP, "frame-ancestors 'none'") {
		t.Error("the CSP does not forbid framing")
	}
}

func TestRequireLength(t *testing.T) {
	h := RequireLength(okHandler)
	r := httptest.NewRequest("POST", "/key", strings.NewReader(`{"k":"v"}`))
	r.TransferEncoding = []string{"chunked"}
	rec, msg := serveOne(t, h, r)
	if rec.Code != http.StatusLengthRequired || !strings.Contains(msg, "Content-Length") || rec.Header().Get("Connection") != "close" {
		t.Errorf("chunked body: %d %q (Connection: %q), want 411 asking for a Content-Length and closing",
			rec.Code, msg, rec.Header().Get("Connection"))
	}
	r = httptest.NewRequest("POST", "/key", strings.NewReader(`{"k":"v"}`))
	if rec, msg := serveOne(t, h, r); rec.Code != 200 || rec.Body.String() != `{"k":"v"}` {
		t.Errorf("body with a length: %d %q", rec.Code, msg)
	}
}
