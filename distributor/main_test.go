package main

import (
	"flag"
	"io"
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
	} {
		if _, err := parse(t, args...); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}
