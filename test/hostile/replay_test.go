package hostile

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/kv"
)

// TestRouterReplayedWriteMayBeApplied pins a trap that the chaos client
// and the router share: net/http silently replays a request that carries
// an Idempotency-Key on a new connection when a reused keep-alive
// connection breaks before the answer. If the server applied the write and
// died, the replay's dial is refused, and the caller sees only "connection
// refused", which looks like "never sent".
//
// Here a fake leader applies a write, then drops the connection and stops
// listening, as a node killed right after committing would. The write was
// applied, so the router's error must say it may have been
// (ShardError.MaybeApplied, which puts "may or may not have been applied"
// in the 503 the client gets). Deciding that from isDialError(err) gets it
// wrong; observing whether a connection was obtained for the request
// (httptrace GotConn or WroteHeaders in Router.send) gets it right.
func TestRouterReplayedWriteMayBeApplied(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	var applied atomic.Bool
	var closeOnce sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		me := api.Server{ID: "n0", Address: "127.0.0.1:1", HTTP: addr}
		_ = json.NewEncoder(w).Encode(api.Status{Me: me, Leader: me, State: "Leader", Term: 1})
	})
	mux.HandleFunc("POST /key", func(w http.ResponseWriter, r *http.Request) {
		applied.Store(true)
		// Die before answering: no new connections, and this one cut.
		closeOnce.Do(func() { ln.Close() })
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	cfg := router.DefaultConfig()
	cfg.Shards = [][]string{{addr}}
	cfg.Timeout = 1500 * time.Millisecond
	cfg.AttemptTimeout = 500 * time.Millisecond
	cfg.StatusTimeout = 500 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := router.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rt.Start()
	t.Cleanup(rt.Close)
	// A read first, so that the write goes over a reused keep-alive
	// connection (the status polls made it), as it does in production.
	// The fake answers GET /key with 404, which is fine: only the pooled
	// connection matters.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = rt.Get(ctx, "warm-up", string(kv.ReadWeak))

	_, err = rt.Set(ctx, map[string]string{"k": "v"}, "write-1")
	if err == nil {
		t.Fatal("the write succeeded although the node never answered")
	}
	if !applied.Load() {
		t.Fatalf("the write never reached the node (%v); the test did not set up the replay", err)
	}
	var se *router.ShardError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a ShardError", err)
	}
	if !se.MaybeApplied {
		t.Errorf("the node applied the write, but the router reports it as certainly not applied (MaybeApplied false): %v", err)
	}
}
