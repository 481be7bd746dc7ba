package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/freeport"
	"github.com/kvraft/hraftd/kv"
)

// testNode is one in-process store of a test cluster.
type testNode struct {
	*Store
	dir      string
	raftAddr string
}

// testConfig returns a config with fast Raft timing, so elections take
// fractions of a second; still loose enough for -race on a 2-core machine.
func testConfig(t *testing.T, id, dir, raftAddr string, bootstrap bool) Config {
	cfg := DefaultConfig()
	cfg.ID = id
	cfg.Dir = dir
	cfg.RaftBind = raftAddr
	cfg.HTTPAddr = "http-of-" + id + ":80"
	cfg.Bootstrap = bootstrap
	cfg.Logger = testLogger(t)
	cfg.HeartbeatTimeout = 300 * time.Millisecond
	cfg.ElectionTimeout = 300 * time.Millisecond
	cfg.LeaderLeaseTimeout = 150 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
	cfg.DefaultTimeout = 5 * time.Second
	// HRAFTD_TEST_LOG_STORE=wal runs the package's tests on raft-wal.
	if ls := os.Getenv("HRAFTD_TEST_LOG_STORE"); ls != "" {
		cfg.LogStore = ls
	}
	return cfg
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago. Raft needs a fixed address (it is stored in the log), so a node that
// restarts must bind the same one; that is why the tests do not simply keep
// a listener on port 0.
func freeAddr(t *testing.T) string {
	t.Helper()
	ports, err := freeport.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	return freeport.Addr(ports[0])
}

func startNode(t *testing.T, id, dir, raftAddr string, bootstrap bool) *testNode {
	t.Helper()
	s, err := New(testConfig(t, id, dir, raftAddr, bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(); err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	n := &testNode{Store: s, dir: dir, raftAddr: raftAddr}
	t.Cleanup(func() { _ = s.Close() })
	return n
}

// startCluster starts n nodes; node0 bootstraps and the others join it.
func startCluster(t *testing.T, n int) []*testNode {
	t.Helper()
	nodes := []*testNode{startNode(t, "node0", t.TempDir(), freeAddr(t), true)}
	waitForLeader(t, nodes)
	for i := 1; i < n; i++ {
		nd := startNode(t, fmt.Sprintf("node%d", i), t.TempDir(), freeAddr(t), false)
		admit(t, nodes[0], nd)
		nodes = append(nodes, nd)
	}
	return nodes
}

// joiner is what n sends when it joins.
func joiner(n *testNode) kv.Joiner {
	return kv.Joiner{ID: n.ID(), RaftAddr: n.raftAddr, HTTPAddr: n.cfg.HTTPAddr,
		Group: n.Group(), Incarnation: n.Incarnation(), Fresh: !n.Recovered()}
}

// admit does what a join through the HTTP API does: leader takes nd in,
// and promotes it to voter once it has caught up.
func admit(t *testing.T, leader, nd *testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := leader.Join(ctx, joiner(nd))
	if err != nil {
		t.Fatalf("join %s: %v", nd.ID(), err)
	}
	if res.Voter {
		return
	}
	poll(t, 10*time.Second, nd.ID()+" to catch up", func() error {
		if got := nd.fsm.appliedIndex(); got < res.CommitIndex {
			return fmt.Errorf("applied %d of %d", got, res.CommitIndex)
		}
		return nil
	})
	if err := leader.Promote(ctx, nd.ID()); err != nil {
		t.Fatalf("promote %s: %v", nd.ID(), err)
	}
	poll(t, 10*time.Second, nd.ID()+" to be admitted", func() error {
		if !nd.Admitted() {
			return errors.New("not admitted yet")
		}
		return nil
	})
}

// poll calls cond until it returns nil or the deadline passes.
func poll(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		<-tick.C
	}
}

// waitForLeader waits until exactly one of nodes leads and all of them
// agree on it, and returns it.
func waitForLeader(t *testing.T, nodes []*testNode) *testNode {
	t.Helper()
	var leader *testNode
	poll(t, 15*time.Second, "a leader all nodes agree on", func() error {
		leader = nil
		for _, n := range nodes {
			if n.raft.State().String() == "Leader" {
				if leader != nil {
					return errors.New("two leaders")
				}
				leader = n
			}
		}
		if leader == nil {
			return errors.New("no leader")
		}
		for _, n := range nodes {
			if id, _ := n.LeaderHTTP(); id != leader.ID() {
				return fmt.Errorf("%s thinks the leader is %q", n.ID(), id)
			}
		}
		return nil
	})
	return leader
}

func waitForValue(t *testing.T, n *testNode, key, want string) {
	t.Helper()
	poll(t, 10*time.Second, fmt.Sprintf("%s=%s on %s", key, want, n.ID()), func() error {
		v, ok, _, err := n.Get(context.Background(), key, kv.ReadNone)
		if err != nil {
			return err
		}
		if !ok || v != want {
			return fmt.Errorf("got %q (found=%v)", v, ok)
		}
		return nil
	})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSingleNodeSetGetDelete(t *testing.T) {
	n := startNode(t, "node0", t.TempDir(), freeAddr(t), true)
	waitForLeader(t, []*testNode{n})
	ctx := ctxT(t)
	if _, err := n.Set(ctx, map[string]string{"a": "1", "b": "2"}, ""); err != nil {
		t.Fatal(err)
	}
	for _, lvl := range []kv.ReadLevel{kv.ReadNone, kv.ReadWeak, kv.ReadLinearizable} {
		v, ok, _, err := n.Get(ctx, "a", lvl)
		if err != nil || !ok || v != "1" {
			t.Errorf("Get(a, %s) = %q, %v, %v", lvl, v, ok, err)
		}
	}
	if _, err := n.Delete(ctx, "a", ""); err != nil {
		t.Fatal(err)
	}
	if _, ok, _, _ := n.Get(ctx, "a", kv.ReadLinearizable); ok {
		t.Error("a is still there after Delete")
	}
	// Bad input is refused before it reaches the log.
	before := n.raft.LastIndex()
	for _, pairs := range []map[string]string{nil, {"": "v"}, {string(make([]byte, 2000)): "v"}, {"k": "\xff"}, {"\xfe": "v"}} {
		if _, err := n.Set(ctx, pairs, ""); !errors.Is(err, kv.ErrInvalid) && !errors.Is(err, kv.ErrTooLarge) {
			t.Errorf("Set(%q) = %v, want ErrInvalid or ErrTooLarge", pairs, err)
		}
	}
	if after := n.raft.LastIndex(); after != before {
		t.Errorf("invalid writes reached the log: last index %d -> %d", before, after)
	}
}

func TestClusterReplicatesAndSurvivesLeaderLoss(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	ctx := ctxT(t)
	if _, err := leader.Set(ctx, map[string]string{"user1": "batman", "user2": "robin"}, ""); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitForValue(t, n, "user1", "batman")
		waitForValue(t, n, "user2", "robin")
	}

	// A follower refuses writes and strong reads, naming the leader, whose
	// HTTP address it knows from the replicated member map.
	var follower *testNode
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	if _, err := follower.Set(ctx, map[string]string{"x": "y"}, ""); !errors.Is(err, kv.ErrNotLeader) {
		t.Errorf("Set on a follower = %v, want ErrNotLeader", err)
	}
	if _, _, _, err := follower.Get(ctx, "user1", kv.ReadLinearizable); !errors.Is(err, kv.ErrNotLeader) {
		t.Errorf("linearizable Get on a follower = %v, want ErrNotLeader", err)
	}
	if id, addr := follower.LeaderHTTP(); id != leader.ID() || addr != leader.cfg.HTTPAddr {
		t.Errorf("follower's LeaderHTTP() = %q, %q; want %q, %q", id, addr, leader.ID(), leader.cfg.HTTPAddr)
	}

	// Kill the leader: the others elect a new one, which has every write.
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	var rest []*testNode
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	newLeader := waitForLeader(t, rest)
	if v, _, _, err := newLeader.Get(ctx, "user2", kv.ReadLinearizable); err != nil || v != "robin" {
		t.Fatalf("new leader: Get(user2) = %q, %v", v, err)
	}
	if _, err := newLeader.Set(ctx, map[string]string{"user3": "joker"}, ""); err != nil {
		t.Fatalf("write on the new leader: %v", err)
	}

	// Restart the old leader on its data dir: it recovers and catches up.
	back := startNode(t, leader.ID(), leader.dir, leader.raftAddr, false)
	if !back.Recovered() {
		t.Error("restarted node did not find its state")
	}
	waitForValue(t, back, "user1", "batman")
	waitForValue(t, back, "user3", "joker")
	poll(t, 10*time.Second, "equal digests", func() error {
		a, b := newLeader.fsm.digest(), back.fsm.digest()
		if a != b {
			return fmt.Errorf("leader %+v, restarted %+v", a, b)
		}
		return nil
	})
}

func TestJoinRules(t *testing.T) {
	nodes := startCluster(t, 2)
	leader := waitForLeader(t, nodes)
	ctx := ctxT(t)
	other := nodes[1]
	if leader == other {
		other = nodes[0]
	}
	last := leader.raft.LastIndex()
	// Same ID, incarnation and address: a no-op.
	if res, err := leader.Join(ctx, joiner(other)); err != nil || !res.Voter {
		t.Fatalf("Join = %+v, %v; want a voter and no error", res, err)
	}
	if got := leader.raft.LastIndex(); got != last {
		t.Errorf("a join by an existing member changed the log: %d -> %d", last, got)
	}
	// Same ID, new HTTP address: recorded.
	moved := joiner(other)
	moved.HTTPAddr = "moved:81"
	if _, err := leader.Join(ctx, moved); err != nil {
		t.Fatal(err)
	}
	st, err := leader.Status()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range st.Members {
		if m.ID == other.ID() {
			found = true
			if m.HTTPAddr != "moved:81" {
				t.Errorf("member %s HTTP address = %q, want moved:81", m.ID, m.HTTPAddr)
			}
		}
	}
	if !found || len(st.Members) != 2 {
		t.Errorf("members = %+v", st.Members)
	}
	// Remove: unknown IDs are refused, known ones go.
	if err := leader.Remove(ctx, "nobody"); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("Remove(nobody) = %v, want ErrNotFound", err)
	}
	if err := leader.Remove(ctx, other.ID()); err != nil {
		t.Fatal(err)
	}
	st, _ = leader.Status()
	if len(st.Members) != 1 {
		t.Errorf("after Remove, members = %+v", st.Members)
	}
	for _, bad := range [][2]string{{"", "x:1"}, {"id", ""}} {
		if _, err := leader.Join(ctx, kv.Joiner{ID: bad[0], RaftAddr: bad[1]}); !errors.Is(err, kv.ErrInvalid) {
			t.Errorf("Join(%q, %q) = %v, want ErrInvalid", bad[0], bad[1], err)
		}
	}
}

// A leader cut off from both followers must refuse linearizable reads: it
// cannot prove that it still leads, and the majority side may already have
// elected a new leader and accepted writes it has not seen.
func TestLinearizableReadRefusedByIsolatedLeader(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	ctx := ctxT(t)
	if _, err := leader.Set(ctx, map[string]string{"k": "before"}, ""); err != nil {
		t.Fatal(err)
	}
	var peers []string
	var rest []*testNode
	for _, n := range nodes {
		if n != leader {
			peers = append(peers, n.raftAddr)
			rest = append(rest, n)
		}
	}
	leader.Network().Block(peers...)

	// A read right at the cut may still be confirmed by a heartbeat reply
	// that was already in flight; that read is not stale (no other leader
	// can exist yet). Within a lease, though, the cut-off leader must
	// start refusing.
	poll(t, 10*time.Second, "the isolated leader to refuse linearizable reads", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if v, _, _, err := leader.Get(ctx, "k", kv.ReadLinearizable); err == nil {
			return fmt.Errorf("served %q", v)
		}
		return nil
	})
	rctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	// Meanwhile the majority elects a new leader and takes a write.
	newLeader := waitForLeader(t, rest)
	if _, err := newLeader.Set(ctx, map[string]string{"k": "after"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := leader.Get(rctx, "k", kv.ReadLinearizable); err == nil {
		t.Fatal("isolated old leader served a linearizable read after a new leader was elected")
	}
	// Heal: the old leader rejoins as a follower and catches up.
	leader.Network().Heal()
	waitForValue(t, leader, "k", "after")
	waitForLeader(t, nodes)
}

func TestWriteIDSurvivesLeaderChange(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	ctx := ctxT(t)
	if _, err := leader.Set(ctx, map[string]string{"k": "1"}, "write-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Set(ctx, map[string]string{"k": "2"}, "write-2"); err != nil {
		t.Fatal(err)
	}
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	var rest []*testNode
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	nl := waitForLeader(t, rest)
	// A client that never heard back about write-1 resends it to the new
	// leader: it must not undo write-2.
	if _, err := nl.Set(ctx, map[string]string{"k": "1"}, "write-1"); err != nil {
		t.Fatal(err)
	}
	if v, _, _, _ := nl.Get(ctx, "k", kv.ReadLinearizable); v != "2" {
		t.Fatalf("k = %q after resending write-1; want 2", v)
	}
}

func TestSnapshotAndRestartRecoversState(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	n := startNode(t, "node0", dir, addr, true)
	waitForLeader(t, []*testNode{n})
	ctx := ctxT(t)
	for i := range 50 {
		if _, err := n.Set(ctx, map[string]string{fmt.Sprintf("k%02d", i): fmt.Sprint(i)}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if _, err := n.Set(ctx, map[string]string{"after-snapshot": "yes"}, ""); err != nil {
		t.Fatal(err)
	}
	want := n.fsm.digest()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	// Restart with Bootstrap still set, as hraftd's first node is: the
	// existing state wins.
	m := startNode(t, "node0", dir, addr, true)
	waitForLeader(t, []*testNode{m})
	waitForValue(t, m, "after-snapshot", "yes")
	if got := m.fsm.digest(); got.Hash != want.Hash || got.Keys != want.Keys {
		t.Fatalf("after restart digest = %+v, want %+v", got, want)
	}
}

func TestSnapshotAfterSnapshotBytesApplied(t *testing.T) {
	cfg := testConfig(t, "node0", t.TempDir(), freeAddr(t), true)
	cfg.SnapshotBytes = 64 << 10
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	n := &testNode{Store: s}
	waitForLeader(t, []*testNode{n})
	// A few big entries: far below raft's entry-count threshold, above
	// SnapshotBytes.
	value := strings.Repeat("v", 30<<10)
	for i := range 3 {
		if _, err := s.Set(ctxT(t), map[string]string{fmt.Sprint("k", i): value}, ""); err != nil {
			t.Fatal(err)
		}
	}
	poll(t, 10*time.Second, "a snapshot by size", func() error {
		if n := s.fsm.snapshots.Load(); n == 0 {
			return errors.New("no snapshot yet")
		}
		return nil
	})
}

// TestGetManyLinearizable checks the batched read POST /read is built on:
// one barrier for many keys on the leader, the leader's refusal
// elsewhere, and no stale answer from a leader cut off from its group.
func TestGetManyLinearizable(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	ctx := ctxT(t)
	idx, err := leader.Set(ctx, map[string]string{"a": "1", "empty": ""}, "")
	if err != nil {
		t.Fatal(err)
	}
	got, readIdx, err := leader.GetMany(ctx, []string{"a", "empty", "missing", "a"}, kv.ReadLinearizable)
	if err != nil {
		t.Fatalf("GetMany on the leader: %v", err)
	}
	want := map[string]string{"a": "1", "empty": ""}
	if len(got) != len(want) || got["a"] != "1" {
		t.Fatalf("GetMany = %v, want %v (a missing key absent)", got, want)
	}
	if _, ok := got["empty"]; !ok {
		t.Fatalf("GetMany = %v: the key set to \"\" is missing", got)
	}
	if readIdx < idx {
		t.Fatalf("GetMany reflects index %d, before the write it must see (%d)", readIdx, idx)
	}
	if _, _, err := leader.GetMany(ctx, []string{"a", ""}, kv.ReadLinearizable); !errors.Is(err, kv.ErrInvalid) {
		t.Fatalf("GetMany with an empty key: %v, want ErrInvalid", err)
	}
	if _, _, err := leader.GetMany(ctx, nil, kv.ReadLinearizable); !errors.Is(err, kv.ErrInvalid) {
		t.Fatalf("GetMany of no keys: %v, want ErrInvalid", err)
	}

	var peers []string
	var rest []*testNode
	for _, n := range nodes {
		if n != leader {
			peers = append(peers, n.raftAddr)
			rest = append(rest, n)
		}
	}
	for _, lvl := range []kv.ReadLevel{kv.ReadWeak, kv.ReadLinearizable} {
		if _, _, err := rest[0].GetMany(ctx, []string{"a"}, lvl); !errors.Is(err, kv.ErrNotLeader) {
			t.Fatalf("GetMany(%s) on a follower: %v, want ErrNotLeader", lvl, err)
		}
	}

	// No read is tried in the instant after the cut: a heartbeat answer
	// already received when the connections closed can still confirm one
	// round (raft counts it), and such a read is not stale. What must
	// never happen is the read below: a value overwritten by a new leader.
	leader.Network().Block(peers...)
	rctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	newLeader := waitForLeader(t, rest)
	if _, err := newLeader.Set(ctx, map[string]string{"a": "2"}, ""); err != nil {
		t.Fatal(err)
	}
	if v, _, err := leader.GetMany(rctx, []string{"a"}, kv.ReadLinearizable); err == nil {
		t.Fatalf("isolated old leader served a linearizable batched read after a new leader was elected: %v", v)
	}
	if v, _, err := newLeader.GetMany(ctx, []string{"a"}, kv.ReadLinearizable); err != nil || v["a"] != "2" {
		t.Fatalf("GetMany on the new leader = %v, %v; want a=2", v, err)
	}
	leader.Network().Heal()
	waitForValue(t, leader, "a", "2")
	waitForLeader(t, nodes)
}

// A second store on a data directory in use must fail with a message that
// says so, not hang on raft.db's file lock.
func TestOpenRefusesDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, "node0", dir, freeAddr(t), true)
	waitForLeader(t, []*testNode{n})
	s, err := New(testConfig(t, "node0", dir, freeAddr(t), true))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.Open()
	if err == nil {
		_ = s.Close()
		t.Fatal("second Open on the same data directory succeeded")
	}
	if !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("error = %v, want one saying raft.db is locked", err)
	}
	if d := time.Since(start); d > boltOpenTimeout+5*time.Second {
		t.Fatalf("Open took %v to give up", d)
	}
	// The first store is unharmed.
	if _, err := n.Set(ctxT(t), map[string]string{"still": "here"}, ""); err != nil {
		t.Fatalf("first store after the refused open: %v", err)
	}
}
