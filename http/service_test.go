package httpd

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServiceStartAndClose covers the listening lifecycle: Start on a free
// port, serve, Close, and refuse afterwards.
func TestServiceStartAndClose(t *testing.T) {
	fs := newFake(t)
	fs.ReadyFn = func() error { return nil }
	svc := newService(t, fs, func(c *Config) { c.Addr = "127.0.0.1:0" })
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	url := "http://" + svc.Addr().String() + "/readyz"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := svc.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := client.Get(url); err == nil {
		resp.Body.Close()
		t.Error("the service still answers after Close")
	}

	// Another service on an address in use fails to start, with an error.
	first := newService(t, fs, func(c *Config) { c.Addr = "127.0.0.1:0" })
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Close(context.Background()) })
	second := newService(t, fs, func(c *Config) { c.Addr = first.Addr().String() })
	if err := second.Start(); err == nil {
		t.Error("Start on an address in use succeeded")
		_ = second.Close(context.Background())
	}
}

// TestUnparsableRequestIsJSON: a request net/http rejects before any
// handler (a bad percent-escape) still gets a JSON error.
func TestUnparsableRequestIsJSON(t *testing.T) {
	svc := newService(t, newFake(t), func(c *Config) { c.Addr = "127.0.0.1:0" })
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	c, err := net.DialTimeout("tcp", svc.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /key/100% HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Error string }
	if resp.StatusCode != 400 || json.NewDecoder(resp.Body).Decode(&body) != nil || !strings.Contains(body.Error, "%25") {
		t.Errorf("got %d %q %q; want a JSON 400 saying to send %% as %%25", resp.StatusCode, resp.Header.Get("Content-Type"), body.Error)
	}
}
