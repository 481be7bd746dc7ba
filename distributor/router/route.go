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
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/kv"
)

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
// callers' concurrent sets into one POST /key under the batch's own ID
// (writebatch.go); it still returns only once its own part is committed.
func (r *Router) Set(ctx context.Context, pairs map[string]string, writeID string) ([]Result, error) {
	if err := checkPairs(pairs); err != nil {
		return nil, err
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
	parts := r.split(pairs)
	if len(parts) == 1 {
		for s, p := range parts {
			res, err := r.writeShard(ctx, s, &write{sets: p, id: writeID})
			if err != nil {
				return nil, err
			}
			return []Result{res}, nil
		}
	}
	results := make([]Result, len(r.shards))
	errs := make([]error, len(r.shards))
	var wg sync.WaitGroup
	for s, p := range parts {
		wg.Go(func() { results[s], errs[s] = r.writeShard(ctx, s, &write{sets: p, id: partWriteID(writeID, s)}) })
	}
	wg.Wait()
	return gatherParts(parts, results, errs)
}

// checkPairs refuses a write the nodes would refuse for its keys or values.
func checkPairs(pairs map[string]string) error {
	if len(pairs) == 0 {
		return fmt.Errorf("%w: no key-value pairs to set", kv.ErrInvalid)
	}
	for k, v := range pairs {
		if err := CheckKey(k); err != nil {
			return err
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("%w: the value of %q is not valid UTF-8", kv.ErrInvalid, k)
		}
	}
	return nil
}

// split groups pairs by the shard that owns each key.
func (r *Router) split(pairs map[string]string) map[int]map[string]string {
	parts := map[int]map[string]string{}
	for k, v := range pairs {
		s := r.ShardOf(k)
		if parts[s] == nil {
			parts[s] = map[string]string{}
		}
		parts[s][k] = v
	}
	return parts
}

// gatherParts returns, in shard order, the results of the parts that
// succeeded and the errors of those that failed, joined.
func gatherParts(parts map[int]map[string]string, results []Result, errs []error) ([]Result, error) {
	var out []Result
	var failed []error
	for s := range results {
		if _, ok := parts[s]; !ok {
			continue
		}
		if errs[s] != nil {
			failed = append(failed, errs[s])
		} else {
			out = append(out, results[s])
		}
	}
	return out, errors.Join(failed...)
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
// setCoalesced and sendBatch (writebatch.go) instead, which forward their
// batch with r.forward exactly as here.
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
// concurrent reads of the same shard and level into one POST /read
// (readbatch.go); each still sees what a read sent alone would.
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
	req := &request{op: "get", method: http.MethodGet, anyNode: level == "" || level == string(kv.ReadNone)}
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
