// Package server is the distributor's HTTP API: the seed's /set, /get and
// /delete, the node's hraftd API (/key) so that any hraftd client can point
// at the distributor, and views of routing (/shard/{clave}) and health
// (/status). It validates input and translates errors; the routing itself is
// the Router's.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/distributor/watch"
	"github.com/kvraft/hraftd/internal/cleanpath"
	"github.com/kvraft/hraftd/kv"
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
}

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

// DefaultConfig returns the configuration the distributor starts from.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: 1 << 20}
}

// Server is the distributor's HTTP API; it is an http.Handler.
type Server struct {
	cfg    Config
	router Router
	logger *slog.Logger
	mux    *http.ServeMux
	// routes has the same routes as mux but not its catch-all "/": the
	// catch-all asks it why nothing else matched (see handleFallback).
	routes *http.ServeMux

	requests           atomic.Uint64
	clientErrs, srvErr atomic.Uint64

	metrics  *metrics
	instance string    // random per Server, so the dashboard notices a restart
	started  time.Time // when the Server was made
}

// New returns a Server that routes through rt.
func New(cfg Config, rt Router) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultConfig().MaxBodyBytes
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{cfg: cfg, router: rt, logger: logger.With("component", "http"), mux: http.NewServeMux(), routes: http.NewServeMux(),
		metrics: newMetrics(rt, cfg.Observer), instance: newInstanceID(), started: time.Now()}
	// {clave...} takes the rest of the path: /get/a%2Fb and /get/a/b both
	// read the key "a/b".
	s.handleFunc("POST /set", s.handleSet)
	s.handleFunc("GET /get/{clave...}", s.handleGet)
	s.handleFunc("DELETE /delete/{clave...}", s.handleDelete)
	s.handleFunc("POST /key", s.handleKeySet)
	s.handleFunc("GET /key/{key...}", s.handleKeyGet)
	s.handleFunc("DELETE /key/{key...}", s.handleKeyDelete)
	s.handleFunc("GET /shard/{clave...}", s.handleShard)
	s.handleFunc("GET /status", s.handleStatus)
	s.handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	s.routeDashboard()
	s.mux.HandleFunc(fallbackPattern, s.handleFallback)
	return s
}

// fallbackPattern is the catch-all route: every request no other pattern
// takes.
const fallbackPattern = "/"

// handle routes pattern to h.
func (s *Server) handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	s.routes.Handle(pattern, h)
}

func (s *Server) handleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	s.handle(pattern, http.HandlerFunc(h))
}

// endpoints is the list shown to a client that asks for an unknown path.
const endpoints = "POST /set, GET /get/{clave}, DELETE /delete/{clave}, POST /key, GET /key/{k}, DELETE /key/{k}, GET /shard/{clave}, GET /status, GET /metrics, GET / (dashboard), GET /dashboard/state"

// ServeHTTP routes a request. Unknown paths and wrong methods get JSON
// errors like everything else (see handleFallback), and a panic in a
// handler becomes a 500 rather than a dropped connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	start := time.Now()
	cw := &countingWriter{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.logger.Error("handler panic", "path", r.URL.Path, "panic", p)
			writeJSON(cw, http.StatusInternalServerError, errorBody{Error: fmt.Sprintf("internal error: %v", p)})
		}
		// The mux records the pattern it matched on the request.
		route := r.Pattern
		if route == "" || route == fallbackPattern {
			// Unknown paths are not labels of their own: a scanner would
			// make one series per path it tries.
			route = "unmatched"
		}
		status := cw.status
		if status == 0 {
			status = http.StatusOK
		}
		s.metrics.observeRequest(route, status, time.Since(start))
		switch {
		case cw.status >= 500:
			s.srvErr.Add(1)
		case cw.status >= 400:
			s.clientErrs.Add(1)
		}
	}()
	// A path the mux would answer with an HTML redirect to its cleaned
	// form ("/get/../status") is bad input: a JSON 400 that says how to
	// send such a clave.
	if msg := cleanpath.Refusal(r.URL.EscapedPath()); msg != "" {
		writeJSON(cw, http.StatusBadRequest, errorBody{Error: msg})
		return
	}
	// One route match per request: the mux both picks the handler and
	// sets the path values that handlers read with r.PathValue.
	s.mux.ServeHTTP(cw, r)
}

// handleFallback gets every request that no route takes: it asks routes
// (the same routes without this one) what net/http would answer, and says
// it as JSON: 404 for an unknown path, 405 with Allow for a known path and
// the wrong method. Only such requests pay for the second route lookup.
func (s *Server) handleFallback(w http.ResponseWriter, r *http.Request) {
	h, _ := s.routes.Handler(r)
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusNotFound:
		writeJSON(w, http.StatusNotFound, errorBody{
			Error: fmt.Sprintf("no such endpoint: %s %s; the distributor serves %s", r.Method, r.URL.Path, endpoints)})
		return
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{
			Error: fmt.Sprintf("method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, rec.header.Get("Allow"))})
		return
	}
	// Anything else (a redirect, say) is net/http's own answer.
	h.ServeHTTP(w, r)
}

// countingWriter remembers the status written, for the counters.
type countingWriter struct {
	http.ResponseWriter
	status int
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// statusRecorder captures what the mux's fallback handler would answer.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(code int)        { r.status = code }

// setRequest is the body of POST /set, the seed's Postman request.
type setRequest struct {
	Clave string `json:"clave"`
	Valor string `json:"valor"`
}

// keyAnswer is the body of a successful /set, /get or /delete.
type keyAnswer struct {
	Clave string  `json:"clave"`
	Valor *string `json:"valor,omitempty"`
	Shard int     `json:"shard"`
	Node  string  `json:"node"`
}

// readWrite reads and decodes the body of a write, and checks its
// Idempotency-Key. If anything is wrong it has answered, and ok is false.
// The decoder must copy what it keeps: the body's buffer is reused.
func readWrite[T any](s *Server, w http.ResponseWriter, r *http.Request, decode func([]byte) (T, error)) (req T, id string, ok bool) {
	buf, body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err, nil)
		return req, "", false
	}
	req, err = decode(body)
	putBody(buf, body)
	if err != nil {
		s.writeError(w, r, err, nil)
		return req, "", false
	}
	id = r.Header.Get(api.HeaderWriteID)
	if err := kv.CheckWriteID(id); err != nil {
		s.writeError(w, r, err, nil)
		return req, "", false
	}
	return req, id, true
}

func (s *Server) handleSet(w http.ResponseWriter, r *http.Request) {
	req, id, ok := readWrite(s, w, r, decodeSet)
	if !ok {
		return
	}
	res, err := s.router.Set(r.Context(), map[string]string{req.Clave: req.Valor}, id)
	s.metrics.forward("set", res, err)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	setResultHeaders(w, res[0])
	writeKeyAnswer(w, req.Clave, &req.Valor, res[0].Shard, res[0].Node)
}

// decodeSet parses and checks a /set body: the common case through
// decodeSetFast, anything else through decodeSetStrict.
func decodeSet(body []byte) (setRequest, error) {
	if req, ok := decodeSetFast(body); ok {
		return req, nil
	}
	return decodeSetStrict(body)
}

// decodeSetStrict parses and checks any /set body, and says what is wrong
// with a bad one. It decodes to raw fields first so that it can tell a
// missing field from a value of the wrong type, and rejects unknown fields,
// which are usually a misspelt "clave" or "valor".
func decodeSetStrict(body []byte) (setRequest, error) {
	const example = `; send e.g. {"clave":"batman","valor":"bruce"}`
	var raw map[string]json.RawMessage
	if err := decodeObject(body, &raw); err != nil {
		return setRequest{}, fmt.Errorf("%w%s", err, example)
	}
	var req setRequest
	for name, v := range raw {
		var dst *string
		switch name {
		case "clave":
			dst = &req.Clave
		case "valor":
			dst = &req.Valor
		default:
			return req, fmt.Errorf("%w: unknown field %q: the body has exactly two fields, \"clave\" and \"valor\"%s", kv.ErrInvalid, name, example)
		}
		if err := json.Unmarshal(v, dst); err != nil || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return req, fmt.Errorf("%w: %q must be a JSON string, not %s%s", kv.ErrInvalid, name, jsonKind(v), example)
		}
	}
	switch {
	case raw["clave"] == nil:
		return req, fmt.Errorf("%w: \"clave\" is missing%s", kv.ErrInvalid, example)
	case raw["valor"] == nil:
		return req, fmt.Errorf("%w: \"valor\" is missing (send \"\" for an empty value)%s", kv.ErrInvalid, example)
	case req.Clave == "":
		return req, fmt.Errorf("%w: \"clave\" is empty%s", kv.ErrInvalid, example)
	}
	return req, nil
}

// decodePairs parses and checks a POST /key body: one JSON object of
// string values with at least one pair and no empty key.
func decodePairs(body []byte) (map[string]string, error) {
	const example = `; send e.g. {"user1":"batman"}`
	var raw map[string]json.RawMessage
	if err := decodeObject(body, &raw); err != nil {
		return nil, fmt.Errorf("%w%s", err, example)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: the body has no key-value pairs%s", kv.ErrInvalid, example)
	}
	pairs := make(map[string]string, len(raw))
	for k, v := range raw {
		if err := router.CheckKey(k); err != nil {
			return nil, err
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return nil, fmt.Errorf("%w: the value of %q must be a JSON string, not %s%s", kv.ErrInvalid, k, jsonKind(v), example)
		}
		pairs[k] = s
	}
	return pairs, nil
}

// jsonKind names the JSON type of a raw value, for error messages.
func jsonKind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	key, err := pathKey(r, "clave")
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	// The seed's /get reads at linearizable level unless told otherwise:
	// a value just written through /set is then always seen.
	level := api.LevelLinearizable
	if r.URL.RawQuery != "" { // parsing an empty query still makes a map
		if l := r.URL.Query().Get("level"); l != "" {
			level = l
		}
	}
	res, ok := s.read(w, r, key, level)
	if !ok {
		return
	}
	if !res.Found {
		writeJSON(w, http.StatusNotFound, errorBody{
			Error: fmt.Sprintf("key %q not found (shard %d, read at level %s on %s)", key, res.Shard, level, res.Node),
			Clave: key, Shard: &res.Shard, Node: res.Node})
		return
	}
	writeKeyAnswer(w, key, &res.Value, res.Shard, res.Node)
}

func setFoundHeader(w http.ResponseWriter, found bool) {
	if found {
		w.Header()[api.HeaderFound] = headerTrue
	} else {
		w.Header()[api.HeaderFound] = headerFalse
	}
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	key, res, ok := s.deleteKey(w, r, "clave")
	if !ok {
		return
	}
	setResultHeaders(w, res)
	writeKeyAnswer(w, key, nil, res.Shard, res.Node)
}

// deleteKey validates and runs a delete, writing the error answer itself;
// ok is false if it did.
func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request, name string) (key string, res router.Result, ok bool) {
	key, err := pathKey(r, name)
	if err != nil {
		s.writeError(w, r, err, nil)
		return "", res, false
	}
	id := r.Header.Get(api.HeaderWriteID)
	if err := kv.CheckWriteID(id); err != nil {
		s.writeError(w, r, err, nil)
		return "", res, false
	}
	res, err = s.router.Delete(r.Context(), key, id)
	s.metrics.forward("delete", okResult(res, err), err)
	if err != nil {
		s.writeError(w, r, err, nil)
		return "", res, false
	}
	return key, res, true
}

// handleKeySet is hraftd's POST /key: any number of pairs. The pairs are
// split by shard; each shard's part is applied atomically, but a write
// spanning shards is not atomic as a whole.
func (s *Server) handleKeySet(w http.ResponseWriter, r *http.Request) {
	pairs, id, ok := readWrite(s, w, r, decodePairs)
	if !ok {
		return
	}
	res, err := s.router.Set(r.Context(), pairs, id)
	s.metrics.forward("set", res, err)
	if err != nil {
		s.writeError(w, r, err, res)
		return
	}
	if len(res) == 1 {
		setResultHeaders(w, res[0])
	}
	// hraftd answers a write with an empty 200.
	w.WriteHeader(http.StatusOK)
}

// handleKeyGet is hraftd's GET /key/{k}: {"k":"v"}, and {"k":""} with
// X-Raft-Key-Found: false for a missing key. ?level passes through; without
// it the node's default (none) applies, as on a node.
func (s *Server) handleKeyGet(w http.ResponseWriter, r *http.Request) {
	key, err := pathKey(r, "key")
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	res, ok := s.read(w, r, key, r.URL.Query().Get("level"))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{key: res.Value})
}

// read is the part both GET routes share: check the level, read key
// through the router, count it, and either set the answer's headers (ok)
// or write the error.
func (s *Server) read(w http.ResponseWriter, r *http.Request, key, level string) (router.GetResult, bool) {
	if _, err := kv.ParseReadLevel(level); err != nil {
		s.writeError(w, r, err, nil)
		return router.GetResult{}, false
	}
	res, err := s.router.Get(r.Context(), key, level)
	s.metrics.forward("get", okResult(res.Result, err), err)
	if err != nil {
		s.writeError(w, r, err, nil)
		return router.GetResult{}, false
	}
	setResultHeaders(w, res.Result)
	setFoundHeader(w, res.Found)
	return res, true
}

func (s *Server) handleKeyDelete(w http.ResponseWriter, r *http.Request) {
	_, res, ok := s.deleteKey(w, r, "key")
	if !ok {
		return
	}
	setResultHeaders(w, res)
	w.WriteHeader(http.StatusOK)
}

// shardAnswer explains where a key goes.
type shardAnswer struct {
	Clave string `json:"clave"`
	// Hash is fnv32a(clave); Shard is Hash % Shards.
	Hash   uint32              `json:"hash"`
	Shards int                 `json:"shards"`
	Shard  int                 `json:"shard"`
	Rule   string              `json:"rule"`
	Leader *router.LeaderRef   `json:"leader"`
	Nodes  []router.NodeStatus `json:"nodes"`
}

func (s *Server) handleShard(w http.ResponseWriter, r *http.Request) {
	key, err := pathKey(r, "clave")
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	n := s.router.Shards()
	sh := s.router.ShardOf(key)
	st := s.router.Shard(sh)
	h := router.Hash(key)
	writeJSON(w, http.StatusOK, shardAnswer{
		Clave: key, Hash: h, Shards: n, Shard: sh,
		Rule:   fmt.Sprintf("fnv32a(%q) = %d; %d %% %d = %d", key, h, h, n, sh),
		Leader: st.Leader, Nodes: st.Nodes,
	})
}

// statusAnswer is the body of the distributor's GET /status.
type statusAnswer struct {
	router.Status
	HTTP httpCounters `json:"http"`
}

// httpCounters count the distributor's own answers.
type httpCounters struct {
	Requests     uint64 `json:"requests"`
	ClientErrors uint64 `json:"client_errors"`
	ServerErrors uint64 `json:"server_errors"`
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, statusAnswer{
		Status: s.router.Status(),
		HTTP: httpCounters{
			Requests:     s.requests.Load(),
			ClientErrors: s.clientErrs.Load(),
			ServerErrors: s.srvErr.Load(),
		},
	})
}

// pathKey returns the key named by a path wildcard, checked.
func pathKey(r *http.Request, name string) (string, error) {
	key := r.PathValue(name)
	if key == "" {
		return "", fmt.Errorf("%w: the key is empty; put it in the path, percent-encoded, e.g. %s%s", kv.ErrInvalid, r.URL.Path, "batman")
	}
	return key, router.CheckKey(key)
}

// readBody reads the whole body up to the configured limit. A body of a
// declared length that fits is read into a pooled buffer, buf; the caller
// hands it back with putBody once it has copied out what it keeps.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (buf *[]byte, body []byte, err error) {
	if buf, body, ok, err := readSmallBody(r, s.cfg.MaxBodyBytes); ok {
		return buf, body, err
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, nil, errTooLarge(mbe.Limit)
	case err != nil:
		return nil, nil, bodyReadError(err)
	}
	return nil, b, nil
}

func errTooLarge(limit int64) error {
	return fmt.Errorf("the request body is over the %d-byte limit: %w", limit, kv.ErrTooLarge)
}

func bodyReadError(err error) error {
	return fmt.Errorf("%w: reading the body: %v", kv.ErrInvalid, err)
}

// jsonSpace is the whitespace JSON allows around a value.
const jsonSpace = " \t\r\n"

// decodeObject decodes exactly one JSON object from body into v. Invalid
// UTF-8, which Go's decoder would silently replace, is refused, as are
// other JSON types and trailing data.
func decodeObject(body []byte, v any) error {
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: the body is not valid UTF-8", kv.ErrInvalid)
	}
	// Only JSON's own whitespace: bytes.TrimSpace would also take \v, \f,
	// U+0085 and U+00A0, and so accept bodies that are not JSON.
	trimmed := bytes.Trim(body, jsonSpace)
	if len(trimmed) == 0 {
		return fmt.Errorf("%w: the body is empty; send a JSON object", kv.ErrInvalid)
	}
	if trimmed[0] != '{' {
		return fmt.Errorf("%w: the body must be a JSON object", kv.ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field != "" {
				return fmt.Errorf("%w: %q must be a string, not a JSON %s", kv.ErrInvalid, te.Field, te.Value)
			}
			return fmt.Errorf("%w: the body must be a JSON object of strings; found a JSON %s", kv.ErrInvalid, te.Value)
		}
		return fmt.Errorf("%w: malformed JSON: %v", kv.ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: unexpected data after the JSON object", kv.ErrInvalid)
	}
	return nil
}

// errorBody is every error answer: "error" says what went wrong and what to
// do; the other fields, when set, say where.
type errorBody struct {
	Error string `json:"error"`
	Clave string `json:"clave,omitempty"`
	Shard *int   `json:"shard,omitempty"`
	// Node is the node that gave a definite answer.
	Node string `json:"node,omitempty"`
	// Nodes are the nodes tried, with why each could not serve.
	Nodes []router.NodeProblem `json:"nodes,omitempty"`
	// AppliedShards lists, for a POST /key spanning shards that failed in
	// part, the shards whose part was applied.
	AppliedShards []int `json:"applied_shards,omitempty"`
}

// writeError is the one place that turns an error into an HTTP answer.
// applied is what a multi-shard write managed before failing.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error, applied []router.Result) {
	body := errorBody{Error: err.Error()}
	var se *router.ShardError
	var ne *router.NodeError
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, kv.ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, kv.ErrInvalid):
		status = http.StatusBadRequest
	case errors.As(err, &ne):
		// A node refused the request itself (a key over its limit, say):
		// pass its verdict on. Anything else from a node is the node's
		// failure, not the client's: 502.
		status = http.StatusBadGateway
		if ne.Status == http.StatusBadRequest || ne.Status == http.StatusRequestEntityTooLarge {
			status = ne.Status
		}
		body.Shard, body.Node = &ne.Shard, ne.Node
	case errors.As(err, &se):
		body.Shard, body.Nodes = &se.Shard, se.Nodes
		if errors.Is(err, router.ErrTimeout) {
			status = http.StatusGatewayTimeout
		} else {
			// No leader, router closing, or the client went away.
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		}
	}
	for _, res := range applied {
		body.AppliedShards = append(body.AppliedShards, res.Shard)
	}
	slices.Sort(body.AppliedShards)
	if status >= 500 {
		s.logger.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
	}
	writeJSON(w, status, body)
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
