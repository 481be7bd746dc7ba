package webguard

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/poll"
)

// start serves h with cfg on 127.0.0.1:0 through Listen and NewServer.
func start(t *testing.T, cfg ServerConfig, h http.Handler) (addr string, ln *Listener) {
	t.Helper()
	ln, err := Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(cfg, h)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), ln
}

// rawConn dials addr for raw HTTP.
func rawConn(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// readAnswer reads one answer and its JSON error, if any.
func readAnswer(t *testing.T, br *bufio.Reader) (*http.Response, string, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading an answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	_ = json.Unmarshal(b, &e)
	return resp, string(b), e.Error
}

// smuggle is a request with both Content-Length and Transfer-Encoding,
// whose chunked body ends early and hides a second request that a
// server framing by Content-Length would not see.
const smuggle = "POST /key HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n" +
	"0\r\n\r\n" +
	"GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

func TestGoAcceptsContentLengthWithTransferEncoding(t *testing.T) {
	// What net/http does alone: it serves the request, frames it as
	// chunked, and hides the Content-Length from the handler; so the
	// guard must refuse on Transfer-Encoding alone.
	var mu sync.Mutex
	var seen []string
	addr, _ := start(t, ServerConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+" cl="+r.Header.Get("Content-Length")+" te="+strings.Join(r.TransferEncoding, ","))
		mu.Unlock()
	}))
	c, br := rawConn(t, addr)
	io.WriteString(c, smuggle)
	for range 2 {
		if resp, body, _ := readAnswer(t, br); resp.StatusCode != 200 {
			t.Fatalf("net/http answered %d %s; this test documents that it serves such requests", resp.StatusCode, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != "/key cl= te=chunked" || seen[1] != "/smuggled cl= te=" {
		t.Errorf("handler saw %q", seen)
	}
}

func TestGuardRefusesContentLengthWithTransferEncoding(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	h := newGuard(t, Config{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
	}))
	addr, _ := start(t, ServerConfig{}, h)
	c, br := rawConn(t, addr)
	io.WriteString(c, smuggle)
	resp, body, msg := readAnswer(t, br)
	if resp.StatusCode != http.StatusLengthRequired || !strings.Contains(msg, "Content-Length") {
		t.Errorf("CL+TE: %d %s, want a JSON 411", resp.StatusCode, body)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("the connection stayed open after a refused framing (read: %v)", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 0 {
		t.Errorf("the handler ran for %q", seen)
	}

	// Transfer-Encodings other than chunked are net/http's to refuse;
	// the answer is JSON through httpx.Listener.
	c, br = rawConn(t, addr)
	io.WriteString(c, "POST /key HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nTransfer-Encoding: gzip\r\n\r\nabc")
	if resp, body, msg := readAnswer(t, br); resp.StatusCode < 400 || msg == "" {
		t.Errorf("TE gzip: %d %s, want a JSON refusal", resp.StatusCode, body)
	}
}

func TestHeaderLimit(t *testing.T) {
	addr, _ := start(t, ServerConfig{}, okHandler)
	c, br := rawConn(t, addr)
	big := strings.Repeat("a", DefaultMaxHeaderBytes+8<<10)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "+big+"\r\n\r\n")
	resp, body, msg := readAnswer(t, br)
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || msg == "" {
		t.Errorf("a %d KiB header: %d %s, want a JSON 431", len(big)>>10, resp.StatusCode, body)
	}
	// Just under the limit is served.
	c, br = rawConn(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "+big[:DefaultMaxHeaderBytes-1024]+"\r\n\r\n")
	if resp, body, _ := readAnswer(t, br); resp.StatusCode != 200 {
		t.Errorf("a header under the limit: %d %s", resp.StatusCode, body)
	}
}

func TestHeaderFloodIsBounded(t *testing.T) {
	// The attack: many connections each sending a 1 MB header. Each is
	// cut off after MaxHeaderBytes (plus net/http's slack) and closed.
	_, ln := start(t, ServerConfig{}, okHandler)
	addr := ln.Addr().String()
	header := "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\n"
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			go io.WriteString(c, header) // fails once the server closes
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil && resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("a 1 MB header: %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	waitOpen(t, ln, 0)
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	addr, _ := start(t, ServerConfig{ReadHeaderTimeout: 200 * time.Millisecond}, okHandler)
	c, br := rawConn(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") // and nothing more
	// The server closes the connection; the test's own deadline (10s)
	// would show as a timeout.
	_, err := br.ReadByte()
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("an unfinished header: read %v, want the server to close the connection", err)
	}
}

func TestSlowBodiesAreCutOff(t *testing.T) {
	got := make(chan error, 1)
	addr, _ := start(t, ServerConfig{ReadTimeout: 300 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		got <- err
	}))
	c, _ := rawConn(t, addr)
	io.WriteString(c, "POST /key HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"k\":") // 95 bytes short
	select {
	case err := <-got:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("reading a stalled body: err = %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled body was never cut off")
	}
}

func TestConnectionCap(t *testing.T) {
	addr, ln := start(t, ServerConfig{MaxConns: 2}, okHandler)
	held := make([]net.Conn, 2)
	for i := range held {
		c, br := rawConn(t, addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		if resp, body, _ := readAnswer(t, br); resp.StatusCode != 200 { // served, then kept alive
			t.Fatalf("connection %d: %d %s", i, resp.StatusCode, body)
		}
		held[i] = c
	}
	waitOpen(t, ln, 2)
	c, br := rawConn(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	resp, body, msg := readAnswer(t, br)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(msg, "too many open connections") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a third connection: %d %s, want a JSON 503 with Retry-After", resp.StatusCode, body)
	}
	held[0].Close()
	waitOpen(t, ln, 1)
	c, br = rawConn(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	if resp, body, _ := readAnswer(t, br); resp.StatusCode != 200 {
		t.Errorf("a connection after one closed: %d %s", resp.StatusCode, body)
	}
}

// waitOpen polls until ln counts n open connections.
func waitOpen(t *testing.T, ln *Listener, n int64) {
	t.Helper()
	poll.Until(t, 10*time.Second, "the expected count of open connections", func() bool { return ln.Open() == n })
}
