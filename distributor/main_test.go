package main

import (
	"flag"
	"io"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/kvraft/hraftd/distributor/router"
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
	if o.addr != ":8080" || o.timeout != 10*time.Second || !reflect.DeepEqual([][]string(o.shards), router.DefaultShards()) {
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
	for addr, want := range map[string]string{
		"[::]:8080":      "http://localhost:8080/",
		"0.0.0.0:8080":   "http://localhost:8080/",
		"127.0.0.1:9000": "http://127.0.0.1:9000/",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := dashboardURL(a); got != want {
			t.Errorf("dashboardURL(%s) = %s, want %s", addr, got, want)
		}
	}
}
