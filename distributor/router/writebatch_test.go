package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gate holds the first maxBatchesInFlight POST /key requests at a fake
// node until released, so that a test can fill a shard's every batch slot
// and line writes up behind them deterministically.
type gate struct {
	arrived atomic.Int64
	release chan struct{}
}

// blockSlots installs a gate on node i of g, then occupies every batch slot
// of shard s with one write each (keys "slot0", "slot1", ...), returning
// once they are held at the node. The slot writes' errors go to errs.
func blockSlots(t *testing.T, g *fakeGroup, i int, r *Router, s int, errs chan<- error) *gate {
	t.Helper()
	gt := &gate{release: make(chan struct{})}
	var held atomic.Int64
	g.setHook(i, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method == http.MethodPost && held.Add(1) <= maxBatchesInFlight {
			gt.arrived.Add(1)
			select {
			case <-gt.release:
			case <-g.quit:
			}
		}
		return false
	})
	for j := range maxBatchesInFlight {
		go func() {
			_, err := r.Set(context.Background(), map[string]string{fmt.Sprintf("slot%d", j): "v"}, "")
			errs <- err
		}()
	}
	waitFor(t, 5*time.Second, "the batch slots to be held", func() bool { return gt.arrived.Load() == maxBatchesInFlight })
	return gt
}

// queued returns how many writes wait in shard s's queue.
func queued(r *Router, s int) int {
	b := &r.batchers[s]
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// setAsync runs Set in the background and waits until its write is queued
// behind the held slots, so that queue order is the call order.
func setAsync(t *testing.T, r *Router, key, value string, want int) <-chan setOutcome {
	t.Helper()
	ch := make(chan setOutcome, 1)
	go func() {
		res, err := r.Set(context.Background(), map[string]string{key: value}, "")
		ch <- setOutcome{res, err}
	}()
	waitFor(t, 5*time.Second, fmt.Sprintf("%d writes queued", want), func() bool { return queued(r, 0) == want })
	return ch
}

type setOutcome struct {
	res []Result
	err error
}

// objectKeys returns the member names of a JSON object, duplicates kept.
func objectKeys(t *testing.T, body []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("body %q is not a JSON object", body)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		keys = append(keys, tok.(string))
		var v string
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
	}
	return keys
}

func TestConcurrentWritesCoalesce(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	slotErrs := make(chan error, maxBatchesInFlight)
	gt := blockSlots(t, g, 0, r, 0, slotErrs)

	const n = 50
	outs := make([]<-chan setOutcome, n)
	for i := range n {
		outs[i] = setAsync(t, r, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i), i+1)
	}
	close(gt.release)
	var index uint64
	for i, ch := range outs {
		o := <-ch
		if o.err != nil {
			t.Fatalf("Set(k%d): %v", i, o.err)
		}
		if v, ok := g.value(fmt.Sprintf("k%d", i)); !ok || v != fmt.Sprintf("v%d", i) {
			t.Fatalf("k%d = %q, %v after its Set succeeded", i, v, ok)
		}
		// One batch, one entry: every member reports its index.
		if i == 0 {
			index = o.res[0].Index
		} else if o.res[0].Index != index {
			t.Fatalf("k%d committed at index %d, k0 at %d: not one batch", i, o.res[0].Index, index)
		}
	}
	for range maxBatchesInFlight {
		if err := <-slotErrs; err != nil {
			t.Fatal(err)
		}
	}
	if got, want := len(g.postBodies()), maxBatchesInFlight+1; got != want {
		t.Fatalf("%d POST /key for %d writes, want %d", got, n+maxBatchesInFlight, want)
	}
	c := r.Status().Counters
	if c.Batches != maxBatchesInFlight+1 || c.BatchedWrites != n+maxBatchesInFlight || c.CoalescedWrites != n ||
		c.BatchSizeMax != n || c.Sets != n+maxBatchesInFlight {
		t.Fatalf("counters = %+v", c)
	}
	last := c.BatchSizes[len(c.BatchSizes)-1]
	if last.LE != 0 || last.Count != c.Batches || c.BatchSizes[0].Count != maxBatchesInFlight {
		t.Fatalf("batch size histogram = %+v", c.BatchSizes)
	}
}

func TestSameKeyWritesNeverShareABatch(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	slotErrs := make(chan error, maxBatchesInFlight)
	gt := blockSlots(t, g, 0, r, 0, slotErrs)

	a := setAsync(t, r, "dup", "first", 1)
	x := setAsync(t, r, "x", "x", 2)
	b := setAsync(t, r, "dup", "second", 3)
	y := setAsync(t, r, "y", "y", 4)
	close(gt.release)
	for _, ch := range []<-chan setOutcome{a, x, b, y} {
		if o := <-ch; o.err != nil {
			t.Fatal(o.err)
		}
	}
	dupBodies := 0
	for _, body := range g.postBodies() {
		keys := objectKeys(t, body)
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				t.Fatalf("body %s holds %q twice", body, k)
			}
			seen[k] = true
		}
		if seen["dup"] {
			dupBodies++
		}
	}
	if dupBodies != 2 {
		t.Fatalf("the two writes to dup went in %d bodies, want 2", dupBodies)
	}
	// The first batch took dup=first, x and y; dup=second waited.
	if c := r.Status().Counters; c.BatchSizeMax != 3 {
		t.Fatalf("largest batch = %d, want 3 (dup, x, y)", c.BatchSizeMax)
	}
}

func TestAmbiguousBatchIsResentWhole(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	slotErrs := make(chan error, maxBatchesInFlight)
	gt := blockSlots(t, g, 0, r, 0, slotErrs)

	outs := []<-chan setOutcome{
		setAsync(t, r, "a", "1", 1),
		setAsync(t, r, "b", "2", 2),
		setAsync(t, r, "c", "3", 3),
	}
	// The batch of three reaches the leader, which applies it and dies
	// before answering: node 1 takes over. (The slots' writes already
	// went past the hook this replaces.)
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPost {
			return false
		}
		g.nodes[0].handleWrite(&discardWriter{h: http.Header{}}, req)
		g.setLeader(1)
		panic(http.ErrAbortHandler)
	})
	close(gt.release)
	for _, ch := range outs {
		o := <-ch
		if o.err != nil {
			t.Fatal(o.err)
		}
		if o.res[0].Node != "n1" {
			t.Fatalf("served by %s, want n1", o.res[0].Node)
		}
	}
	for range maxBatchesInFlight {
		if err := <-slotErrs; err != nil {
			t.Fatal(err)
		}
	}
	// Every request here is a POST, so IDs and bodies line up.
	ids, bodies := g.writeIDs(), g.postBodies()
	var batchIDs []string
	var batchBodies [][]byte
	for i, b := range bodies {
		if len(objectKeys(t, b)) == 3 {
			batchIDs, batchBodies = append(batchIDs, ids[i]), append(batchBodies, b)
		}
	}
	if len(batchIDs) != 2 || batchIDs[0] == "" || batchIDs[0] != batchIDs[1] || !bytes.Equal(batchBodies[0], batchBodies[1]) {
		t.Fatalf("write IDs %q, bodies %q: want the batch of three sent twice, same ID, same body", ids, bodies)
	}
	if got, want := g.pairsApplied(), maxBatchesInFlight+3; got != want {
		t.Fatalf("%d keys applied, want %d (the batch once)", got, want)
	}
}

func TestBatchRefusedAsBadInputIsSplit(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	slotErrs := make(chan error, maxBatchesInFlight)
	gt := blockSlots(t, g, 0, r, 0, slotErrs)

	outs := map[string]<-chan setOutcome{
		"a":   setAsync(t, r, "a", "1", 1),
		"bad": setAsync(t, r, "bad", "2", 2),
		"c":   setAsync(t, r, "c", "3", 3),
	}
	// A node stricter than the router's checks: it refuses the key "bad",
	// and so any batch holding it.
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPost {
			return false
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(req.Body)
		if strings.Contains(buf.String(), `"bad"`) {
			writeJSONForTest(w, http.StatusBadRequest, map[string]string{"error": "bad key"})
			return true
		}
		req.Body = http.NoBody
		g.nodes[0].handleWriteBody(w, req, buf.Bytes())
		return true
	})
	close(gt.release)
	for k, ch := range outs {
		o := <-ch
		var ne *NodeError
		switch {
		case k == "bad" && !(errors.As(o.err, &ne) && ne.Status == http.StatusBadRequest):
			t.Fatalf("Set(bad) = %v, want the node's 400", o.err)
		case k != "bad" && o.err != nil:
			t.Fatalf("Set(%s) failed for another write's fault: %v", k, o.err)
		}
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := g.value(k); !ok {
			t.Fatalf("%s not applied", k)
		}
	}
	if _, ok := g.value("bad"); ok {
		t.Fatal("bad applied")
	}
	if c := r.Status().Counters; c.BatchSplits != 1 {
		t.Fatalf("batch splits = %d, want 1", c.BatchSplits)
	}
}

func TestQueuedWriteOfAGoneClientIsNeverSent(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	slotErrs := make(chan error, maxBatchesInFlight)
	gt := blockSlots(t, g, 0, r, 0, slotErrs)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Set(ctx, map[string]string{"gone": "v"}, "")
		done <- err
	}()
	waitFor(t, 5*time.Second, "the write queued", func() bool { return queued(r, 0) == 1 })
	cancel()
	err := <-done
	var se *ShardError
	if !errors.Is(err, context.Canceled) || !errors.As(err, &se) || se.MaybeApplied {
		t.Fatalf("Set = %v, want a ShardError for context.Canceled, not maybe applied", err)
	}
	if n := queued(r, 0); n != 0 {
		t.Fatalf("%d writes still queued", n)
	}
	close(gt.release)
	for range maxBatchesInFlight {
		if err := <-slotErrs; err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := g.value("gone"); ok {
		t.Fatal("the gone client's write was applied")
	}
}

func TestTakeBoundsABatch(t *testing.T) {
	var b batcher
	for i := range maxBatchWrites + 10 {
		b.queue = append(b.queue, &pendingWrite{pairs: map[string]string{fmt.Sprint(i): ""}, enc: []byte("x")})
	}
	if got := len(b.take()); got != maxBatchWrites {
		t.Fatalf("first batch has %d writes, want %d", got, maxBatchWrites)
	}
	if got := len(b.take()); got != 10 {
		t.Fatalf("second batch has %d writes, want 10", got)
	}
	big := bytes.Repeat([]byte("x"), maxBatchBytes/3)
	for i := range 4 {
		b.queue = append(b.queue, &pendingWrite{pairs: map[string]string{fmt.Sprint(i): ""}, enc: big})
	}
	if got := len(b.take()); got != 2 {
		t.Fatalf("batch of %d writes of %d bytes, want 2 under %d bytes", got, len(big), maxBatchBytes)
	}
}

func TestCoalescible(t *testing.T) {
	for _, tc := range []struct {
		pairs map[string]string
		want  bool
	}{
		{map[string]string{"k": "v"}, true},
		{map[string]string{"": "v"}, false},
		{map[string]string{"k\xff": "v"}, false},
		{map[string]string{"k": "v\xff"}, false},
		{map[string]string{strings.Repeat("k", 1024): "v"}, true},
		{map[string]string{strings.Repeat("k", 1025): "v"}, false},
	} {
		if got := coalescible(tc.pairs); got != tc.want {
			t.Errorf("coalescible(%.20q) = %v, want %v", tc.pairs, got, tc.want)
		}
	}
}

// TestRefusalAfterAnAmbiguousAttemptIsNotSplit: once an attempt of a batch
// may have been applied, a later 400 does not prove that nothing was, so
// the writes are not resent apart (that could apply them a second time).
func TestRefusalAfterAnAmbiguousAttemptIsNotSplit(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	slotErrs := make(chan error, maxBatchesInFlight)
	gt := blockSlots(t, g, 0, r, 0, slotErrs)
	outs := []<-chan setOutcome{setAsync(t, r, "a", "1", 1), setAsync(t, r, "b", "2", 2)}
	// The batch reaches n0, which applies it and dies unanswered; n1, a
	// node with stricter limits, then refuses it.
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPost {
			return false
		}
		g.nodes[0].handleWrite(&discardWriter{h: http.Header{}}, req)
		g.setLeader(1)
		panic(http.ErrAbortHandler)
	})
	g.setHook(1, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPost {
			return false
		}
		writeJSONForTest(w, http.StatusBadRequest, map[string]string{"error": "stricter node"})
		return true
	})
	close(gt.release)
	for _, ch := range outs {
		var ne *NodeError
		if o := <-ch; !errors.As(o.err, &ne) || ne.Status != http.StatusBadRequest {
			t.Fatalf("Set = %v, want the node's 400", o.err)
		}
	}
	if c := r.Status().Counters; c.BatchSplits != 0 {
		t.Fatalf("batch splits = %d, want 0", c.BatchSplits)
	}
	if got, want := g.pairsApplied(), maxBatchesInFlight+2; got != want {
		t.Fatalf("%d keys applied, want %d (the batch once, never resent apart)", got, want)
	}
}

// After a batch of n writes returns, the next batch waits for those n
// writers to write again: their n writes leave as one batch, although the
// first of them finds no batch in flight (without the linger it would go
// alone and the rest behind it).
func TestWriteCohortLeavesTogether(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	cfg := testConfig(t, g.addrs())
	cfg.WriteLinger = time.Hour // only the cohort ends the wait
	r := startRouter(t, cfg)
	slotErrs := make(chan error, maxBatchesInFlight)
	gt := blockSlots(t, g, 0, r, 0, slotErrs)
	const n = 8
	outs := make([]<-chan setOutcome, n)
	for i := range n {
		outs[i] = setAsync(t, r, fmt.Sprintf("a%d", i), "v", i+1)
	}
	close(gt.release)
	for _, ch := range outs {
		if o := <-ch; o.err != nil {
			t.Fatal(o.err)
		}
	}
	if err := <-slotErrs; err != nil {
		t.Fatal(err)
	}

	// The same n writers write again, concurrently.
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := r.Set(context.Background(), map[string]string{fmt.Sprintf("b%d", i): "v"}, ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := len(g.postBodies()); got != maxBatchesInFlight+2 {
		t.Fatalf("%d POST /key, want %d: the slot's, the first cohort's and the second cohort's as one", got, maxBatchesInFlight+2)
	}
	if c := r.Status().Counters; c.BatchSizeMax != n || c.Batches != maxBatchesInFlight+2 {
		t.Errorf("counters = %+v", c)
	}
}

// When the writers just answered do not come back, the linger ends at its
// bound and a lone later write is served.
func TestWriteLingerIsBounded(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	cfg := testConfig(t, g.addrs())
	cfg.WriteLinger = 20 * time.Millisecond
	r := startRouter(t, cfg)
	slotErrs := make(chan error, maxBatchesInFlight)
	gt := blockSlots(t, g, 0, r, 0, slotErrs)
	outs := []<-chan setOutcome{setAsync(t, r, "a", "v", 1), setAsync(t, r, "b", "v", 2)}
	close(gt.release)
	for _, ch := range outs {
		if o := <-ch; o.err != nil {
			t.Fatal(o.err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := r.Set(ctx, map[string]string{"c": "v"}, ""); err != nil {
		t.Fatalf("a write after a cohort that did not come back: %v", err)
	}
	if v, ok := g.value("c"); !ok || v != "v" {
		t.Fatalf("c = %q, %v", v, ok)
	}
}
