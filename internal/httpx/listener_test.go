package httpx

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveRaw starts a server on Listener over 127.0.0.1:0 and returns a func
// that sends one raw request and reads the whole answer.
func serveRaw(t *testing.T, h http.Handler) func(req string) (*http.Response, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, MaxHeaderBytes: 4 << 10, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return func(req string) (*http.Response, string) {
		t.Helper()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("reading the answer to %q: %v", req[:min(len(req), 40)], err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
}

func TestListenerServerErrorsAreJSON(t *testing.T) {
	send := serveRaw(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A handler's own plain-text answer must pass untouched.
		w.Header().Set("Connection", "close")
		http.Error(w, "handler says no", http.StatusBadRequest)
	}))
	for _, tc := range []struct {
		name, req string
		code      int
		want      string
	}{
		{"bad escape", "GET /get/100% HTTP/1.1\r\nHost: x\r\n\r\n", 400, "send a literal % as %25"},
		{"no host", "GET /x HTTP/1.1\r\n\r\n", 400, "missing required Host header"},
		{"huge header", "GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", 431, "431 Request Header Fields Too Large"},
		{"unknown coding", "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "Unsupported transfer encoding"},
	} {
		resp, body := send(tc.req)
		var e struct{ Error string }
		if resp.StatusCode != tc.code || resp.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s: got %d %q %q; want %d, a JSON error containing %q", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.code, tc.want)
		}
	}
	resp, body := send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || body != "handler says no\n" {
		t.Errorf("a handler's answer was changed: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
