package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFollowsRedirectAfterLeaderChange(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	ctx := context.Background()
	if _, err := r.Set(ctx, map[string]string{"k1": "v1"}, ""); err != nil {
		t.Fatal(err)
	}
	// The group elects node 2; with polling off, the router still
	// believes node 0 leads, and node 0 answers 307.
	g.setLeader(2)
	res, err := r.Set(ctx, map[string]string{"k2": "v2"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Node != "n2" {
		t.Fatalf("served by %s, want n2", res[0].Node)
	}
	if c := r.Status().Counters; c.Redirects != 1 {
		t.Fatalf("redirects = %d, want 1", c.Redirects)
	}
	// The redirect taught the router the leader: the next write goes
	// straight there.
	before := g.nodes[0].writes.Load()
	if _, err := r.Set(ctx, map[string]string{"k3": "v3"}, ""); err != nil {
		t.Fatal(err)
	}
	if g.nodes[0].writes.Load() != before {
		t.Fatal("the router went back to the old leader after learning the new one")
	}
	if st := r.Shard(0); st.Leader == nil || st.Leader.HTTP != g.nodes[2].addr {
		t.Fatalf("shard view leader = %+v, want n2", st.Leader)
	}
}

func TestRetries503UntilALeaderIsElected(t *testing.T) {
	g := newFakeGroup(t, "n", 3, -1)
	r := startRouter(t, testConfig(t, g.addrs()))
	done := make(chan error, 1)
	go func() {
		_, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
		done <- err
	}()
	// Let the write find no leader a few times, then hold an election.
	waitFor(t, 5*time.Second, "the router to retry", func() bool { return r.Status().Counters.Refreshes >= 3 })
	g.setLeader(1)
	if err := <-done; err != nil {
		t.Fatalf("Set: %v", err)
	}
	if v, _ := g.value("k"); v != "v" {
		t.Fatal("the write was not applied")
	}
}

func TestFollowerAnswering503IsRetried(t *testing.T) {
	// The router believes node 0 leads, but node 0 has lost touch with
	// the group and answers 503, as a node does when leadership is lost
	// during a write; the others have elected node 1.
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	waitFor(t, 5*time.Second, "the first poll", func() bool { return r.Shard(0).Leader != nil })
	g.setLeader(1)
	g.mu.Lock()
	g.nodes[0].view = -1
	g.mu.Unlock()
	res, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Node != "n1" {
		t.Fatalf("served by %s, want n1", res[0].Node)
	}
}

func TestConnectionRefusedFailsOver(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	dead := deadAddr(t)
	// A shard whose first node never started: polls of it are refused.
	r := startRouter(t, testConfig(t, append([]string{dead}, g.addrs()...)))
	ctx := context.Background()
	if _, err := r.Set(ctx, map[string]string{"k1": "v1"}, ""); err != nil {
		t.Fatal(err)
	}
	// The leader dies (its port now refuses connections) and node 1 is
	// elected. The router's next write meets the refusal, refreshes at
	// once, and finds node 1.
	g.nodes[0].srv.Close()
	g.setLeader(1)
	res, err := r.Set(ctx, map[string]string{"k2": "v2"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Node != "n1" {
		t.Fatalf("served by %s, want n1", res[0].Node)
	}
	st := r.Shard(0)
	if st.Nodes[0].Reachable || !strings.Contains(st.Nodes[0].Problem, "refused") {
		t.Fatalf("never-started node shown as %+v", st.Nodes[0])
	}
	if st.Nodes[1].Reachable {
		t.Fatalf("dead leader still shown reachable: %+v", st.Nodes[1])
	}
	if !st.Nodes[2].Leader || st.Nodes[2].State != "Leader" || st.Nodes[2].ID != "n1" || st.Nodes[2].LastSeen == nil {
		t.Fatalf("new leader shown as %+v", st.Nodes[2])
	}
}

func TestAllNodesDownIs503AfterTheDeadline(t *testing.T) {
	cfg := testConfig(t, []string{deadAddr(t), deadAddr(t), deadAddr(t)})
	cfg.Timeout = 300 * time.Millisecond
	r := startRouter(t, cfg)
	start := time.Now()
	_, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	elapsed := time.Since(start)
	var se *ShardError
	if !errors.As(err, &se) || !errors.Is(err, ErrNoLeader) {
		t.Fatalf("Set: %v, want a ShardError wrapping ErrNoLeader", err)
	}
	if elapsed < cfg.Timeout || elapsed > cfg.Timeout+2*time.Second {
		t.Fatalf("gave up after %s, want just after the %s deadline", elapsed, cfg.Timeout)
	}
	if se.Shard != 0 || len(se.Nodes) != 3 || se.MaybeApplied {
		t.Fatalf("ShardError = %+v", se)
	}
	for _, n := range se.Nodes {
		if !strings.Contains(n.Problem, "refused") {
			t.Errorf("node %s problem %q, want connection refused", n.HTTP, n.Problem)
		}
	}
	if msg := se.Error(); !strings.HasPrefix(msg, "shard 0: none of its nodes is reachable (") {
		t.Errorf("message %q does not open with the nodes being unreachable", msg)
	}
	if c := r.Status().Counters; c.Failed != 1 || c.Refreshes < 2 {
		t.Fatalf("counters = %+v: want one failure after several refreshes", c)
	}
}

func TestAmbiguousWriteIsResentWithTheSameID(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	// The leader applies the first write and then dies before answering:
	// the connection drops, the outcome is unknown to the router, and node
	// 1 takes over.
	var once sync.Once
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPost {
			return false
		}
		handled := false
		once.Do(func() {
			handled = true
			g.nodes[0].handleWrite(&discardWriter{h: http.Header{}}, req)
			g.setLeader(1)
			panic(http.ErrAbortHandler) // drop the connection without an answer
		})
		return handled
	})
	res, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Node != "n1" {
		t.Fatalf("served by %s, want n1", res[0].Node)
	}
	ids := g.writeIDs()
	if len(ids) != 2 || ids[0] == "" || ids[0] != ids[1] {
		t.Fatalf("write IDs sent = %q, want the same non-empty ID twice", ids)
	}
	if n := g.appliedCount(); n != 1 {
		t.Fatalf("applied %d times, want once", n)
	}
}

// discardWriter is a ResponseWriter that throws the answer away.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func TestHungLeaderCostsOneAttempt(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	cfg := testConfig(t, g.addrs())
	cfg.AttemptTimeout = 200 * time.Millisecond
	r := startRouter(t, cfg)
	waitFor(t, 5*time.Second, "the first poll", func() bool { return r.Shard(0).Leader != nil })
	// Node 0 hangs on writes (it is cut off from its group); the rest
	// elect node 2.
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPost {
			return false
		}
		g.setLeader(2)
		g.hang(req)
		return true
	})
	start := time.Now()
	res, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Node != "n2" {
		t.Fatalf("served by %s, want n2", res[0].Node)
	}
	if el := time.Since(start); el > cfg.Timeout/2 {
		t.Fatalf("took %s: the hung node should cost about one %s attempt", el, cfg.AttemptTimeout)
	}
}

func TestHungLeaderUntilTheDeadlineIs504(t *testing.T) {
	g := newFakeGroup(t, "n", 1, 0)
	cfg := testConfig(t, g.addrs())
	cfg.Timeout = 300 * time.Millisecond
	r := startRouter(t, cfg)
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPost {
			return false
		}
		g.hang(req)
		return true
	})
	_, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	var se *ShardError
	if !errors.As(err, &se) || !errors.Is(err, ErrTimeout) || !se.MaybeApplied {
		t.Fatalf("Set: %v, want a ShardError wrapping ErrTimeout, maybe applied", err)
	}
}

func TestNodeRefusalIsFinal(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPost {
			return false
		}
		writeJSONForTest(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "key of 2000 bytes is over the 1024-byte limit: too large"})
		return true
	})
	_, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	var ne *NodeError
	if !errors.As(err, &ne) || ne.Status != http.StatusRequestEntityTooLarge || ne.Node != "n0" || !strings.Contains(ne.Message, "1024-byte") {
		t.Fatalf("Set: %v, want the node's 413", err)
	}
	if c := r.Status().Counters; c.Retries != 0 {
		t.Fatalf("retried a definite refusal %d times", c.Retries)
	}
}

// TestConcurrentWritesThroughLeaderChanges runs many writers while the
// leader moves around the group, some moves by a dying node: every write
// must succeed exactly once.
func TestConcurrentWritesThroughLeaderChanges(t *testing.T) {
	g0 := newFakeGroup(t, "a", 3, 0)
	g1 := newFakeGroup(t, "b", 3, 0)
	r := startRouter(t, testConfig(t, g0.addrs(), g1.addrs()))
	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	var done sync.WaitGroup
	done.Add(writers)
	for w := range writers {
		wg.Go(func() {
			defer done.Done()
			for i := range each {
				k := fmt.Sprintf("w%d-%d", w, i)
				if _, err := r.Set(context.Background(), map[string]string{k: k}, ""); err != nil {
					errs <- fmt.Errorf("Set(%q): %w", k, err)
				}
			}
		})
	}
	// Move the leaders as the writes progress (by count, not by time).
	total := func() int { return g0.pairsApplied() + g1.pairsApplied() }
	for step, leader := range []int{1, 2, 0, 1} {
		target := (step + 1) * writers * each / 5
		waitFor(t, 10*time.Second, fmt.Sprintf("%d writes", target), func() bool { return total() >= target })
		g0.setLeader(leader)
		g1.setLeader(2 - leader)
	}
	g0.nodes[2].srv.Close() // and one node dies for good
	g0.setLeader(1)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := total(); n != writers*each {
		t.Fatalf("%d writes applied, want %d (each exactly once)", n, writers*each)
	}
	for w := range writers {
		for i := range each {
			k := fmt.Sprintf("w%d-%d", w, i)
			if v, ok := []*fakeGroup{g0, g1}[ShardOf(k, 2)].value(k); !ok || v != k {
				t.Fatalf("%q missing from its shard", k)
			}
		}
	}
}

func TestClosedRouterFails(t *testing.T) {
	g := newFakeGroup(t, "n", 1, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	r.Close()
	r.Close() // idempotent
	_, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close: %v, want ErrClosed", err)
	}
}

func TestLeaderlessAfterAHungAttemptIs503(t *testing.T) {
	// The leader hangs on a write and then the group loses its leader
	// for good: the deadline passes with no leader known, which is a
	// 503 (no leader), not a 504, though the write may have landed.
	g := newFakeGroup(t, "n", 3, 0)
	cfg := testConfig(t, g.addrs())
	cfg.AttemptTimeout = 100 * time.Millisecond
	cfg.Timeout = 500 * time.Millisecond
	r := startRouter(t, cfg)
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPost {
			return false
		}
		g.setLeader(-1)
		g.hang(req)
		return true
	})
	_, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	var se *ShardError
	if !errors.As(err, &se) || !errors.Is(err, ErrNoLeader) || !se.MaybeApplied {
		t.Fatalf("Set: %v, want a ShardError wrapping ErrNoLeader, maybe applied", err)
	}
}
