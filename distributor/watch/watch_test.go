package watch

import (
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kvraft/hraftd/distributor/router"
)

// scriptedSource is a Source that returns whatever the test set last.
type scriptedSource struct {
	mu sync.Mutex
	v  router.Status
}

func (s *scriptedSource) Status() router.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v
}

func (s *scriptedSource) set(v router.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.v = v
}

// shardView builds a one-shard status at time now: up says which of node0..2
// answer, leader is the leading node's index (-1: none), seen is when each
// node last answered.
func shardView(now time.Time, leader int, term uint64, up [3]bool, seen [3]time.Time) router.Status {
	sv := router.ShardStatus{Shard: 0}
	for i := range 3 {
		id := "node" + string(rune('0'+i))
		n := router.NodeStatus{ID: id, HTTP: "127.0.0.1:1100" + string(rune('0'+i)), Reachable: up[i], Term: term}
		if !seen[i].IsZero() {
			t := seen[i]
			n.LastSeen = &t
		}
		if i == leader {
			n.Leader = true
			n.State = "Leader"
			sv.Leader = &router.LeaderRef{ID: id, HTTP: n.HTTP}
		}
		sv.Nodes = append(sv.Nodes, n)
	}
	return router.Status{Time: now, Shards: []router.ShardStatus{sv}}
}

func kinds(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind+":"+e.Node)
	}
	return out
}

func TestWatcherDerivesFailoverEvents(t *testing.T) {
	src := &scriptedSource{}
	w := New(src, Config{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	var got []Event
	w.Subscribe(func(e Event) { got = append(got, e) })

	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	all := [3]bool{true, true, true}
	seen := [3]time.Time{t0, t0, t0}
	src.set(shardView(t0, 0, 1, all, seen))
	w.Sample()
	if want := []string{"node_up:node0", "node_up:node1", "node_up:node2", "leader:node0"}; !slices.Equal(kinds(got), want) {
		t.Fatalf("first view: events %v, want %v", kinds(got), want)
	}
	if got[3].Failover || got[3].Discovery != 0 {
		t.Errorf("the first leader seen is no failover: %+v", got[3])
	}

	// node0 crashes: it last answered at t0+1s; the router notices at
	// t0+1.5s and knows no leader.
	got = nil
	seen[0] = t0.Add(time.Second)
	src.set(shardView(t0.Add(1500*time.Millisecond), -1, 1, [3]bool{false, true, true}, seen))
	w.Sample()
	if want := []string{"node_down:node0", "no_leader:node0"}; !slices.Equal(kinds(got), want) {
		t.Fatalf("after the crash: events %v, want %v", kinds(got), want)
	}

	// An unchanged view says nothing new.
	got = nil
	w.Sample()
	if len(got) != 0 {
		t.Fatalf("unchanged view produced %v", kinds(got))
	}

	// node1 wins the election; the router learns it at t0+3s: discovery
	// counts from node0's last healthy answer, 2 s.
	src.set(shardView(t0.Add(3*time.Second), 1, 2, [3]bool{false, true, true}, seen))
	w.Sample()
	if len(got) != 1 || got[0].Kind != EventLeader || got[0].Node != "node1" || !got[0].Failover || got[0].Term != 2 {
		t.Fatalf("after the election: %+v", got)
	}
	if got[0].Discovery != 2*time.Second {
		t.Errorf("discovery %s, want 2s", got[0].Discovery)
	}

	// node0 comes back as a follower.
	got = nil
	src.set(shardView(t0.Add(4*time.Second), 1, 2, all, seen))
	w.Sample()
	if want := []string{"node_up:node0"}; !slices.Equal(kinds(got), want) || got[0].Message != "node0 is back" {
		t.Fatalf("after the restart: %v %q", kinds(got), got[0].Message)
	}

	// A leader that moves straight to another node (no sample without a
	// leader in between) is a failover timed from the old leader's last
	// answer.
	got = nil
	seen[1] = t0.Add(4500 * time.Millisecond)
	src.set(shardView(t0.Add(5*time.Second), 2, 3, all, seen))
	w.Sample()
	if len(got) != 1 || !got[0].Failover || got[0].Discovery != 500*time.Millisecond {
		t.Fatalf("direct move: %+v", got)
	}

	evs := w.Events(0)
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d, want %d", i, e.Seq, i+1)
		}
	}
	if tail := w.Events(evs[len(evs)-2].Seq); len(tail) != 1 || tail[0].Seq != evs[len(evs)-1].Seq {
		t.Fatalf("Events(after) returned %+v", tail)
	}
}

func TestWatcherRingIsBounded(t *testing.T) {
	src := &scriptedSource{}
	w := New(src, Config{MaxEvents: 3, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	t0 := time.Now()
	for i := range 10 {
		up := [3]bool{i%2 == 0, true, true}
		src.set(shardView(t0.Add(time.Duration(i)*time.Second), 1, 1, up, [3]time.Time{}))
		w.Sample()
	}
	evs := w.Events(0)
	if len(evs) != 3 {
		t.Fatalf("%d events kept, want 3", len(evs))
	}
	if last := evs[2].Seq; last < 10 {
		t.Fatalf("the ring kept old events: %+v", evs)
	}
}

func TestWatcherStartAndClose(t *testing.T) {
	src := &scriptedSource{}
	src.set(shardView(time.Now(), 0, 1, [3]bool{true, true, true}, [3]time.Time{}))
	w := New(src, Config{Interval: time.Millisecond, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	w.Start()
	waitFor(t, 5*time.Second, "the first sample", func() bool { return len(w.Events(0)) == 4 })
	w.Close()
	w.Close() // idempotent

	// Close without Start must not hang.
	New(src, Config{}).Close()
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}
