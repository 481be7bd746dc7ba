package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/kv"
)

// Read coalescing. Concurrent Gets at level linearizable (or weak) bound for
// the same shard are merged into one POST /read to the shard's leader,
// which answers all of them after one leadership check, instead of one
// request each: the distributor's CPU per read, not the quorum round, is
// what limits reads. The policy is write coalescing's (writebatch.go): per
// shard and level, one batch in flight; a read that finds none in flight
// is sent at once (a batch of one is a plain GET /key/{k}), and reads that
// arrive meanwhile leave together when it returns.
//
// Each read stays linearizable: a read joins only a batch sent after it
// was queued, and the node reads the whole batch after one barrier taken
// after receiving it (confirm leadership with a quorum, wait until the
// commit index is applied). That lookup is one instant inside every
// member's own call, as if each read had been sent alone; a retry resends
// the batch and moves the instant later, still before any member returns.
//
// After a batch of n > 1 returns, the next one waits (cohort.go) for the
// share of those n readers that come back to this shard, up to
// Config.ReadLinger: fewer, fuller batches mean fewer leadership rounds.
//
// Reads at level none keep the plain path: they may be served by
// followers, and their cost is a map lookup, not a leadership round.
const (
	// maxReadBatchKeys bounds the reads merged into one batch: well under
	// the node's limit of kv.MaxReadKeys per POST /read, and small enough that
	// one batch's answer stays a few tens of KiB for typical values.
	maxReadBatchKeys = 256
	// maxReadBatchBytes bounds a batch's keys, each counted at its worst
	// JSON-escaped size (see readKeyCost), well under the node's default
	// 1 MiB body limit: a batch the node refused as too large would fail
	// every read in it.
	maxReadBatchBytes = 512 << 10
	// maxBatchedReadKeyBytes is the node's default key length limit. A
	// longer key is read alone: the node refuses it with 413, and that
	// answer must be its caller's alone, not its batch's.
	maxBatchedReadKeyBytes = kv.MaxKeyBytes
)

// readBatchLevels are the levels whose reads are coalesced, in the order of
// Router.readBatchers' inner index.
var readBatchLevels = [...]string{string(kv.ReadLinearizable), string(kv.ReadWeak)}

// pendingRead is one caller's read waiting in, or travelling with, a batch.
type pendingRead struct {
	key      string
	start    time.Time // when the caller asked
	deadline time.Time // the caller's deadline

	// Set by the batch before done is closed.
	res  GetResult
	err  error
	done chan struct{}
}

// readBatcher forms and sends one shard's batches of reads at one level.
type readBatcher struct {
	mu       sync.Mutex
	queue    []*pendingRead // waiting for the batch in flight, oldest first
	inFlight bool           // a batch is in flight, or the next one is lingering
	cohort
}

// readBatcherFor returns the batcher of shard s for level, or nil if reads
// at level are not coalesced.
func (r *Router) readBatcherFor(s int, level string) *readBatcher {
	for i, l := range readBatchLevels {
		if l == level {
			return &r.readBatchers[s][i]
		}
	}
	return nil
}

// getCoalesced reads key, of shard s, at level as part of a batch, and
// returns once the batch has been answered or has failed, or ctx ends.
func (r *Router) getCoalesced(ctx context.Context, b *readBatcher, s int, key, level string) (GetResult, error) {
	pr := &pendingRead{key: key, start: time.Now(), done: make(chan struct{})}
	pr.deadline, _ = ctx.Deadline()
	b.mu.Lock()
	b.queue = append(b.queue, pr)
	b.arrived(len(b.queue))
	var batch []*pendingRead
	if !b.inFlight {
		b.inFlight = true
		batch = b.take()
	}
	b.mu.Unlock()
	if batch != nil {
		// Nothing in flight: send from this goroutine. The queue held
		// what arrived since the last batch left, this read included.
		r.runReadBatches(b, s, level, batch)
	}
	select {
	case <-pr.done:
		return pr.res, pr.err
	case <-ctx.Done():
	}
	if b.remove(pr) {
		// Still queued behind a batch that did not finish in time: it
		// was never sent, so, as forward says when it finds no leader
		// until the deadline, 503.
		r.stats.failed.Add(1)
		err := ctx.Err()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (the read was still queued behind an earlier batch to the shard)", ErrNoLeader)
		}
		return GetResult{}, r.giveUp(r.shards[s], pr.start, err, false)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// The batch's deadline is its earliest member's, so no later
		// than this one: its own answer, with the details of what was
		// tried, comes at once.
		<-pr.done
		return pr.res, pr.err
	}
	// The client went away while its read travels: the batch goes on for
	// the others.
	return GetResult{}, r.giveUp(r.shards[s], pr.start, ctx.Err(), false)
}

// readKeyCost is the most bytes key can take in a POST /read body: every
// byte escaped as \u00XX, plus quotes and a comma. Exact escaping would
// cost an encoding per read to save bytes only for keys full of control
// characters.
func readKeyCost(key string) int { return 6*len(key) + 3 }

// take removes the next batch from the queue: the oldest reads, in order,
// up to maxReadBatchKeys and maxReadBatchBytes (a first read always goes,
// and a key is at most maxBatchedReadKeyBytes). b.mu must be held.
func (b *readBatcher) take() []*pendingRead {
	n, size := 0, 0
	for n < len(b.queue) && n < maxReadBatchKeys {
		size += readKeyCost(b.queue[n].key)
		if n > 0 && size > maxReadBatchBytes {
			break
		}
		n++
	}
	if n == 0 {
		return nil
	}
	batch := b.queue[:n:n]
	if n == len(b.queue) {
		b.queue = nil
	} else {
		b.queue = append([]*pendingRead(nil), b.queue[n:]...)
	}
	return batch
}

// remove takes pr out of the queue, reporting whether it was there (and so
// was never sent).
func (b *readBatcher) remove(pr *pendingRead) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, q := range b.queue {
		if q == pr {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			return true
		}
	}
	return false
}

// runReadBatches sends batch, hands its members their results, and then, if
// reads queued meanwhile, starts their batch on a new goroutine (the caller
// has its answer and must not wait for others'), or marks the batcher idle.
func (r *Router) runReadBatches(b *readBatcher, s int, level string, batch []*pendingRead) {
	r.sendReadBatch(s, level, batch)
	b.answerThenLinger(&b.mu, func() int { return len(b.queue) }, len(batch), r.cohortShare(len(batch)),
		maxReadBatchKeys, r.cfg.ReadLinger, func() {
			for _, pr := range batch {
				close(pr.done)
			}
		})
	next := b.take()
	if next == nil {
		b.inFlight = false
	}
	b.mu.Unlock()
	if next != nil {
		go r.runReadBatches(b, s, level, next)
	}
}

// sendReadBatch reads batch's keys with one request, retried as forward
// retries any read until the earliest deadline of its members, and sets
// every member's result; runReadBatches then hands the results out. A
// batch of one is a plain GET /key/{k}.
func (r *Router) sendReadBatch(s int, level string, batch []*pendingRead) {
	var deadline time.Time
	for _, pr := range batch {
		if deadline.IsZero() || (!pr.deadline.IsZero() && pr.deadline.Before(deadline)) {
			deadline = pr.deadline
		}
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(r.cfg.Timeout)
	}
	// Not the callers' contexts: one client going away must not cancel
	// the others' reads.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	r.stats.observeReadBatch(len(batch))

	if len(batch) == 1 {
		pr := batch[0]
		pr.res, pr.err = r.getOne(ctx, s, pr.key, level)
		return
	}
	keys := make([]string, 0, len(batch))
	seen := make(map[string]struct{}, len(batch))
	for _, pr := range batch {
		if _, dup := seen[pr.key]; !dup {
			seen[pr.key] = struct{}{}
			keys = append(keys, pr.key)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// No HTML escaping: as for writes, keep a key's encoding as short as
	// the node's own limits assume.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(api.ReadRequest{Keys: keys, Level: level}); err != nil {
		r.failReads(batch, fmt.Errorf("encoding the read: %w", err))
		return
	}
	req := &request{op: "get", method: http.MethodPost, path: "/read", body: buf.Bytes()}
	rep, err := r.forward(ctx, r.shards[s], req)
	var ne *NodeError
	if errors.As(err, &ne) && (ne.Status == http.StatusNotFound || ne.Status == http.StatusMethodNotAllowed) {
		// A node without POST /read (an older node, during a rolling
		// upgrade that reached the distributor first): read each key
		// alone.
		r.logger.Debug("node has no POST /read; reading one by one", "shard", s, "reads", len(batch), "error", err)
		r.getEach(ctx, s, level, batch)
		return
	}
	if err != nil {
		r.failReads(batch, err)
		return
	}
	var ans api.ReadResponse
	if err := json.Unmarshal(rep.body, &ans); err != nil && len(rep.body) >= maxReplyBytes {
		// The answer was cut at maxReplyBytes: the batch's values are
		// too big to travel together. Each read alone fits.
		r.logger.Debug("read batch answer too large; reading one by one", "shard", s, "reads", len(batch))
		r.getEach(ctx, s, level, batch)
		return
	} else if err != nil {
		r.failReads(batch, &NodeError{Shard: s, Node: rep.nodeName(), Status: rep.status,
			Message: fmt.Sprintf("unreadable answer to POST /read: %v", err)})
		return
	}
	res := rep.result(s)
	for _, pr := range batch {
		found, ok := ans.Found[pr.key]
		if !ok {
			r.stats.failed.Add(1)
			pr.err = &NodeError{Shard: s, Node: res.Node, Status: rep.status,
				Message: fmt.Sprintf("the answer to POST /read does not mention the key %q", pr.key)}
		} else {
			pr.res = GetResult{Result: res, Value: ans.Values[pr.key], Found: found}
		}
	}
}

// getEach reads every key of batch with its own GET, in parallel, and sets
// each member's result, for a batch the node cannot serve as one.
func (r *Router) getEach(ctx context.Context, s int, level string, batch []*pendingRead) {
	var wg sync.WaitGroup
	for _, pr := range batch {
		wg.Go(func() { pr.res, pr.err = r.getOne(ctx, s, pr.key, level) })
	}
	wg.Wait()
}

// failReads gives every read of batch the error err.
func (r *Router) failReads(batch []*pendingRead, err error) {
	r.stats.failed.Add(uint64(len(batch)))
	for _, pr := range batch {
		pr.err = err
	}
}
