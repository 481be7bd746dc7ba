// Package router is the distributor's core: it maps each key to a shard with
// fnv32a(key) % N, tracks which node leads every shard by polling the nodes'
// GET /status, and forwards each request to the right leader over the nodes'
// public HTTP API, retrying through a failover until the request's deadline.
//
// The router holds no data and nothing another distributor would need to
// agree with, beyond the shard list itself: several may run side by side.
//
// Files: route.go (Set, Get, Delete), forward.go (retrying one request
// through a failover), send.go (one call to one node), poll.go (tracking
// leaders), shard.go (the view of a shard and its nodes), writebatch.go and
// readbatch.go (coalescing), cohort.go (the batchers' shared wait),
// status.go and counters.go (what the router reports).
package router

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// maxReplyBytes bounds how much of a node's answer is read. A node accepts
// bodies of 1 MiB by default, so a value, and a GET answering it, can be
// about that big; the margin allows for JSON escaping and a node configured
// with a larger limit.
const maxReplyBytes = 16 << 20

// Router routes requests to shard leaders. Create it with New, call Start to
// begin tracking leaders, and Close when done. Its methods are safe for
// concurrent use.
type Router struct {
	cfg    Config
	logger *slog.Logger
	client *http.Client
	scheme string // of the nodes' URLs: "http" or "https"
	shards []*shard

	// ctx bounds the router's own background work (polls and refreshes);
	// Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex // guards started, closed and wg.Add
	started bool
	closed  bool
	wg      sync.WaitGroup

	stats counters

	// batchers coalesce each shard's writes (writebatch.go), by shard.
	batchers []batcher
	// readBatchers coalesce each shard's reads (readbatch.go), by shard,
	// then by level as in readBatchLevels.
	readBatchers [][len(readBatchLevels)]readBatcher
}

// New returns a Router for cfg. It starts nothing: no goroutine runs and no
// node is contacted until Start.
func New(cfg Config) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Router{
		cfg:    cfg,
		logger: logger.With("component", "router"),
		client: &http.Client{
			Transport: newTransport(cfg),
			// A 307 from a node names the leader; the router follows it
			// itself so that it learns the leader and keeps its own
			// deadline and retry policy.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		scheme: cfg.scheme(),
		ctx:    ctx,
		cancel: cancel,
	}
	for i, addrs := range cfg.Shards {
		sh := &shard{index: i}
		for _, a := range addrs {
			sh.nodes = append(sh.nodes, &node{addr: a, problem: "not polled yet"})
		}
		r.shards = append(r.shards, sh)
	}
	r.batchers = make([]batcher, len(r.shards))
	r.readBatchers = make([][len(readBatchLevels)]readBatcher, len(r.shards))
	return r, nil
}

// newTransport is the connection pool to the nodes, adapted by
// cfg.Transport (TLS) if set.
func newTransport(cfg Config) *http.Transport {
	total := 0
	for _, s := range cfg.Shards {
		total += len(s)
	}
	t := &http.Transport{
		// Nodes are reached directly: a proxy from the environment would
		// only add a hop and a failure mode.
		Proxy:       nil,
		DialContext: (&net.Dialer{Timeout: cfg.AttemptTimeout, KeepAlive: 30 * time.Second}).DialContext,
		// Keep enough idle connections for the expected concurrency;
		// with Go's default of 2 per host, a burst of requests dials
		// (and then abandons) a connection each.
		MaxIdleConns:          cfg.MaxIdleConnsPerNode * total,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerNode,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.AttemptTimeout,
	}
	if cfg.Transport == nil {
		return t
	}
	t = cfg.Transport(t)
	if dial := t.DialTLSContext; dial != nil {
		t.DialTLSContext = handshakeIsDial(dial)
	}
	return t
}

// Start begins polling every node's /status in the background. Requests
// made before the first poll completes trigger a poll themselves.
func (r *Router) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.closed {
		return
	}
	r.started = true
	for _, sh := range r.shards {
		r.wg.Add(1)
		go r.pollLoop(sh)
	}
}

// Close stops the background polls and waits for them, and closes idle
// connections. Requests in flight fail with ErrClosed at their next retry.
func (r *Router) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	r.client.CloseIdleConnections()
}

func (r *Router) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Shards returns the number of shards.
func (r *Router) Shards() int { return len(r.shards) }

// ShardOf returns the shard that owns key.
func (r *Router) ShardOf(key string) int { return ShardOf(key, len(r.shards)) }

// Timeout returns a request's whole deadline.
func (r *Router) Timeout() time.Duration { return r.cfg.Timeout }
