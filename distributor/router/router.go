// Package router is the distributor's core: it maps each key to a shard with
// fnv32a(key) % N, tracks which node leads every shard by polling the nodes'
// GET /status, and forwards each request to the right leader over the nodes'
// public HTTP API, retrying through a failover until the request's deadline.
//
// The router holds no data and nothing another distributor would need to
// agree with, beyond the shard list itself: several may run side by side.
package router

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/kv"
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

	// batchers coalesce each shard's writes (see batch.go), by shard.
	batchers []batcher
	// readBatchers coalesce each shard's reads (see readbatch.go), by
	// shard, then by level as in readBatchLevels.
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
	total := 0
	for _, s := range cfg.Shards {
		total += len(s)
	}
	transport := &http.Transport{
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
	ctx, cancel := context.WithCancel(context.Background())
	r := &Router{
		cfg:    cfg,
		logger: logger.With("component", "router"),
		client: &http.Client{
			Transport: transport,
			// A 307 from a node names the leader; the router follows it
			// itself so that it learns the leader and keeps its own
			// deadline and retry policy.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
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

// Shards returns the number of shards.
func (r *Router) Shards() int { return len(r.shards) }

// ShardOf returns the shard that owns key.
func (r *Router) ShardOf(key string) int { return ShardOf(key, len(r.shards)) }

// Timeout returns a request's whole deadline.
func (r *Router) Timeout() time.Duration { return r.cfg.Timeout }

// Result says where a request was served.
type Result struct {
	// Shard is the shard the key belongs to.
	Shard int
	// Node is the ID of the node that served the request (its Raft ID,
	// from the node's X-Raft-Node header), or its address if unknown.
	Node string
	// HTTP is that node's HTTP API address.
	HTTP string
	// Index is the Raft log index of a write, or the applied index a read
	// reflects; 0 if the node did not say.
	Index uint64
}

// GetResult is the answer to a read.
type GetResult struct {
	Result
	// Value is the key's value; "" when the key does not exist.
	Value string
	// Found tells a missing key from one whose value is "".
	Found bool
}

// CheckKey reports whether key can be routed: it must be non-empty, valid
// UTF-8. The nodes enforce their own length limit.
func CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: the key is empty", kv.ErrInvalid)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: the key is not valid UTF-8", kv.ErrInvalid)
	}
	return nil
}

// Set writes pairs. Pairs are grouped by shard and each group is sent as
// one POST /key to its shard's leader, so each shard's part is atomic; a
// write spanning shards is not: one shard's part can succeed while
// another's fails. The results of the parts that succeeded are returned,
// by shard, with an error joining a *ShardError or *NodeError for each
// part that failed.
//
// writeID, if not empty, is the client's Idempotency-Key; otherwise the
// router makes one. Either way every retry of a part carries the same ID,
// so a write retried after an ambiguous failure is applied at most once.
//
// Without a client writeID, each shard's part may be coalesced with other
// callers' concurrent sets into one POST /key under the batch's own ID (see
// batch.go); it still returns only once its own part is committed.
func (r *Router) Set(ctx context.Context, pairs map[string]string, writeID string) ([]Result, error) {
	if len(pairs) == 0 {
		return nil, fmt.Errorf("%w: no key-value pairs to set", kv.ErrInvalid)
	}
	for k, v := range pairs {
		if err := CheckKey(k); err != nil {
			return nil, err
		}
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("%w: the value of %q is not valid UTF-8", kv.ErrInvalid, k)
		}
	}
	if err := kv.CheckWriteID(writeID); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	if writeID == "" && coalescible(pairs) {
		return r.setCoalescedParts(ctx, pairs)
	}
	if writeID == "" {
		writeID = newWriteID()
	}

	parts := map[int]map[string]string{}
	for k, v := range pairs {
		s := r.ShardOf(k)
		if parts[s] == nil {
			parts[s] = map[string]string{}
		}
		parts[s][k] = v
	}
	if len(parts) == 1 {
		for s, p := range parts {
			res, err := r.writeShard(ctx, s, &write{sets: p, id: writeID})
			if err != nil {
				return nil, err
			}
			return []Result{res}, nil
		}
	}
	type outcome struct {
		res Result
		err error
	}
	outcomes := make([]outcome, len(r.shards))
	var wg sync.WaitGroup
	for s, p := range parts {
		wg.Go(func() {
			res, err := r.writeShard(ctx, s, &write{sets: p, id: partWriteID(writeID, s)})
			outcomes[s] = outcome{res, err}
		})
	}
	wg.Wait()
	var results []Result
	var errs []error
	for s := range r.shards {
		if _, ok := parts[s]; !ok {
			continue
		}
		if outcomes[s].err != nil {
			errs = append(errs, outcomes[s].err)
		} else {
			results = append(results, outcomes[s].res)
		}
	}
	return results, errors.Join(errs...)
}

// Delete deletes key; deleting a missing key succeeds. writeID is as for
// Set.
func (r *Router) Delete(ctx context.Context, key, writeID string) (Result, error) {
	if err := CheckKey(key); err != nil {
		return Result{}, err
	}
	if err := kv.CheckWriteID(writeID); err != nil {
		return Result{}, err
	}
	if writeID == "" {
		writeID = newWriteID()
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	return r.writeShard(ctx, r.ShardOf(key), &write{del: key, id: writeID})
}

// write is one atomic write to one shard: a set of pairs (one POST /key) or
// the deletion of one key (one DELETE /key/{k}).
type write struct {
	sets map[string]string
	del  string
	id   string
}

// writeShard sends one write that is not coalesced (a delete, or a set
// carrying the client's Idempotency-Key) to its shard. Coalesced sets take
// setCoalesced and sendBatch (batch.go) instead, which forward their batch
// with r.forward exactly as here.
func (r *Router) writeShard(ctx context.Context, s int, w *write) (Result, error) {
	req := &request{op: "set", write: true, writeID: w.id}
	if w.sets == nil {
		req.op, req.method = "delete", http.MethodDelete
		req.path, req.rawPath = keyPath(w.del)
		r.stats.deletes.Add(1)
	} else {
		// No HTML escaping: it would turn each <, > and & into six bytes,
		// and a body the client kept under the node's limit could then
		// exceed it.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(w.sets); err != nil {
			return Result{}, fmt.Errorf("encoding the write: %w", err)
		}
		req.method, req.path, req.body = http.MethodPost, "/key", buf.Bytes()
		r.stats.sets.Add(1)
	}
	rep, err := r.forward(ctx, r.shards[s], req)
	if err != nil {
		r.stats.failed.Add(1)
		return Result{}, err
	}
	return rep.result(s), nil
}

// Get reads key at level ("" is the node's default, none). A read at level
// none may be served by any node of the shard, the leader preferred, so it
// still answers, possibly stale, while the shard has no leader; the other
// levels need the leader.
//
// Reads at linearizable and weak may be coalesced with other callers'
// concurrent reads of the same shard and level into one POST /read (see
// readbatch.go); each still sees what a read sent alone would.
func (r *Router) Get(ctx context.Context, key, level string) (GetResult, error) {
	if err := CheckKey(key); err != nil {
		return GetResult{}, err
	}
	if _, err := kv.ParseReadLevel(level); err != nil {
		return GetResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	s := r.ShardOf(key)
	r.stats.gets.Add(1)
	if b := r.readBatcherFor(s, level); b != nil && len(key) <= maxBatchedReadKeyBytes {
		return r.getCoalesced(ctx, b, s, key, level)
	}
	return r.getOne(ctx, s, key, level)
}

// getOne reads key, of shard s, with its own GET /key/{k}.
func (r *Router) getOne(ctx context.Context, s int, key, level string) (GetResult, error) {
	req := &request{op: "get", method: http.MethodGet, anyNode: level == "" || level == api.LevelNone}
	req.path, req.rawPath = keyPath(key)
	if level != "" {
		req.rawQuery = "level=" + url.QueryEscape(level)
	}
	rep, err := r.forward(ctx, r.shards[s], req)
	if err != nil {
		r.stats.failed.Add(1)
		return GetResult{}, err
	}
	var m map[string]string
	if err := json.Unmarshal(rep.body, &m); err != nil {
		r.stats.failed.Add(1)
		return GetResult{}, &NodeError{Shard: s, Node: rep.nodeName(), Status: rep.status,
			Message: fmt.Sprintf("unreadable answer to GET: %v", err)}
	}
	res := GetResult{Result: rep.result(s)}
	res.Value, res.Found = m[key]
	// hraftd answers a missing key with {"k":""}; nodes that say which it
	// is do so in a header. Without the header, "" is taken as missing.
	switch rep.header.Get(api.HeaderFound) {
	case "true":
		res.Found = true
	case "false":
		res.Found = false
	default:
		res.Found = res.Found && res.Value != ""
	}
	return res, nil
}

// keyPath returns the path of key's /key/{k} URL, unescaped and escaped.
// PathEscape turns "/" into %2F, so the whole key is one path segment;
// the keys "." and ".." would still be dot segments that a server's path
// cleaning removes, so their dots are escaped too.
func keyPath(key string) (path, rawPath string) {
	esc := url.PathEscape(key)
	if key == "." || key == ".." {
		esc = strings.ReplaceAll(esc, ".", "%2E")
	}
	return "/key/" + key, "/key/" + esc
}

// newWriteID returns a random write ID, unique for all practical purposes.
func newWriteID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "dist-" + hex.EncodeToString(b[:])
}

// partWriteID derives the write ID of one shard's part of a write that
// spans shards: deterministic, so a client resending the whole write with
// the same Idempotency-Key resends each part with the same ID.
func partWriteID(id string, s int) string {
	part := id + "#" + strconv.Itoa(s)
	if len(part) <= kv.MaxWriteIDBytes {
		return part
	}
	sum := sha256.Sum256([]byte(part))
	return hex.EncodeToString(sum[:])
}

// request is one call to a shard, re-sendable as is to any of its nodes.
type request struct {
	op                    string // for logs: set, get or delete
	method, path, rawPath string
	rawQuery              string
	body                  []byte
	writeID               string
	write                 bool // a write: its outcome can be ambiguous
	anyNode               bool // a read any node may serve

	// maybeApplied is set by forward when it returns a node's definite
	// refusal after an earlier attempt whose outcome was unknown: the
	// refusal then does not prove that nothing was applied.
	maybeApplied bool
}

// reply is a node's answer.
type reply struct {
	node   *node
	status int
	header http.Header
	body   []byte
}

func (rep *reply) nodeName() string {
	if id := rep.header.Get(api.HeaderNode); id != "" {
		return id
	}
	return rep.node.name()
}

func (rep *reply) result(s int) Result {
	idx, _ := strconv.ParseUint(rep.header.Get(api.HeaderIndex), 10, 64)
	return Result{Shard: s, Node: rep.nodeName(), HTTP: rep.node.addr, Index: idx}
}

// forward sends req to sh's leader and returns the first definite answer.
// When the leader is unknown or a call fails in a way another node could
// fix (connection refused or reset, a timeout, 502/503/504, a 307 to the
// leader), it refreshes its view of the shard at once and retries, pausing
// with a jittered, doubling backoff whenever no better target is known,
// until ctx ends. It never gives up early: the deadline is the one limit.
func (r *Router) forward(ctx context.Context, sh *shard, req *request) (*reply, error) {
	start := time.Now()
	var (
		lastErr      error
		lastTimedOut bool
		maybeApplied bool
		backoff      = r.cfg.RetryMin
		quick        int // retries made without a pause since the last one
		sent         int
	)
	for {
		if r.isClosed() {
			return nil, r.giveUp(sh, start, ErrClosed, maybeApplied)
		}
		n := sh.pick(req.anyNode)
		if n == nil {
			r.refresh(ctx, sh)
			n = sh.pick(req.anyNode)
		}
		if n != nil {
			if sent > 0 {
				r.stats.retries.Add(1)
			}
			sent++
			rep, err := r.send(ctx, n, req)
			next := n
			switch {
			case err != nil:
				// A dial that timed out never reached the node: that is
				// a node down (503 in the end), not a leader too slow to
				// answer (504).
				lastErr, lastTimedOut = err, isTimeout(err) && !isDialError(err)
				if req.write && !isDialError(err) {
					maybeApplied = true
				}
				n.setProblem(err.Error(), !isTimeout(err))
				r.logger.Debug("forward failed", "shard", sh.index, "op", req.op, "node", n.addr, "error", err)
			case rep.status >= 200 && rep.status < 300:
				return rep, nil
			case rep.status == http.StatusTemporaryRedirect || rep.status == http.StatusPermanentRedirect:
				// The node knows the leader; follow at once.
				r.stats.redirects.Add(1)
				lastErr, lastTimedOut = fmt.Errorf("%s is not the leader (answered %d)", n.addr, rep.status), false
				if t := sh.byLocation(rep.header.Get("Location")); t != nil && t != n {
					r.setLeader(sh, t, 0, "redirect")
					next = t
				}
			case rep.status == http.StatusServiceUnavailable || rep.status == http.StatusGatewayTimeout ||
				rep.status == http.StatusBadGateway:
				// Leadership is moving, the node lost its quorum, or it
				// timed out: another node, or the same one shortly, can
				// do better. A write that timed out may have been applied.
				msg := errorMessage(rep.body)
				lastErr, lastTimedOut = fmt.Errorf("%s answered %d: %s", n.addr, rep.status, msg), rep.status == http.StatusGatewayTimeout
				if req.write && rep.status != http.StatusServiceUnavailable {
					maybeApplied = true
				}
				n.setProblem(fmt.Sprintf("answered %d: %s", rep.status, msg), false)
			default:
				req.maybeApplied = maybeApplied
				return nil, &NodeError{Shard: sh.index, Node: rep.nodeName(), Status: rep.status, Message: errorMessage(rep.body)}
			}
			if next == n {
				sh.demote(n)
				if ctx.Err() == nil {
					r.refresh(ctx, sh)
					next = sh.pick(req.anyNode)
				}
			}
			// Retry without pausing while there is a new target to try,
			// but at most once per node in a row, so that nodes
			// disagreeing about the leader cannot make a busy loop.
			if next != nil && next != n && quick < len(sh.nodes) && ctx.Err() == nil {
				quick++
				continue
			}
		} else {
			// Nothing is in flight: if the deadline comes now, the shard
			// had no leader (503), whatever an earlier attempt met.
			lastTimedOut = false
			if lastErr == nil {
				lastErr = errors.New("no node reports itself leader")
			}
		}
		quick = 0
		if !pause(ctx, backoff) {
			err := ErrNoLeader
			if lastTimedOut {
				err = ErrTimeout
			}
			if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				err = ctx.Err() // the client went away
			}
			if lastErr != nil {
				err = fmt.Errorf("%w (last error: %v)", err, lastErr)
			}
			return nil, r.giveUp(sh, start, err, maybeApplied)
		}
		backoff = min(2*backoff, r.cfg.RetryMax)
	}
}

// giveUp builds the error for a request to sh that ran out of time (or
// found the router closed), reporting every node of the shard.
func (r *Router) giveUp(sh *shard, start time.Time, err error, maybeApplied bool) error {
	se := &ShardError{Shard: sh.index, Elapsed: time.Since(start), MaybeApplied: maybeApplied, Err: err}
	for _, n := range sh.nodes {
		se.Nodes = append(se.Nodes, n.report())
	}
	r.logger.Warn("request failed", "shard", sh.index, "error", err, "elapsed", se.Elapsed)
	return se
}

// pause waits about d, jittered so that many requests retrying together
// spread out, or until ctx ends; it reports whether to go on.
func pause(ctx context.Context, d time.Duration) bool {
	d = d/2 + mrand.N(d/2+1)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		// Sleep to the deadline, not past it, then report failure: the
		// caller gives up exactly at its deadline.
		d = time.Until(dl)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return ctx.Err() == nil
	}
}

// send makes one call to one node, bounded by the attempt timeout.
func (r *Router) send(ctx context.Context, n *node, req *request) (*reply, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.AttemptTimeout)
	defer cancel()
	// ?redirect asks a follower for a 307 naming the leader instead of
	// forwarding the request itself: the router then learns the leader and
	// the request is not relayed through a second node.
	q := req.rawQuery
	if q != "" {
		q += "&"
	}
	q += "redirect"
	u := url.URL{Scheme: "http", Host: n.addr, Path: req.path, RawPath: req.rawPath, RawQuery: q}
	var body io.Reader = http.NoBody
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if req.body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if req.writeID != "" {
		hreq.Header.Set(api.HeaderWriteID, req.writeID)
	}
	// net/http silently resends a request that carries an Idempotency-Key
	// on a fresh connection when a reused one breaks. If the first copy
	// reached a node that applied it and died, the resend fails to dial,
	// and the error alone would read "never sent". Remembering whether any
	// copy was written keeps the "may have been applied" verdict honest.
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }}
	hreq = hreq.WithContext(httptrace.WithClientTrace(hreq.Context(), trace))
	resp, err := r.client.Do(hreq)
	if err != nil {
		if wrote.Load() {
			return nil, maybeSentError{err}
		}
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", n.addr, err)
	}
	return &reply{node: n, status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// errorMessage extracts the "error" field of a node's JSON error answer,
// or returns the start of the raw body.
func errorMessage(body []byte) string {
	var e api.Error
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

// isDialError reports whether err happened before the request could reach
// the node, so that a write certainly was not applied.
func isDialError(err error) bool {
	var ms maybeSentError
	if errors.As(err, &ms) {
		return false
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// maybeSentError marks a failed call after which a copy of the request had
// been written to some connection, so the node may have acted on it.
type maybeSentError struct{ error }

func (e maybeSentError) Unwrap() error { return e.error }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func (r *Router) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// pollLoop refreshes sh every PollInterval until Close.
func (r *Router) pollLoop(sh *shard) {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.PollInterval)
	defer t.Stop()
	for {
		r.refresh(r.ctx, sh)
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh polls every node of sh and re-elects its leader, then returns;
// or returns early when ctx ends. Concurrent callers share one round of
// polls, so a burst of failing requests costs one round, not one each.
func (r *Router) refresh(ctx context.Context, sh *shard) {
	sh.mu.Lock()
	done := sh.refreshing
	if done == nil {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			sh.mu.Unlock()
			return
		}
		r.wg.Add(1)
		r.mu.Unlock()
		done = make(chan struct{})
		sh.refreshing = done
		// The round runs on the router's context, not the caller's: other
		// callers wait for it, and one caller giving up must not cut the
		// round short for them.
		go func() {
			defer r.wg.Done()
			r.pollShard(sh)
			sh.mu.Lock()
			sh.refreshing = nil
			sh.mu.Unlock()
			close(done)
		}()
	}
	sh.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// pollShard asks every node of sh for its /status at once, records the
// answers, and takes as leader the node that says it leads (its me equals
// its leader), the highest term winning if a deposed leader has not yet
// noticed.
func (r *Router) pollShard(sh *shard) {
	r.stats.refreshes.Add(1)
	type answer struct {
		n        *node
		st       api.Status
		ok       bool
		timedOut bool
	}
	answers := make([]answer, len(sh.nodes))
	var wg sync.WaitGroup
	for i, n := range sh.nodes {
		wg.Go(func() {
			st, err := r.status(n)
			n.update(st, err)
			answers[i] = answer{n, st, err == nil, err != nil && isTimeout(err)}
		})
	}
	wg.Wait()
	var best *answer
	for i := range answers {
		a := &answers[i]
		if a.ok && a.st.Me.ID != "" && a.st.Me.ID == a.st.Leader.ID && (best == nil || a.st.Term > best.st.Term) {
			best = a
		}
	}
	if best == nil {
		// A leader too busy to answer /status in time (its Raft loop
		// serves the configuration /status reports) is not a leader
		// gone: while no other node claims to lead and no request to it
		// has failed (a failure demotes it), keep sending to it.
		// Forgetting it would stall every request of the shard on poll
		// rounds that the same load makes time out again. Routing is
		// never a safety matter: the node itself refuses what it
		// cannot serve as leader.
		sh.mu.Lock()
		cur := sh.leader
		sh.mu.Unlock()
		for _, a := range answers {
			if a.n == cur && a.timedOut {
				r.logger.Debug("leader slow to answer /status; kept", "shard", sh.index, "leader", cur.name())
				return
			}
		}
		r.setLeader(sh, nil, 0, "poll")
		return
	}
	r.setLeader(sh, best.n, best.st.Term, "poll")
}

// status fetches one node's /status.
func (r *Router) status(n *node) (api.Status, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.StatusTimeout)
	defer cancel()
	var st api.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.addr+"/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return st, err
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("/status answered %d: %s", resp.StatusCode, errorMessage(b))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("/status answer is not a node status: %v", err)
	}
	return st, nil
}

// setLeader records sh's leader (nil: none known) and logs changes. term is
// 0 when the leader was learned from a redirect rather than from the
// leader itself.
func (r *Router) setLeader(sh *shard, n *node, term uint64, why string) {
	sh.mu.Lock()
	old, prev := sh.leader, sh.lastLeader
	sh.leader = n
	if n != nil {
		sh.lastLeader = n
	}
	sh.mu.Unlock()
	if n != nil && prev != nil && n != prev {
		r.stats.leaderChanges.Add(1)
	}
	switch {
	case n == old:
	case n == nil:
		r.logger.Warn("no leader known", "shard", sh.index, "previous", old.name(), "source", why)
	default:
		r.logger.Info("leader", "shard", sh.index, "leader", n.name(), "http", n.addr, "term", term, "source", why)
	}
}

// shard is the router's view of one Raft group.
type shard struct {
	index int
	nodes []*node

	mu         sync.Mutex
	leader     *node         // nil when none is known
	lastLeader *node         // the last leader known, to count changes
	refreshing chan struct{} // closed when the running poll round ends
	next       int           // round-robin cursor for reads any node may serve
}

// pick returns the node to send a request to: the leader, or for a read any
// node may serve and no known leader, the next node that answered its last
// poll (or, if none did, the next node at all: better to try than to
// wait).
func (sh *shard) pick(anyNode bool) *node {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.leader != nil || !anyNode {
		return sh.leader
	}
	for range sh.nodes {
		n := sh.nodes[sh.next%len(sh.nodes)]
		sh.next++
		if n.isReachable() {
			return n
		}
	}
	n := sh.nodes[sh.next%len(sh.nodes)]
	sh.next++
	return n
}

// demote forgets n as the leader after a failed call to it.
func (sh *shard) demote(n *node) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.leader == n {
		sh.leader = nil
	}
}

// byLocation returns the node a redirect's Location points at, matched by
// its configured address or the HTTP address it reports.
func (sh *shard) byLocation(loc string) *node {
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" {
		return nil
	}
	for _, n := range sh.nodes {
		if n.addr == u.Host || n.advertised() == u.Host {
			return n
		}
	}
	return nil
}

// node is the router's view of one node, as its last /status poll (or a
// failed call to it) left it.
type node struct {
	addr string // configured HTTP address

	mu        sync.Mutex
	st        api.Status // the last status the node answered
	reachable bool
	lastSeen  time.Time
	problem   string // why the node cannot serve as leader now; "" if it can
}

// update records the outcome of a /status poll.
func (n *node) update(st api.Status, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.reachable = false
		n.st.State, n.st.Leader = "", api.Server{}
		n.problem = err.Error()
		return
	}
	n.st, n.reachable, n.lastSeen = st, true, time.Now()
	switch {
	case st.Me.ID != "" && st.Me.ID == st.Leader.ID:
		n.problem = ""
	case st.Leader.ID == "":
		n.problem = fmt.Sprintf("%s in term %d, knows no leader", orUnknown(st.State), st.Term)
	default:
		n.problem = fmt.Sprintf("%s; its leader is %s", orUnknown(st.State), st.Leader.ID)
	}
}

// setProblem records a failed call; unreachable marks the node down until
// its next successful poll.
func (n *node) setProblem(p string, unreachable bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.problem = p
	if unreachable {
		n.reachable = false
	}
}

func (n *node) isReachable() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reachable
}

// name is the node's Raft ID if it has told us, else its address.
func (n *node) name() string {
	if n == nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.st.Me.ID != "" {
		return n.st.Me.ID
	}
	return n.addr
}

// advertised is the HTTP address the node reports for itself.
func (n *node) advertised() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st.Me.HTTP
}

func (n *node) report() NodeProblem {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.problem
	if p == "" {
		p = "leader, but the request failed"
	}
	return NodeProblem{ID: n.st.Me.ID, HTTP: n.addr, Problem: p}
}

func orUnknown(s string) string {
	if s == "" {
		return "state unknown"
	}
	return s
}
