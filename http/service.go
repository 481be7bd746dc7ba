// Package httpd serves a node's HTTP API: hraftd's key, join and status
// endpoints, plus removal, readiness, read levels and leader forwarding.
//
// It talks to the replicated store only through the Store interface it
// declares below, and knows nothing of Raft.
package httpd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/cleanpath"
	"github.com/kvraft/hraftd/internal/jsonenc"
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
	// Join adds a member, or does nothing if it is already one.
	Join(ctx context.Context, id, raftAddr, httpAddr string) error
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
	// Faults, if set, serves GET and POST /debug/faults (test clusters
	// only: it lets any client partition this node).
	Faults Faults
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
	mux    *http.ServeMux
	client *http.Client // for forwarding to the leader

	ln     net.Listener
	server *http.Server

	nodeIDHeader func() []string // the X-Raft-Node value, built once
}

var (
	headerTrue  = []string{"true"}
	headerFalse = []string{"false"}
	headerJSON  = []string{"application/json"}
)

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
		mux:    http.NewServeMux(),
		client: &http.Client{
			Transport: &http.Transport{
				Proxy:               nil, // forwarding stays between nodes
				DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
				MaxIdleConns:        256,
				MaxIdleConnsPerHost: 128,
				IdleConnTimeout:     90 * time.Second,
			},
			// Nodes never follow a redirect: a 307 goes back to the client.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	svc.nodeIDHeader = sync.OnceValue(func() []string { return []string{s.ID()} })
	svc.routes()
	return svc
}

func (s *Service) routes() {
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
	s.mux.HandleFunc("/", s.handleFallback)
	if s.cfg.Metrics != nil {
		s.mux.Handle("GET /metrics", s.cfg.Metrics)
	}
	if s.cfg.Pprof {
		s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		s.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	if s.cfg.Faults != nil {
		s.mux.HandleFunc("GET /debug/faults", s.handleFaultsGet)
		s.mux.HandleFunc("POST /debug/faults", s.handleFaultsPost)
	}
}

// Start listens on the configured address and serves in the background.
func (s *Service) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.server = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
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
// JSON errors as everything else (see handleFallback), and a panic in a
// handler becomes a 500 rather than a dropped connection.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Observer != nil {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		w = sw
		defer func() {
			// The mux records the pattern it matched on the request.
			route := r.Pattern
			if route == "" || route == "/" {
				route = "unmatched"
			}
			s.cfg.Observer.ObserveRequest(route, sw.code, time.Since(start))
		}()
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.logger.Error("handler panic", "path", r.URL.Path, "panic", p)
			writeJSONError(w, http.StatusInternalServerError, fmt.Sprintf("internal error: %v", p), "")
		}
	}()
	// A path the mux would answer with an HTML redirect to its cleaned
	// form ("/key/../status", "//key/x") is bad input: a JSON 400 that
	// says how to send such a key.
	escaped := r.URL.EscapedPath()
	if msg := cleanpath.Refusal(escaped); msg != "" {
		writeJSONError(w, http.StatusBadRequest, msg, "")
		return
	}
	// A GET without a query string, or with exactly ?level=none, is a
	// level=none read: a map lookup that never blocks and is never
	// forwarded, so it needs no deadline. It is also the hottest request
	// a node serves, and a timer context per request (and the request
	// copy WithContext makes) is a measurable share of its cost (see
	// BENCHMARKS.md). Any other query takes the general path below.
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
const levelNoneQuery = "level=" + api.LevelNone

// fallbackMethods are the methods tried to tell a wrong method (405) from
// an unknown path (404).
var fallbackMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// handleFallback is registered for "/", so the mux sends it every request
// no other pattern takes: an unknown path (404), or a known path with the
// wrong method (405 with Allow), both as JSON. Only error answers come
// here, so the extra route lookups cost nothing on the served paths.
func (s *Service) handleFallback(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range fallbackMethods {
		probe := *r
		probe.Method = m
		if _, pattern := s.mux.Handler(&probe); pattern != "" && pattern != "/" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		writeJSONError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path), "")
		return
	}
	allow := strings.Join(allowed, ", ")
	w.Header().Set("Allow", allow)
	writeJSONError(w, http.StatusMethodNotAllowed,
		fmt.Sprintf("method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow), "")
}

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Service) handleSet(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pairs, err := DecodeKeyBody(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	idx, err := s.store.Set(r.Context(), pairs, r.Header.Get(api.HeaderWriteID))
	if errors.Is(err, kv.ErrNotLeader) && s.redirectOrForward(w, r, body) {
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeWriteOK(w, idx)
}

func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	idx, err := s.store.Delete(r.Context(), key, r.Header.Get(api.HeaderWriteID))
	if errors.Is(err, kv.ErrNotLeader) && s.redirectOrForward(w, r, nil) {
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeWriteOK(w, idx)
}

func (s *Service) handleNoKey(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, fmt.Errorf("%w: no key in the path; use %s /key/{key}", kv.ErrInvalid, r.Method))
}

// writeWriteOK answers a successful write as hraftd does, with an empty
// 200, plus headers naming the node and the entry's index.
func (s *Service) writeWriteOK(w http.ResponseWriter, idx uint64) {
	w.Header().Set(api.HeaderNode, s.store.ID())
	w.Header().Set(api.HeaderIndex, strconv.FormatUint(idx, 10))
	w.WriteHeader(http.StatusOK)
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	s.serveGet(w, r, r.PathValue("key"))
}

// serveGet serves GET /key/{key}: handleGet through the mux, or straight
// from ServeHTTP for the common reads (see keyGetPath).
func (s *Service) serveGet(w http.ResponseWriter, r *http.Request, key string) {
	level := kv.ReadNone
	if q := r.URL.RawQuery; q != "" && q != levelNoneQuery { // the common reads: skip parsing a query
		var err error
		if level, err = kv.ParseReadLevel(r.URL.Query().Get("level")); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	v, found, idx, err := s.store.Get(r.Context(), key, level)
	if errors.Is(err, kv.ErrNotLeader) && s.redirectOrForward(w, r, nil) {
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := s.readHeaders(w, idx)
	if found {
		h[api.HeaderFound] = headerTrue
	} else {
		h[api.HeaderFound] = headerFalse
	}
	// {"key":"value"} built by hand: this is the hottest answer a node
	// gives, and encoding a one-entry map through reflection costs more
	// than the lookup itself.
	b := make([]byte, 0, len(key)+len(v)+8)
	b = append(b, '{')
	b = jsonenc.AppendString(b, key)
	b = append(b, ':')
	b = jsonenc.AppendString(b, v)
	b = append(b, '}', '\n')
	_, _ = w.Write(b)
}

// readHeaders sets the headers of a read's answer and returns the header
// map. Header names are already canonical and the constant values are
// shared slices (net/http never modifies them): this skips the
// canonicalisation and allocations of Header.Set on the hottest path.
func (s *Service) readHeaders(w http.ResponseWriter, idx uint64) http.Header {
	h := w.Header()
	h[api.HeaderNode] = s.nodeIDHeader()
	h[api.HeaderIndex] = []string{strconv.FormatUint(idx, 10)}
	h["Content-Type"] = headerJSON
	return h
}

// handleRead serves POST /read: many keys, one read level, one barrier.
// It is the node's half of the distributor's read coalescing: the whole
// batch is served after one leadership check made after the request
// arrived, so every read in it is linearized inside its own client's
// interval (see distributor/router/readbatch.go).
func (s *Service) handleRead(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := DecodeReadBody(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	level, err := kv.ParseReadLevel(req.Level)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	values, idx, err := s.store.GetMany(r.Context(), req.Keys, level)
	if errors.Is(err, kv.ErrNotLeader) && s.redirectOrForward(w, r, body) {
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.readHeaders(w, idx)
	_, _ = w.Write(appendReadResponse(nil, req.Keys, values))
}

// appendReadResponse encodes an api.ReadResponse by hand, each key once:
// a batch of 256 keys would otherwise go through reflection twice per
// request on the path the distributor's reads all take.
func appendReadResponse(b []byte, keys []string, values map[string]string) []byte {
	n := 32
	for _, k := range keys {
		n += 2*len(k) + 16
	}
	for _, v := range values {
		n += len(v) + 4
	}
	b = slices.Grow(b, n)
	b = append(b, `{"values":{`...)
	first := true
	for k, v := range values {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonenc.AppendString(b, k)
		b = append(b, ':')
		b = jsonenc.AppendString(b, v)
	}
	b = append(b, `},"found":{`...)
	var seen map[string]struct{}
	if len(keys) > 1 {
		seen = make(map[string]struct{}, len(keys))
	}
	first = true
	for _, k := range keys {
		if seen != nil {
			if _, dup := seen[k]; dup {
				continue
			}
			seen[k] = struct{}{}
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonenc.AppendString(b, k)
		if _, ok := values[k]; ok {
			b = append(b, ":true"...)
		} else {
			b = append(b, ":false"...)
		}
	}
	return append(b, '}', '}', '\n')
}

func (s *Service) handleJoin(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req api.JoinRequest
	if err := decodeObject(body, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.ID == "" || req.Addr == "" {
		s.writeError(w, r, fmt.Errorf(`%w: join needs "id" and "addr", e.g. {"id":"node1","addr":"127.0.0.1:12001"}`, kv.ErrInvalid))
		return
	}
	if _, _, err := net.SplitHostPort(req.Addr); err != nil {
		s.writeError(w, r, fmt.Errorf("%w: addr %q is not host:port", kv.ErrInvalid, req.Addr))
		return
	}
	if req.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(req.HTTPAddr); err != nil {
			s.writeError(w, r, fmt.Errorf("%w: http_addr %q is not host:port", kv.ErrInvalid, req.HTTPAddr))
			return
		}
	}
	err = s.store.Join(r.Context(), req.ID, req.Addr, req.HTTPAddr)
	if errors.Is(err, kv.ErrNotLeader) && s.redirectOrForward(w, r, body) {
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Service) handleRemove(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req api.RemoveRequest
	if err := decodeObject(body, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.ID == "" {
		s.writeError(w, r, fmt.Errorf(`%w: remove needs "id", e.g. {"id":"node2"}`, kv.ErrInvalid))
		return
	}
	err = s.store.Remove(r.Context(), req.ID)
	if errors.Is(err, kv.ErrNotLeader) && s.redirectOrForward(w, r, body) {
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Service) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.store.Status()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIStatus(st))
}

// toAPIStatus shapes a store.Status as hraftd's /status: me, leader, and
// the followers (every member but the leader), plus the additive fields.
func toAPIStatus(st kv.Status) api.Status {
	server := func(m kv.Member) api.Server {
		return api.Server{ID: m.ID, Address: m.RaftAddr, HTTP: m.HTTPAddr}
	}
	out := api.Status{
		Me:           server(st.Me),
		Leader:       server(st.Leader),
		Followers:    []api.Server{},
		State:        st.State,
		Term:         st.Term,
		LastLogIndex: st.LastLogIndex,
		CommitIndex:  st.CommitIndex,
		AppliedIndex: st.AppliedIndex,
		LastContact:  st.LastContact.Round(time.Millisecond).String(),
		Digest: api.Digest{
			AppliedIndex: st.Digest.AppliedIndex,
			Keys:         st.Digest.Keys,
			Hash:         st.Digest.HashString(),
		},
	}
	for _, m := range st.Members {
		if m.ID != st.Leader.ID {
			out.Followers = append(out.Followers, server(m))
		}
	}
	return out
}

func (s *Service) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if err := s.store.Ready(); err != nil {
		w.Header().Set("Retry-After", "1")
		writeJSONError(w, http.StatusServiceUnavailable, "not ready: "+err.Error(), "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
}

// readBody reads the whole body up to the configured limit.
func (s *Service) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, fmt.Errorf("request body is over the %d-byte limit: %w", mbe.Limit, kv.ErrTooLarge)
	case err != nil:
		return nil, fmt.Errorf("%w: reading body: %v", kv.ErrInvalid, err)
	}
	return b, nil
}

// redirectOrForward handles a request that reached a follower. With
// ?redirect it answers 307 to the same URL on the leader; otherwise it
// relays the request to the leader and the leader's answer back. It
// returns false, having written nothing, when neither is possible: the
// request was itself forwarded (a node forwards at most once, so requests
// never loop while leadership moves), or the leader's HTTP address is not
// known yet.
func (s *Service) redirectOrForward(w http.ResponseWriter, r *http.Request, body []byte) bool {
	leaderID, leaderHTTP := s.store.LeaderHTTP()
	if leaderHTTP == "" || leaderID == s.store.ID() || r.Header.Get(api.HeaderForwarded) != "" {
		return false
	}
	target := url.URL{Scheme: "http", Host: leaderHTTP, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	if _, ok := r.URL.Query()["redirect"]; ok {
		w.Header().Set("Location", target.String())
		writeJSONError(w, http.StatusTemporaryRedirect, "not the leader; the leader is "+leaderID+" at "+leaderHTTP, leaderHTTP)
		return true
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target.String(), bytes.NewReader(body))
	if err != nil {
		return false
	}
	for _, h := range []string{"Content-Type", api.HeaderWriteID} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	req.Header.Set(api.HeaderForwarded, s.store.ID())
	resp, err := s.client.Do(req)
	if err != nil {
		// The leader may or may not have received the request.
		w.Header().Set("Retry-After", "1")
		writeJSONError(w, http.StatusServiceUnavailable,
			fmt.Sprintf("forwarding to the leader %s at %s failed: %v; a write may or may not have been applied", leaderID, leaderHTTP, err), leaderHTTP)
		return true
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Retry-After", "Location", api.HeaderNode, api.HeaderIndex, api.HeaderFound} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
	return true
}

// writeError is the one place that turns an error into an HTTP answer.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	_, leaderHTTP := s.store.LeaderHTTP()
	switch {
	case errors.Is(err, kv.ErrTooLarge):
		writeJSONError(w, http.StatusRequestEntityTooLarge, err.Error(), "")
	case errors.Is(err, kv.ErrInvalid):
		writeJSONError(w, http.StatusBadRequest, err.Error(), "")
	case errors.Is(err, kv.ErrNotFound):
		writeJSONError(w, http.StatusNotFound, err.Error(), "")
	case errors.Is(err, kv.ErrNotLeader), errors.Is(err, kv.ErrNoLeader),
		errors.Is(err, kv.ErrLeadershipLost), errors.Is(err, kv.ErrClosed):
		// Leadership is moving (or this node is stopping); try again shortly.
		w.Header().Set("Retry-After", "1")
		writeJSONError(w, http.StatusServiceUnavailable, err.Error(), leaderHTTP)
	case errors.Is(err, kv.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		writeJSONError(w, http.StatusGatewayTimeout, err.Error(), "")
	default:
		s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeJSONError(w, http.StatusInternalServerError, err.Error(), "")
	}
}

func writeJSONError(w http.ResponseWriter, status int, msg, leader string) {
	writeJSON(w, status, api.Error{Error: msg, Leader: leader})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
