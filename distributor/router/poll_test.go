package router

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
)

func TestPollingFindsTheLeaderWithoutTraffic(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 1)
	cfg := testConfig(t, g.addrs())
	cfg.PollInterval = 10 * time.Millisecond
	r := startRouter(t, cfg)
	waitFor(t, 5*time.Second, "n1 to be seen leading", func() bool {
		l := r.Shard(0).Leader
		return l != nil && l.ID == "n1"
	})
	g.setLeader(2)
	waitFor(t, 5*time.Second, "n2 to be seen leading", func() bool {
		l := r.Shard(0).Leader
		return l != nil && l.ID == "n2"
	})
	if c := r.Status().Counters; c.LeaderChanges != 1 {
		t.Fatalf("leader changes = %d, want 1", c.LeaderChanges)
	}
}

// TestLeaderSlowToAnswerStatusIsKept: a leader whose /status times out
// under load, while no other node claims to lead, stays the shard's
// leader; requests keep going to it without retries.
func TestLeaderSlowToAnswerStatusIsKept(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	if _, err := r.Set(context.Background(), map[string]string{"a": "1"}, ""); err != nil {
		t.Fatal(err)
	}
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path != "/status" {
			return false
		}
		g.hang(req)
		return true
	})
	r.refresh(context.Background(), r.shards[0])
	if st := r.Shard(0); st.Leader == nil || st.Leader.ID != "n0" {
		t.Fatalf("leader after a poll that timed out on it = %+v, want n0 kept", st.Leader)
	}
	retries := r.Status().Counters.Retries
	if _, err := r.Set(context.Background(), map[string]string{"b": "2"}, ""); err != nil {
		t.Fatal(err)
	}
	if got := r.Status().Counters.Retries; got != retries {
		t.Fatalf("%d retries, want none", got-retries)
	}
}

// TestStatusShowsKeyCounts checks that Status carries the parts of a
// node's answer the dashboard shows (its key count, its log), read from a
// real poll.
func TestStatusShowsKeyCounts(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		me := api.Server{ID: "solo", Address: "raft-solo", HTTP: srv.Listener.Addr().String()}
		_ = json.NewEncoder(w).Encode(api.Status{Me: me, Leader: me, State: "Leader", Term: 4,
			LastLogIndex: 9, CommitIndex: 9, AppliedIndex: 8, LastContact: "0s", Digest: api.Digest{Keys: 7}})
	}))
	t.Cleanup(srv.Close)
	cfg := DefaultConfig()
	cfg.Shards = [][]string{{srv.Listener.Addr().String()}}
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(r.Close)
	waitFor(t, 5*time.Second, "the first poll", func() bool {
		v := r.Status()
		return v.Shards[0].Leader != nil
	})
	n := r.Status().Shards[0].Nodes[0]
	if n.Keys != 7 || n.LastLogIndex != 9 || n.AppliedIndex != 8 || n.ID != "solo" || !n.Leader {
		t.Fatalf("view %+v", n)
	}
}

// TestHealthyFollowerShowsNoProblem: a follower that knows its leader is
// healthy, so the status views show no problem for it; a node that knows
// no leader, or is down, still shows why.
func TestHealthyFollowerShowsNoProblem(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	dead := deadAddr(t)
	r := startRouter(t, testConfig(t, append(g.addrs(), dead)))
	r.refresh(context.Background(), r.shards[0])
	st := r.Shard(0)
	if st.Nodes[0].Problem != "" || !st.Nodes[0].Leader {
		t.Errorf("leader shown as %+v", st.Nodes[0])
	}
	for _, n := range st.Nodes[1:3] {
		if n.Problem != "" || n.State != "Follower" {
			t.Errorf("healthy follower shown with a problem: %+v", n)
		}
	}
	if p := st.Nodes[3].Problem; p != "connection refused" {
		t.Errorf("node never started shown with problem %q, want connection refused", p)
	}
	// What an error reports about a follower still says why it could
	// not serve the request.
	if p := r.shards[0].nodes[1].report().Problem; !strings.Contains(p, "its leader is n0") {
		t.Errorf("follower reported as %q in errors", p)
	}

	g.setLeader(-1)
	r.refresh(context.Background(), r.shards[0])
	if p := r.Shard(0).Nodes[1].Problem; !strings.Contains(p, "knows no leader") {
		t.Errorf("follower without a leader shown with problem %q", p)
	}
}

// TestUnreachableShardIsWarned: a shard none of whose nodes answers for a
// few poll rounds gets one warning naming it, its nodes and what to do; a
// shard that answers gets none.
func TestUnreachableShardIsWarned(t *testing.T) {
	g := newFakeGroup(t, "a", 1, 0)
	dead := []string{deadAddr(t), deadAddr(t)}
	var logs syncBuffer
	cfg := testConfig(t, g.addrs(), dead)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	cfg.PollInterval = 5 * time.Millisecond
	r := startRouter(t, cfg)
	waitFor(t, 5*time.Second, "the warning", func() bool { return strings.Contains(logs.String(), "shard unreachable") })
	waitFor(t, 5*time.Second, "more poll rounds", func() bool { return r.Status().Counters.Refreshes >= 4*silentRoundsBeforeWarning })
	out := logs.String()
	if n := strings.Count(out, "shard unreachable"); n != 1 {
		t.Fatalf("%d warnings, want one per outage:\n%s", n, out)
	}
	line := out[strings.Index(out, "shard unreachable"):]
	line = line[:strings.IndexByte(line, '\n')]
	for _, want := range []string{"shard=1", dead[0] + ": connection refused", dead[1] + ": connection refused", "start an hraftd", "-shard"} {
		if !strings.Contains(line, want) {
			t.Errorf("warning %q does not mention %q", line, want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers, for logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A node that reports damaged data shows it, whatever its Raft state.
func TestDamagedNodeShowsItsDamage(t *testing.T) {
	n := &node{addr: "127.0.0.1:1"}
	n.update(api.Status{Me: api.Server{ID: "n1"}, State: "Damaged", Leader: api.Server{ID: "n0"},
		Damage: &api.Damage{File: "state machine", Problem: "the group's replica check found this node's state different"}}, nil)
	ns := n.snapshot(false)
	if !ns.Damaged || !strings.HasPrefix(ns.Problem, "damaged: the group's replica check") {
		t.Fatalf("damaged node shown as %+v", ns)
	}
}
