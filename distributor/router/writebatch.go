package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kvraft/hraftd/internal/jsonenc"
	"github.com/kvraft/hraftd/kv"
)

// Write coalescing (group commit). Concurrent sets bound for the same shard
// are merged into one POST /key, hence one Raft entry and one round trip to
// the leader, instead of one each. There is no timer: a shard has at most
// maxBatchesInFlight batches in flight; a write that finds a free slot is
// sent at once by its own goroutine (a lone client pays nothing), and
// writes that arrive while every slot is busy leave together as the next
// batch when one frees. The busier the shard, the bigger the batches.
//
// Guarantees kept:
//   - Each caller returns only when the batch holding its write has been
//     committed, with that batch's result or error.
//   - A batch never holds two writes to the same key, so a client's next
//     write to a key (sent after the previous one was acknowledged) always
//     lands in a later batch, and per-client order is kept.
//   - A batch has one write ID, made when it forms and kept by every
//     retry, so the node applies it at most once.
//   - One write's fault cannot fail the others: only writes that pass the
//     node's own checks are batched (coalescible), and a batch the node
//     still refuses as bad input is split and each write resent alone,
//     unless an earlier attempt's outcome was unknown (then it fails
//     whole, as an unbatched write would).
//
// After a batch of n > 1 returns, the next one waits (cohort.go) for the
// share of those n writers that come back to this shard, up to
// Config.WriteLinger: with one batch in flight, steady load otherwise
// splits the clients into two halves that take turns.
//
// Writes with a client-supplied Idempotency-Key are never merged: their ID
// must name exactly their own write. Deletes are not batched.
const (
	// maxBatchesInFlight is how many batches one shard may have in flight.
	// One: the next batch forms while the previous one commits, so
	// batches grow with the load and each node does the least work per
	// write. The cohort wait assumes one (one wait per batcher).
	maxBatchesInFlight = 1
	// maxBatchWrites bounds the writes merged into one batch.
	maxBatchWrites = 256
	// maxBatchBytes bounds a batch's body, well under the node's default
	// 1 MiB body limit.
	maxBatchBytes = 512 << 10
	// maxBatchedWriteBytes is the largest encoded write that is batched; a
	// bigger one goes alone, so that it never pushes a batch over a node's
	// limit.
	maxBatchedWriteBytes = 64 << 10
	// maxBatchedKeyBytes is the node's default key length limit: a longer
	// key goes alone and the node decides.
	maxBatchedKeyBytes = kv.MaxKeyBytes
)

// batchSizeBounds are the upper bounds of the batch-size histogram's
// buckets; a last, unbounded bucket follows.
var batchSizeBounds = [...]uint64{1, 2, 4, 8, 16, 32, 64, 128, 256}

// pendingWrite is one caller's write waiting in, or travelling with, a
// batch.
type pendingWrite struct {
	pairs    map[string]string
	enc      []byte    // the pairs as JSON object members: "k":"v","k2":"v2"
	start    time.Time // when the caller asked
	deadline time.Time // the caller's deadline

	// Set by the batch before done is closed.
	res  Result
	err  error
	done chan struct{}
}

// batcher forms and sends one shard's batches.
type batcher struct {
	mu       sync.Mutex
	queue    []*pendingWrite // waiting for a slot, oldest first
	inFlight int             // batches being sent, or lingering
	cohort
}

// coalescible reports whether pairs can be merged into a batch: its keys
// and values pass every check a node makes with its default limits, so
// the node cannot refuse the batch because of it.
func coalescible(pairs map[string]string) bool {
	for k, v := range pairs {
		if k == "" || len(k) > maxBatchedKeyBytes || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

// encodePairs encodes pairs as the members of a JSON object, without
// braces, with no HTML escaping (as writeShard's encoder).
func encodePairs(pairs map[string]string) []byte {
	n := 0
	for k, v := range pairs {
		n += len(k) + len(v) + 6
	}
	return jsonenc.AppendMembers(make([]byte, 0, n), pairs)
}

// setCoalesced writes pairs, all of shard s, as part of a batch, and
// returns once the batch has been committed or has failed.
func (r *Router) setCoalesced(ctx context.Context, s int, pairs map[string]string) (Result, error) {
	r.stats.sets.Add(1)
	pw := &pendingWrite{pairs: pairs, enc: encodePairs(pairs), done: make(chan struct{})}
	if len(pw.enc) > maxBatchedWriteBytes {
		// Too big to share a batch: alone, under its own ID.
		return r.sendAlone(ctx, s, pairs)
	}
	pw.start = time.Now()
	pw.deadline, _ = ctx.Deadline()
	b := &r.batchers[s]
	b.mu.Lock()
	b.queue = append(b.queue, pw)
	b.arrived(len(b.queue))
	var batch []*pendingWrite
	if b.inFlight < maxBatchesInFlight {
		b.inFlight++
		batch = b.take()
	}
	b.mu.Unlock()
	if batch != nil {
		// A free slot: send from this goroutine. The queue held at most
		// what arrived since the last batch left, this write included.
		r.runBatches(s, batch)
	}
	select {
	case <-pw.done:
		return pw.res, pw.err
	case <-ctx.Done():
	}
	if b.remove(pw) {
		// Still queued behind batches that did not finish in time: it
		// was never sent. Nothing was in flight for it, so, as forward
		// says when it finds no leader until the deadline, 503.
		r.stats.failed.Add(1)
		err := ctx.Err()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (the write was still queued behind earlier batches to the shard)", ErrNoLeader)
		}
		return Result{}, r.giveUp(r.shards[s], pw.start, err, false)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// The batch's deadline is its earliest member's, so it is no
		// later than this one: its own answer, with the details of
		// what was tried, comes at once.
		<-pw.done
		return pw.res, pw.err
	}
	// The client went away while its write travels: the batch goes on
	// for the others.
	return Result{}, r.giveUp(r.shards[s], pw.start, ctx.Err(), true)
}

// sendAlone sends one shard's pairs as their own POST /key under a new ID.
func (r *Router) sendAlone(ctx context.Context, s int, pairs map[string]string) (Result, error) {
	req := &request{op: "set", write: true, writeID: newWriteID(), method: http.MethodPost, path: "/key",
		body: append(append([]byte{'{'}, encodePairs(pairs)...), '}')}
	rep, err := r.forward(ctx, r.shards[s], req)
	if err != nil {
		r.stats.failed.Add(1)
		return Result{}, err
	}
	return rep.result(s), nil
}

// take removes the next batch from the queue: the oldest writes, in order,
// skipping (and leaving queued) any that would repeat a key already in the
// batch, up to the size bounds. b.mu must be held.
func (b *batcher) take() []*pendingWrite {
	if len(b.queue) == 0 {
		return nil
	}
	if len(b.queue) == 1 {
		batch := b.queue
		b.queue = nil
		return batch
	}
	var (
		batch []*pendingWrite
		rest  []*pendingWrite
		keys  = map[string]struct{}{}
		size  = 2
	)
	for _, pw := range b.queue {
		fits := len(batch) < maxBatchWrites && size+len(pw.enc)+1 <= maxBatchBytes
		if fits {
			for k := range pw.pairs {
				if _, dup := keys[k]; dup {
					fits = false
					break
				}
			}
		}
		if !fits {
			rest = append(rest, pw)
			continue
		}
		for k := range pw.pairs {
			keys[k] = struct{}{}
		}
		batch = append(batch, pw)
		size += len(pw.enc) + 1
	}
	b.queue = rest
	return batch
}

// remove takes pw out of the queue, reporting whether it was there (and so
// was never sent).
func (b *batcher) remove(pw *pendingWrite) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, q := range b.queue {
		if q == pw {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			return true
		}
	}
	return false
}

// runBatches sends batch, hands its members their results, and then, if
// writes queued meanwhile, starts their batch on a new goroutine (the
// caller has its own answer and must not wait for others'), or frees the
// slot.
func (r *Router) runBatches(s int, batch []*pendingWrite) {
	r.sendBatch(s, batch)
	b := &r.batchers[s]
	// The writers answered now write again in a moment, about 1/shards
	// of them to this shard: the next batch waits for their share.
	b.answerThenLinger(&b.mu, func() int { return len(b.queue) }, len(batch), r.cohortShare(len(batch)),
		maxBatchWrites, r.cfg.WriteLinger, func() {
			for _, pw := range batch {
				close(pw.done)
			}
		})
	next := b.take()
	if next == nil {
		b.inFlight--
	}
	b.mu.Unlock()
	if next != nil {
		go r.runBatches(s, next)
	}
}

// sendBatch sends batch as one POST /key under one new write ID, retried
// as it is until the earliest deadline of its members, and sets every
// member's result; runBatches then hands the results out.
func (r *Router) sendBatch(s int, batch []*pendingWrite) {
	var deadline time.Time
	size := 2
	for _, pw := range batch {
		if deadline.IsZero() || (!pw.deadline.IsZero() && pw.deadline.Before(deadline)) {
			deadline = pw.deadline
		}
		size += len(pw.enc) + 1
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(r.cfg.Timeout)
	}
	// Not the callers' contexts: one client going away must not cancel
	// the others' write.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	body := make([]byte, 0, size)
	body = append(body, '{')
	for i, pw := range batch {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, pw.enc...)
	}
	body = append(body, '}')
	req := &request{op: "set", write: true, writeID: newWriteID(), method: http.MethodPost, path: "/key", body: body}
	r.stats.observeBatch(len(batch))
	rep, err := r.forward(ctx, r.shards[s], req)

	var ne *NodeError
	if len(batch) > 1 && !req.maybeApplied && errors.As(err, &ne) &&
		(ne.Status == http.StatusBadRequest || ne.Status == http.StatusRequestEntityTooLarge) {
		// Refused as bad input, so nothing was applied, yet every write
		// passed the checks: a node with tighter limits than the
		// defaults. Let each write have its own verdict, under a new ID.
		// Not if an earlier attempt's outcome was unknown (nodes with
		// different limits): the batch may have been applied then, and
		// resending its writes apart could apply them a second time,
		// after other clients' writes to the same keys.
		r.stats.batchSplits.Add(1)
		r.logger.Warn("batch refused, resending its writes one by one", "shard", s, "writes", len(batch), "error", err)
		var wg sync.WaitGroup
		for _, pw := range batch {
			wg.Go(func() { pw.res, pw.err = r.sendAlone(ctx, s, pw.pairs) })
		}
		wg.Wait()
		return
	}
	var res Result
	if err != nil {
		r.stats.failed.Add(uint64(len(batch)))
	} else {
		res = rep.result(s)
	}
	for _, pw := range batch {
		pw.res, pw.err = res, err
	}
}

// cohortShare is how many of n clients just answered are expected to send
// their next request to the same shard, keys being spread evenly: the
// part of a cohort a batcher waits for (cohort.go).
func (r *Router) cohortShare(n int) int {
	return (n + len(r.shards) - 1) / len(r.shards)
}

// setCoalescedParts is Set for a write the router may merge with others:
// each shard's part joins that shard's next batch. As for any write that
// spans shards, each part is atomic and the whole is not.
func (r *Router) setCoalescedParts(ctx context.Context, pairs map[string]string) ([]Result, error) {
	s, single := -1, true
	for k := range pairs {
		ks := r.ShardOf(k)
		if s >= 0 && ks != s {
			single = false
			break
		}
		s = ks
	}
	if single {
		res, err := r.setCoalesced(ctx, s, pairs)
		if err != nil {
			return nil, err
		}
		return []Result{res}, nil
	}
	parts := r.split(pairs)
	results := make([]Result, len(r.shards))
	errs := make([]error, len(r.shards))
	var wg sync.WaitGroup
	for s, p := range parts {
		wg.Go(func() { results[s], errs[s] = r.setCoalesced(ctx, s, p) })
	}
	wg.Wait()
	return gatherParts(parts, results, errs)
}
