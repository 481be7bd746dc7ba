package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/kv"
)

// holdFirstRead makes node i of g hold the first read it receives (a GET
// /key/{k} or a POST /read) until the returned release is called, so that
// a test can keep a shard's batch in flight and line reads up behind it.
// It returns once that read is held. The caller starts the read.
func holdFirstRead(t *testing.T, g *fakeGroup, i int, start func()) (release func()) {
	t.Helper()
	gate := make(chan struct{})
	var arrived, seen atomic.Int64
	g.setHook(i, func(w http.ResponseWriter, req *http.Request) bool {
		isRead := req.Method == http.MethodGet && req.URL.Path != "/status" || req.URL.Path == "/read"
		if isRead && seen.Add(1) == 1 {
			arrived.Add(1)
			select {
			case <-gate:
			case <-g.quit:
			}
		}
		return false
	})
	start()
	waitFor(t, 5*time.Second, "the first read to be held", func() bool { return arrived.Load() == 1 })
	var once sync.Once
	return func() { once.Do(func() { close(gate) }) }
}

// readsQueued returns how many reads wait in shard s's queue for level.
func readsQueued(r *Router, s int, level string) int {
	b := r.readBatcherFor(s, level)
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

type getOutcome struct {
	res GetResult
	err error
}

// getAsync runs Get in the background.
func getAsync(ctx context.Context, r *Router, key, level string) <-chan getOutcome {
	ch := make(chan getOutcome, 1)
	go func() {
		res, err := r.Get(ctx, key, level)
		ch <- getOutcome{res, err}
	}()
	return ch
}

func (g *fakeGroup) put(pairs map[string]string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, v := range pairs {
		g.data[k] = v
	}
}

func TestConcurrentReadsCoalesce(t *testing.T) {
	for _, level := range []string{string(kv.ReadLinearizable), string(kv.ReadWeak)} {
		t.Run(level, func(t *testing.T) {
			g := newFakeGroup(t, "n", 3, 0)
			r := startRouter(t, testConfig(t, g.addrs()))
			g.put(map[string]string{"first": "f", "empty": ""})
			for i := range 40 {
				g.put(map[string]string{fmt.Sprintf("k%d", i): fmt.Sprintf("v%d", i)})
			}
			var first <-chan getOutcome
			release := holdFirstRead(t, g, 0, func() { first = getAsync(context.Background(), r, "first", level) })
			defer release()

			// 40 keys that exist, 10 that do not, one set to "", and one
			// key asked twice: each caller must get its own answer.
			var keys []string
			for i := range 40 {
				keys = append(keys, fmt.Sprintf("k%d", i))
			}
			for i := range 10 {
				keys = append(keys, fmt.Sprintf("missing%d", i))
			}
			keys = append(keys, "empty", "k7")
			outs := make([]<-chan getOutcome, len(keys))
			for i, k := range keys {
				outs[i] = getAsync(context.Background(), r, k, level)
			}
			waitFor(t, 5*time.Second, "every read queued", func() bool { return readsQueued(r, 0, level) == len(keys) })
			release()

			if o := <-first; o.err != nil || o.res.Value != "f" || !o.res.Found {
				t.Fatalf("Get(first) = %+v, %v", o.res, o.err)
			}
			for i, k := range keys {
				o := <-outs[i]
				if o.err != nil {
					t.Fatalf("Get(%s): %v", k, o.err)
				}
				want, wantFound := g.value(k)
				if o.res.Value != want || o.res.Found != wantFound {
					t.Errorf("Get(%s) = %q, found %v; want %q, found %v", k, o.res.Value, o.res.Found, want, wantFound)
				}
				if o.res.Node != "n0" || o.res.Shard != 0 {
					t.Errorf("Get(%s) served by shard %d node %s, want shard 0 node n0", k, o.res.Shard, o.res.Node)
				}
			}
			batches, gets := g.readBatches()
			if gets != 1 || len(batches) != 1 {
				t.Fatalf("node served %d GETs and %d POST /read (%v); want the first read alone, then one batch", gets, len(batches), batches)
			}
			// The key asked twice is sent once.
			want := slices.Compact(slices.Sorted(slices.Values(keys)))
			if got := slices.Sorted(slices.Values(batches[0])); !slices.Equal(got, want) {
				t.Errorf("batch keys = %q, want %q", got, want)
			}
			c := r.Status().Counters
			if c.ReadBatches != 2 || c.BatchedReads != uint64(len(keys)+1) || c.CoalescedReads != uint64(len(keys)) ||
				c.ReadBatchSizeMax != uint64(len(keys)) || c.Gets != uint64(len(keys)+1) {
				t.Errorf("counters = %+v", c)
			}
		})
	}
}

// TestLoneReadsAreNotBatched checks that a lone client pays nothing for
// coalescing (its read is a plain GET, sent at once), and that reads at
// level none are never batched: they may go to followers.
func TestLoneReadsAreNotBatched(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	g.put(map[string]string{"a": "1"})
	for range 5 {
		if res, err := r.Get(context.Background(), "a", string(kv.ReadLinearizable)); err != nil || res.Value != "1" {
			t.Fatalf("Get = %+v, %v", res, err)
		}
	}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for _, level := range []string{"", string(kv.ReadNone)} {
				if res, err := r.Get(context.Background(), "a", level); err != nil || res.Value != "1" {
					t.Errorf("Get(level %q) = %+v, %v", level, res, err)
				}
			}
		})
	}
	wg.Wait()
	if batches, gets := g.readBatches(); len(batches) != 0 || gets != 5+64 {
		t.Errorf("node served %d POST /read and %d GETs; want none and %d", len(batches), gets, 5+64)
	}
}

// TestReadBatchFollowsLeaderChange moves the leader while a batch waits:
// every read, the waiting batch included, is served by the new leader,
// and the batch still as one request.
func TestReadBatchFollowsLeaderChange(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	g.put(map[string]string{"a": "1", "b": "2", "c": "3"})
	var first <-chan getOutcome
	release := holdFirstRead(t, g, 0, func() { first = getAsync(context.Background(), r, "a", string(kv.ReadLinearizable)) })
	defer release()
	var outs []<-chan getOutcome
	for _, k := range []string{"a", "b", "c"} {
		outs = append(outs, getAsync(context.Background(), r, k, string(kv.ReadLinearizable)))
	}
	waitFor(t, 5*time.Second, "3 reads queued", func() bool { return readsQueued(r, 0, string(kv.ReadLinearizable)) == 3 })
	g.setLeader(1)
	release()
	for i, ch := range append([]<-chan getOutcome{first}, outs...) {
		o := <-ch
		want := map[int]string{0: "1", 1: "1", 2: "2", 3: "3"}[i]
		if o.err != nil || o.res.Value != want || o.res.Node != "n1" {
			t.Errorf("read %d = %+v, %v; want %q from n1", i, o.res, o.err, want)
		}
	}
	batches, _ := g.readBatches()
	if len(batches) != 1 {
		t.Errorf("%d POST /read served, want the one batch, once", len(batches))
	}
	// The held read met the 307 and taught the router the new leader,
	// so the batch went straight there.
	if c := r.Status().Counters; c.Redirects != 1 {
		t.Errorf("redirects = %d, want 1", c.Redirects)
	}
}

// TestReadBatchRetriedAfterFailure fails a batch's first attempt with 503
// (leadership moving): the whole batch is resent and every caller gets its
// own answer. Then a shard with no leader at all: every caller of the
// batch gets the shard's error at its deadline.
func TestReadBatchRetriedAfterFailure(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	g.put(map[string]string{"a": "1", "b": "2"})
	var first <-chan getOutcome
	release := holdFirstRead(t, g, 0, func() { first = getAsync(context.Background(), r, "a", string(kv.ReadLinearizable)) })
	var outs []<-chan getOutcome
	for _, k := range []string{"a", "b", "x"} {
		outs = append(outs, getAsync(context.Background(), r, k, string(kv.ReadLinearizable)))
	}
	waitFor(t, 5*time.Second, "3 reads queued", func() bool { return readsQueued(r, 0, string(kv.ReadLinearizable)) == 3 })
	var refused atomic.Int64
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == "/read" && refused.Add(1) == 1 {
			writeJSONForTest(w, http.StatusServiceUnavailable, api.Error{Error: "confirming leadership: deadline exceeded"})
			return true
		}
		return false
	})
	release()
	if o := <-first; o.err != nil || o.res.Value != "1" {
		t.Fatalf("first read = %+v, %v", o.res, o.err)
	}
	for i, want := range []struct {
		v     string
		found bool
	}{{"1", true}, {"2", true}, {"", false}} {
		o := <-outs[i]
		if o.err != nil || o.res.Value != want.v || o.res.Found != want.found {
			t.Errorf("read %d = %+v, %v; want %q found %v", i, o.res, o.err, want.v, want.found)
		}
	}
	if refused.Load() != 2 {
		t.Errorf("POST /read reached the node %d times; want the refused attempt and one retry", refused.Load())
	}
	if c := r.Status().Counters; c.Retries == 0 || c.Failed != 0 {
		t.Errorf("counters = %+v; want a retry and no failure", c)
	}

	// No leader anywhere: the batch fails at its deadline, each member
	// with the shard's error.
	g.setHook(0, nil)
	g.setLeader(-1)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var errs []<-chan getOutcome
	for _, k := range []string{"a", "b", "c", "d"} {
		errs = append(errs, getAsync(ctx, r, k, string(kv.ReadLinearizable)))
	}
	for i, ch := range errs {
		o := <-ch
		var se *ShardError
		if !errors.As(o.err, &se) || !errors.Is(o.err, ErrNoLeader) {
			t.Errorf("read %d with no leader: %v; want a *ShardError wrapping ErrNoLeader", i, o.err)
		}
	}
}

// TestReadBatchFallsBackToGets: a node that predates POST /read answers
// 404; the batch's reads are then sent one by one and all succeed.
func TestReadBatchFallsBackToGets(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	g.put(map[string]string{"a": "1", "b": "2"})
	var first <-chan getOutcome
	release := holdFirstRead(t, g, 0, func() { first = getAsync(context.Background(), r, "a", string(kv.ReadLinearizable)) })
	var outs []<-chan getOutcome
	for _, k := range []string{"a", "b", "x"} {
		outs = append(outs, getAsync(context.Background(), r, k, string(kv.ReadLinearizable)))
	}
	waitFor(t, 5*time.Second, "3 reads queued", func() bool { return readsQueued(r, 0, string(kv.ReadLinearizable)) == 3 })
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == "/read" {
			writeJSONForTest(w, http.StatusNotFound, api.Error{Error: "no such endpoint: POST /read"})
			return true
		}
		return false
	})
	release()
	<-first
	for i, want := range []string{"1", "2", ""} {
		if o := <-outs[i]; o.err != nil || o.res.Value != want {
			t.Errorf("read %d = %+v, %v; want %q", i, o.res, o.err, want)
		}
	}
	if _, gets := g.readBatches(); gets != 4 {
		t.Errorf("%d GETs served; want the first read and 3 one by one", gets)
	}
}

// TestQueuedReadLeavesWhenItsClientDoes: a read whose client goes away
// while it waits for a batch slot returns at once and is never sent; the
// others are answered.
func TestQueuedReadLeavesWhenItsClientDoes(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	g.put(map[string]string{"a": "1", "b": "2"})
	var first <-chan getOutcome
	release := holdFirstRead(t, g, 0, func() { first = getAsync(context.Background(), r, "a", string(kv.ReadLinearizable)) })
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	gone := getAsync(ctx, r, "gone", string(kv.ReadLinearizable))
	waitFor(t, 5*time.Second, "1 read queued", func() bool { return readsQueued(r, 0, string(kv.ReadLinearizable)) == 1 })
	stay := getAsync(context.Background(), r, "b", string(kv.ReadLinearizable))
	waitFor(t, 5*time.Second, "2 reads queued", func() bool { return readsQueued(r, 0, string(kv.ReadLinearizable)) == 2 })
	cancel()
	if o := <-gone; !errors.Is(o.err, context.Canceled) {
		t.Errorf("cancelled read = %+v, %v; want context.Canceled", o.res, o.err)
	}
	release()
	if o := <-first; o.err != nil || o.res.Value != "1" {
		t.Errorf("first = %+v, %v", o.res, o.err)
	}
	if o := <-stay; o.err != nil || o.res.Value != "2" {
		t.Errorf("b = %+v, %v", o.res, o.err)
	}
	batches, gets := g.readBatches()
	if len(batches) != 0 || gets != 2 {
		t.Errorf("%d POST /read, %d GETs; want 2 GETs (each a batch of one) and the cancelled read never sent", len(batches), gets)
	}
}

// TestManyReadersWhileLeadersMove runs many concurrent readers through
// leader changes (for the race detector, and that every read is answered
// with the value it must see: the data never changes here).
func TestManyReadersWhileLeadersMove(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	want := map[string]string{}
	for i := range 64 {
		want[fmt.Sprintf("k%d", i)] = fmt.Sprintf("v%d", i)
	}
	g.put(want)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	for w := range 32 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("k%d", (w*7+i)%80) // some keys missing
				level := string(kv.ReadLinearizable)
				if i%3 == 0 {
					level = string(kv.ReadWeak)
				}
				res, err := r.Get(context.Background(), k, level)
				if err != nil {
					t.Errorf("Get(%s): %v", k, err)
					return
				}
				if v, ok := want[k]; res.Value != v || res.Found != ok {
					t.Errorf("Get(%s) = %q, %v; want %q, %v", k, res.Value, res.Found, v, ok)
					return
				}
				reads.Add(1)
			}
		})
	}
	for i := 1; i <= 6; i++ {
		target := reads.Load() + 200
		waitFor(t, 10*time.Second, "reads to progress", func() bool { return reads.Load() >= target || t.Failed() })
		g.setLeader(i % 3)
	}
	close(stop)
	wg.Wait()
	if c := r.Status().Counters; c.CoalescedReads == 0 {
		t.Logf("no reads were coalesced (counters %+v); the box may be too quiet for it", c)
	}
}

// TestReadBatchBounds checks that a batch is cut at maxReadBatchKeys reads
// and at maxReadBatchBytes of keys, oldest first, and that a first read
// always goes.
func TestReadBatchBounds(t *testing.T) {
	long := strings.Repeat("k", maxBatchedReadKeyBytes)
	perBatch := maxReadBatchBytes / readKeyCost(long)
	tests := []struct {
		name  string
		keys  []string
		sizes []int
	}{
		{"by count", slices.Repeat([]string{"k"}, maxReadBatchKeys+10), []int{maxReadBatchKeys, 10}},
		{"by bytes", slices.Repeat([]string{long}, perBatch+1), []int{perBatch, 1}},
		{"one", []string{long}, []int{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b readBatcher
			for _, k := range tc.keys {
				b.queue = append(b.queue, &pendingRead{key: k})
			}
			var sizes []int
			for batch := b.take(); batch != nil; batch = b.take() {
				sizes = append(sizes, len(batch))
			}
			if !slices.Equal(sizes, tc.sizes) {
				t.Errorf("batch sizes = %v, want %v", sizes, tc.sizes)
			}
		})
	}
}

// lineUpCohort makes shard 0 serve a batch of n reads (behind a first read
// held alone) and returns once that batch has returned: the batcher then
// lingers for the next n reads.
func lineUpCohort(t *testing.T, g *fakeGroup, r *Router, n int) {
	t.Helper()
	var first <-chan getOutcome
	release := holdFirstRead(t, g, 0, func() { first = getAsync(context.Background(), r, "a", string(kv.ReadLinearizable)) })
	outs := make([]<-chan getOutcome, n)
	for i := range outs {
		outs[i] = getAsync(context.Background(), r, "a", string(kv.ReadLinearizable))
	}
	waitFor(t, 5*time.Second, "the cohort queued", func() bool { return readsQueued(r, 0, string(kv.ReadLinearizable)) == n })
	release()
	for _, ch := range append(outs, first) {
		if o := <-ch; o.err != nil || o.res.Value != "1" {
			t.Fatalf("Get = %+v, %v", o.res, o.err)
		}
	}
	if batches, _ := g.readBatches(); len(batches) != 1 || len(batches[0]) != 1 {
		t.Fatalf("after the cohort's batch the node saw %v, want one POST /read", batches)
	}
}

// After a batch of n reads returns, the next n reads leave together, even
// though the first of them finds nothing in flight: without the linger it
// would be sent alone and the rest in a second batch.
func TestReadCohortLeavesTogether(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	cfg := testConfig(t, g.addrs())
	cfg.ReadLinger = time.Hour // only the cohort ends the wait
	r := startRouter(t, cfg)
	g.put(map[string]string{"a": "1"})
	const n = 8
	lineUpCohort(t, g, r, n)

	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if res, err := r.Get(context.Background(), "a", string(kv.ReadLinearizable)); err != nil || res.Value != "1" {
				t.Errorf("Get = %+v, %v", res, err)
			}
		})
	}
	wg.Wait()
	batches, gets := g.readBatches()
	if len(batches) != 2 || gets != 1 {
		t.Fatalf("node saw POST /read batches %v and %d GETs; want the cohort's second batch as one POST /read", batches, gets)
	}
	if c := r.Status().Counters; c.ReadBatchSizeMax != n || c.ReadBatches != 3 {
		t.Errorf("counters = %+v; want 3 batches (1, %d, %d)", c, n, n)
	}
}

// When fewer reads come back than the last batch held, the linger ends at
// its bound and the reads that did come are served.
func TestReadLingerIsBounded(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	cfg := testConfig(t, g.addrs())
	cfg.ReadLinger = 20 * time.Millisecond
	r := startRouter(t, cfg)
	g.put(map[string]string{"a": "1"})
	lineUpCohort(t, g, r, 8)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if res, err := r.Get(ctx, "a", string(kv.ReadLinearizable)); err != nil || res.Value != "1" {
		t.Fatalf("a read after a cohort that did not come back: %+v, %v", res, err)
	}
}
