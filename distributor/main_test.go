package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/internal/webguard"
)

func parse(t *testing.T, args ...string) (*options, error) {
	t.Helper()
	fs := flag.NewFlagSet("distributor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return parseFlags(fs, args)
}

func TestFlagDefaultsAreTheSeedLayout(t *testing.T) {
	o, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "localhost:8080" || o.maxConns != webguard.DefaultMaxConns || o.timeout != 10*time.Second || !reflect.DeepEqual([][]string(o.shards), router.DefaultShards()) {
		t.Fatalf("defaults %+v", o)
	}
}

func TestShardFlagsKeepTheirOrder(t *testing.T) {
	o, err := parse(t, "-shard", "127.0.0.1:1, 127.0.0.1:2,", "-shard", "127.0.0.1:3", "-timeout", "2s", "-attempt-timeout", "5s")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"127.0.0.1:1", "127.0.0.1:2"}, {"127.0.0.1:3"}}
	if !reflect.DeepEqual([][]string(o.shards), want) {
		t.Fatalf("shards %q, want %q", o.shards, want)
	}
	if o.attempt != 2*time.Second {
		t.Fatalf("attempt timeout %s: it must not exceed the whole deadline", o.attempt)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-shard", ","},
		{"-timeout", "soon"},
		{"extra-arg"},
		{"-log-format", "xml"},
		{"-max-conns", "0"},
	} {
		if _, err := parse(t, args...); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

func TestLogFormatFlag(t *testing.T) {
	for _, f := range []string{"text", "json"} {
		o, err := parse(t, "-log-format", f)
		if err != nil || o.logFormat != f {
			t.Errorf("-log-format %s: %+v, %v", f, o, err)
		}
	}
	if o, _ := parse(t); o.logFormat != "text" {
		t.Errorf("default -log-format %q, want text", o.logFormat)
	}
}

func TestDashboardURL(t *testing.T) {
	for _, tc := range []struct {
		scheme, addr, listening, want string
	}{
		{"http", "localhost:8080", "127.0.0.1:8080", "http://localhost:8080/"},
		{"http", ":8080", "[::]:8080", "http://localhost:8080/"},
		{"http", "0.0.0.0:8080", "0.0.0.0:8080", "http://localhost:8080/"},
		{"http", "127.0.0.1:0", "127.0.0.1:9000", "http://127.0.0.1:9000/"},
		{"https", "localhost:8443", "127.0.0.1:8443", "https://localhost:8443/"},
		{"https", "10.1.2.3:8443", "10.1.2.3:8443", "https://10.1.2.3:8443/"},
	} {
		a, err := net.ResolveTCPAddr("tcp", tc.listening)
		if err != nil {
			t.Fatal(err)
		}
		if got := dashboardURL(tc.scheme, tc.addr, a); got != tc.want {
			t.Errorf("dashboardURL(%s, %s, %s) = %s, want %s", tc.scheme, tc.addr, tc.listening, got, tc.want)
		}
	}
}

// The read deadline ends a request (net/http cancels its context), so it
// must outlast -timeout, which a request riding out a failover may use.
func TestReadDeadlineOutlastsTimeout(t *testing.T) {
	for _, timeout := range []string{"1s", "10s", "60s"} {
		o, err := parse(t, "-timeout", timeout)
		if err != nil {
			t.Fatal(err)
		}
		l := serverLimits(o, nil, nil)
		if l.ReadTimeout < webguard.DefaultReadTimeout || l.ReadTimeout <= o.timeout {
			t.Errorf("-timeout %s: read deadline %s", timeout, l.ReadTimeout)
		}
		if l.MaxConns != o.maxConns {
			t.Errorf("MaxConns %d, want -max-conns %d", l.MaxConns, o.maxConns)
		}
	}
}

// A request net/http cannot parse never reaches a handler: the server
// answers it itself. Through the distributor's listener that answer is
// JSON too.
func TestListenerAnswersUnparsableRequestsInJSON(t *testing.T) {
	o, err := parse(t, "-addr", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := webguard.Listen(o.addr, serverLimits(o, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /get/100% HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &e) != nil || e.Error == "" {
		t.Fatalf("got %d %q %s; want a JSON 400", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
