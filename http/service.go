// Package httpd serves a node's HTTP API: hraftd's key, join and status
// endpoints, plus removal, readiness, read levels and leader forwarding.
//
// It talks to the replicated store only through the Store interface it
// declares below, in the vocabulary of package kv: it imports neither the
// store nor Raft. The files follow the API's concerns: service.go (config,
// lifecycle, routing), keys.go (reads and writes of keys), cluster.go
// (membership, status, readiness), forward.go (a follower sending a request
// on to its leader), errors.go (the one translation of errors to answers),
// decode.go (request bodies), faults.go (fault injection for tests), and
// the two speed tricks of the hottest request, keyroute.go (routing
// without the mux) and fastjson.go (answers encoded by hand).
package httpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/auth"
	"github.com/kvraft/hraftd/internal/cleanpath"
	"github.com/kvraft/hraftd/internal/httpx"
	"github.com/kvraft/hraftd/internal/webguard"
	"github.com/kvraft/hraftd/kv"
)

// Store is what the HTTP API needs from the replicated store.
type Store interface {
	// Get reads a key at a read level; found tells a missing key from an
	// empty value, index is the applied index the read reflects.
	Get(ctx context.Context, key string, level kv.ReadLevel) (value string, found bool, index uint64, err error)
	// GetMany reads several keys at one level as one read: one leadership
	// check for all of them. values holds the keys that exist; index is
	// the applied index the read reflects.
	GetMany(ctx context.Context, keys []string, level kv.ReadLevel) (values map[string]string, index uint64, err error)
	// Set applies all pairs in one Raft entry. A non-empty writeID makes
	// the write idempotent.
	Set(ctx context.Context, pairs map[string]string, writeID string) (index uint64, err error)
	// Delete removes a key.
	Delete(ctx context.Context, key, writeID string) (index uint64, err error)
	// Join takes a node into the group, as a non-voter if it is new or
	// lost its data, or does nothing if it is already a member.
	Join(ctx context.Context, j kv.Joiner) (kv.JoinResult, error)
	// Promote makes a non-voter that has caught up a voter.
	Promote(ctx context.Context, id string) error
	// Group is the ID of this node's Raft group, "" until known.
	Group() string
	// Remove removes a member.
	Remove(ctx context.Context, id string) error
	// Status reports the node's view of its group.
	Status() (kv.Status, error)
	// Ready returns nil when the node knows a leader and has caught up.
	Ready() error
	// LeaderHTTP returns the leader's ID and HTTP address, if known.
	LeaderHTTP() (id, httpAddr string)
	// ID is this node's Raft ID.
	ID() string
}

// Config configures a Service. Start from DefaultConfig.
type Config struct {
	// Addr is the address to listen on.
	Addr string
	// MaxBodyBytes bounds a request body; larger ones get 413.
	MaxBodyBytes int64
	// RequestTimeout bounds the handling of one request, forwarding and
	// waiting for a commit included.
	RequestTimeout time.Duration
	// Logger receives the service's logs; nil means slog.Default().
	Logger *slog.Logger
	// Observer, if set, is told of every request served.
	Observer RequestObserver
	// Metrics, if set, is served at GET /metrics.
	Metrics http.Handler
	// Pprof serves Go's profiler at /debug/pprof/ (hraftd -pprof).
	Pprof bool
	// Guard, if set, wraps the whole API (hraftd puts internal/webguard
	// here: cross-origin writes, Host allowlist, security headers).
	Guard func(http.Handler) http.Handler
	// Faults, if set, serves GET and POST /debug/faults (test clusters
	// only: it lets any client partition this node).
	Faults Faults
	// Server holds the listener's limits (header size, read deadlines,
	// connection cap) and, if its TLS is set, makes the API HTTPS.
	Server webguard.ServerConfig
	// Auth, if set, authenticates clients and checks each route's
	// permission (hraftd -auth); see access.go.
	Auth auth.Checker
	// Peers is how this node calls other nodes (forwarding, admitting a
	// joiner): the URL scheme and the client's transport. The zero value
	// is plain HTTP.
	Peers Peers
}

// Peers says how a node calls other nodes.
type Peers struct {
	// Scheme is "https" on a TLS cluster, else "" or "http".
	Scheme string
	// Transport, if set, adapts the client's transport (TLS dialing with
	// this node's certificate).
	Transport func(*http.Transport) *http.Transport
}

// URL is the URL of path on the node at hostport.
func (p Peers) URL(hostport, path string) string {
	return p.URLScheme() + "://" + hostport + path
}

// URLScheme is the scheme of peer URLs: Scheme, or "http" if unset.
func (p Peers) URLScheme() string {
	if p.Scheme == "" {
		return "http"
	}
	return p.Scheme
}

// DefaultConfig returns the configuration hraftd starts from.
func DefaultConfig() Config {
	return Config{
		Addr:           "localhost:11000",
		MaxBodyBytes:   1 << 20,
		RequestTimeout: 10 * time.Second,
	}
}

// RequestObserver records served requests, for metrics. route is the
// mux pattern that matched ("GET /key/{key...}"), or "unmatched".
type RequestObserver interface {
	ObserveRequest(route string, code int, d time.Duration)
}

// Service is the HTTP API of one node.
type Service struct {
	cfg    Config
	store  Store
	logger *slog.Logger
	mux    *httpx.Mux
	client *http.Client // for forwarding to the leader

	ln     net.Listener
	server *http.Server

	nodeIDHeader func() []string // the X-Raft-Node value, built once
}

// New returns a Service that is not yet listening.
func New(cfg Config, s Store) *Service {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultConfig().MaxBodyBytes
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultConfig().RequestTimeout
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	svc := &Service{
		cfg:    cfg,
		store:  s,
		logger: logger.With("component", "http"),
		mux:    httpx.NewMux(),
		client: NewPeerClient(cfg.Peers, 0),
	}
	svc.nodeIDHeader = sync.OnceValue(func() []string { return []string{s.ID()} })
	svc.routes()
	return svc
}

// endpoints is the node's API as a 404 lists it.
const endpoints = "POST /key, GET /key/{k}, DELETE /key/{k}, POST /read, POST /join, POST /remove, GET /status, GET /readyz"

func (s *Service) routes() {
	s.mux.Hint = "; a node serves " + endpoints
	if s.cfg.Metrics != nil {
		s.mux.Hint += ", GET /metrics"
	}
	// {key...} takes the rest of the path, so both /key/a%2Fb and /key/a/b
	// address the key "a/b".
	s.mux.HandleFunc("POST /key", s.handleSet)
	s.mux.HandleFunc(keyGetPattern, s.handleGet)
	s.mux.HandleFunc("DELETE /key/{key...}", s.handleDelete)
	s.mux.HandleFunc("POST /read", s.handleRead)
	// Without these the mux would answer GET and DELETE /key with a
	// plain-text redirect to /key/, the empty key; say what is wrong.
	s.mux.HandleFunc("GET /key", s.handleNoKey)
	s.mux.HandleFunc("DELETE /key", s.handleNoKey)
	s.mux.HandleFunc("POST /join", s.handleJoin)
	s.mux.HandleFunc("POST /remove", s.handleRemove)
	s.mux.HandleFunc("GET /status", s.handleStatus)
	s.mux.HandleFunc("GET /readyz", s.handleReadyz)
	s.routeDistributorAPI()
	if s.cfg.Metrics != nil {
		s.mux.Handle("GET /metrics", s.cfg.Metrics)
	}
	if s.cfg.Pprof {
		httpx.MountPprof(s.mux)
	}
	if s.cfg.Faults != nil {
		s.mux.HandleFunc("GET /debug/faults", s.handleFaultsGet)
		s.mux.HandleFunc("POST /debug/faults", s.handleFaultsPost)
	}
}

// Start listens on the configured address and serves in the background.
func (s *Service) Start() error {
	// webguard.Listen caps connections and, for plain HTTP, makes
	// net/http's own answers (to a request it cannot parse) JSON, like the
	// handlers'; NewServer bounds headers and read times.
	scfg := s.cfg.Server
	if scfg.Logger == nil {
		scfg.Logger = s.logger
	}
	ln, err := webguard.Listen(s.cfg.Addr, scfg)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	var h http.Handler = s
	if s.cfg.Guard != nil {
		h = s.cfg.Guard(s)
	}
	s.server = webguard.NewServer(scfg, h)
	go func() {
		if err := s.server.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("http server stopped", "error", err)
		}
	}()
	return nil
}

// Addr is the address the service listens on.
func (s *Service) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting requests and waits, until ctx ends, for those in
// flight to finish.
func (s *Service) Close(ctx context.Context) error {
	if s.server == nil {
		return nil
	}
	return s.server.Shutdown(ctx)
}

// ServeHTTP routes a request. Unknown paths and wrong methods get the same
// JSON errors as everything else (httpx.Mux), and a panic in a handler
// becomes a 500 rather than a dropped connection.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Observer != nil {
		start := time.Now()
		sw := &httpx.StatusWriter{ResponseWriter: w}
		w = sw
		defer func() {
			// The mux records the pattern it matched on the request.
			route := r.Pattern
			if httpx.IsMiss(route) {
				route = "unmatched"
			}
			s.cfg.Observer.ObserveRequest(route, sw.Status(), time.Since(start))
		}()
	}
	defer httpx.Recover(s.logger, w, r)
	if (s.cfg.Auth != nil || s.cfg.Server.TLS != nil) && !s.authorize(w, r) {
		return
	}
	// A path the mux would answer with an HTML redirect to its cleaned
	// form ("/key/../status", "//key/x") is bad input: a JSON 400 that
	// says how to send such a key.
	escaped := r.URL.EscapedPath()
	if msg := cleanpath.Refusal(escaped); msg != "" {
		httpx.WriteError(w, http.StatusBadRequest, msg)
		return
	}
	// A client that names the group it means (the distributor does) is
	// refused by a node of another group, before anything is applied.
	if g := r.Header.Get(api.HeaderGroup); g != "" {
		if mine := s.store.Group(); mine != "" && mine != g {
			httpx.WriteError(w, http.StatusMisdirectedRequest, fmt.Sprintf("this node belongs to group %s, not to group %s that the request names", mine, g))
			return
		}
	}
	// A GET without a query string, or with exactly ?level=none, is a
	// level=none read: a map lookup that never blocks and is never
	// forwarded, so it needs no deadline. It is also the hottest request
	// a node serves, and a timer context per request (and the request
	// copy WithContext makes) is a measurable share of its cost. Any other
	// query takes the general path below.
	if r.Method == http.MethodGet && (r.URL.RawQuery == "" || r.URL.RawQuery == levelNoneQuery) {
		if key, ok := keyGetPath(escaped); ok {
			r.Pattern = keyGetPattern // as the mux would record it (r.PathValue is not set: serveGet takes the key)
			s.serveGet(w, r, key)
			return
		}
		s.mux.ServeHTTP(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	r = r.WithContext(ctx)
	s.mux.ServeHTTP(w, r)
}

// levelNoneQuery is the query string of a level=none read as clients
// (and the distributor) send it.
const levelNoneQuery = "level=" + string(kv.ReadNone)
