// Package server is the distributor's HTTP API: the seed's /set, /get and
// /delete, the node's hraftd API (/key) so that any hraftd client can point
// at the distributor, and views of routing (/shard/{clave}) and health
// (/status, the dashboard, /metrics). It validates input and translates
// errors; the routing itself is the Router's.
//
// Files: handlers.go (the routes), access.go (who may use them), decode.go
// (request bodies), errors.go (errors to answers), fast.go (the hot paths'
// allocation-free decoding and answers), dashboard.go, metrics.go and
// collector.go.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/distributor/watch"
	"github.com/kvraft/hraftd/internal/auth"
	"github.com/kvraft/hraftd/internal/cleanpath"
	"github.com/kvraft/hraftd/internal/httpx"
)

// Router is what the HTTP API needs from the router.
type Router interface {
	// Shards is the number of shards.
	Shards() int
	// ShardOf is the shard that owns key.
	ShardOf(key string) int
	// Set writes pairs, each shard's part atomically, and returns the
	// result of every part that succeeded.
	Set(ctx context.Context, pairs map[string]string, writeID string) ([]router.Result, error)
	// Get reads key at a read level ("" for the node's default).
	Get(ctx context.Context, key, level string) (router.GetResult, error)
	// Delete deletes key.
	Delete(ctx context.Context, key, writeID string) (router.Result, error)
	// Shard is the router's view of one shard.
	Shard(i int) router.ShardStatus
	// Status is the router's view of every shard and its counters.
	Status() router.Status
}

var _ Router = (*router.Router)(nil)

// Observer is what the dashboard and the metrics read besides the Router:
// the latest sampled status of the shards and the events derived from
// successive samples. *watch.Watcher is one.
type Observer interface {
	// Status is the latest sampled status of every shard.
	Status() router.Status
	// Events are the retained events with a sequence number over after.
	Events(after uint64) []watch.Event
	// Subscribe calls f for every later event; f must not block.
	Subscribe(f func(watch.Event))
}

var _ Observer = (*watch.Watcher)(nil)

// HeaderShard names the shard that served a request, on every answer about
// one key.
const HeaderShard = "X-Shard"

// Config configures a Server. Start from DefaultConfig.
type Config struct {
	// MaxBodyBytes bounds a request body; larger ones get 413. The nodes
	// have their own limit (1 MiB by default), so this should not exceed
	// it.
	MaxBodyBytes int64
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// Observer feeds the dashboard and the event-derived metrics (failovers,
	// leader-discovery latency, node reachability). Nil leaves the
	// dashboard with the router's Status only and no events.
	Observer Observer
	// Pprof serves Go's profiler under /debug/pprof/.
	Pprof bool
	// Auth, if set, authenticates every request to a route and checks the
	// permission the route needs (distributor -auth; see access.go). Nil
	// lets every client do everything, at no cost per request.
	Auth auth.Checker
}

// DefaultConfig returns the configuration the distributor starts from.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: 1 << 20}
}

// Server is the distributor's HTTP API; it is an http.Handler.
type Server struct {
	cfg    Config
	router Router
	logger *slog.Logger
	mux    *httpx.Mux

	requests           atomic.Uint64
	clientErrs, srvErr atomic.Uint64

	metrics  *metrics
	instance string    // random per Server, so the dashboard notices a restart
	started  time.Time // when the Server was made
}

// endpoints is the list shown to a client that asks for an unknown path.
const endpoints = "POST /set, GET /get/{clave}, DELETE /delete/{clave}, POST /key, GET /key/{k}, DELETE /key/{k}, GET /shard/{clave}, GET /status, GET /metrics, GET / (dashboard), GET /dashboard/state"

// New returns a Server that routes through rt.
func New(cfg Config, rt Router) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultConfig().MaxBodyBytes
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{cfg: cfg, router: rt, logger: logger.With("component", "http"), mux: httpx.NewMux(),
		metrics: newMetrics(rt, cfg.Observer), instance: newInstanceID(), started: time.Now()}
	s.mux.Hint = "; the distributor serves " + endpoints
	// {clave...} takes the rest of the path: /get/a%2Fb and /get/a/b both
	// read the key "a/b". Each route names the permission it needs with
	// -auth (see access.go).
	s.route("POST /set", auth.PermWrite, s.handleSet)
	s.route("GET /get/{clave...}", auth.PermRead, s.handleGet)
	s.route("DELETE /delete/{clave...}", auth.PermWrite, s.handleDelete)
	s.route("POST /key", auth.PermWrite, s.handleKeySet)
	s.route("GET /key/{key...}", auth.PermRead, s.handleKeyGet)
	s.route("DELETE /key/{key...}", auth.PermWrite, s.handleKeyDelete)
	// Where a key goes (its shard, that shard's leader and nodes) is a
	// view of routing, not of the data: status, like /status.
	s.route("GET /shard/{clave...}", auth.PermStatus, s.handleShard)
	s.route("GET /status", auth.PermStatus, s.handleStatus)
	s.route("GET /metrics", auth.PermStatus, promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}).ServeHTTP)
	// A key route without its key in the path (GET /get) takes it from the
	// query (GET /get?clave=..): the only way to name the keys "." and
	// "..", which browsers and curl drop from a path even percent-encoded.
	// Without these routes the mux would answer with a plain-text redirect
	// to the empty key.
	for _, nk := range []struct {
		pattern, use string
		perm         auth.Perm
		serve        http.HandlerFunc
	}{
		{"GET /get", "GET /get/{clave}", auth.PermRead, s.handleGet},
		{"DELETE /delete", "DELETE /delete/{clave}", auth.PermWrite, s.handleDelete},
		{"GET /key", "GET /key/{key}", auth.PermRead, s.handleKeyGet},
		{"DELETE /key", "DELETE /key/{key}", auth.PermWrite, s.handleKeyDelete},
		{"GET /shard", "GET /shard/{clave}", auth.PermStatus, s.handleShard},
	} {
		s.route(nk.pattern, nk.perm, s.keyInQuery(nk.use, nk.serve))
	}
	s.routeDashboard()
	if cfg.Pprof {
		// Profiles read the process's memory: admin, as on a node.
		httpx.MountPprof(permMux{s, auth.PermAdmin})
	}
	return s
}

// ServeHTTP routes a request. Unknown paths and wrong methods get JSON
// errors like everything else, and a panic in a handler becomes a JSON 500
// rather than a dropped connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	sw := &httpx.StatusWriter{ResponseWriter: w}
	defer s.observe(sw, r, time.Now())
	defer httpx.Recover(s.logger, sw, r)
	// A path the mux would answer with an HTML redirect to its cleaned
	// form ("/get/../status") is bad input: a JSON 400 that says how to
	// send such a clave.
	if msg := cleanpath.Refusal(r.URL.EscapedPath()); msg != "" {
		httpx.WriteJSON(sw, http.StatusBadRequest, errorBody{Error: msg})
		return
	}
	// One route match per request: the mux both picks the handler and
	// sets the path values that handlers read with r.PathValue.
	s.mux.ServeHTTP(sw, r)
}

// observe counts an answered request, by the route pattern the mux
// matched and its status.
func (s *Server) observe(sw *httpx.StatusWriter, r *http.Request, start time.Time) {
	route := r.Pattern
	if httpx.IsMiss(route) {
		// Unknown paths are not labels of their own: a scanner would
		// make one series per path it tries.
		route = "unmatched"
	}
	status := sw.Status()
	s.metrics.observeRequest(route, status, time.Since(start))
	switch {
	case status >= 500:
		s.srvErr.Add(1)
	case status >= 400:
		s.clientErrs.Add(1)
	}
}
