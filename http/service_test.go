package httpd

import (
	"context"
	"net/http"
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
