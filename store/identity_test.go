package store

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

// suffrage returns how the leader's configuration holds id ("" if absent),
// and its address there.
func suffrage(t *testing.T, leader *testNode, id string) (string, string) {
	t.Helper()
	f := leader.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == id {
			return srv.Suffrage.String(), string(srv.Address)
		}
	}
	return "", ""
}

// wipe stops n, deletes its data directory and starts a node with the same
// ID and Raft address on the empty directory.
func wipe(t *testing.T, n *testNode, bootstrap bool) *testNode {
	t.Helper()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(n.dir); err != nil {
		t.Fatal(err)
	}
	return startNode(t, n.ID(), n.dir, n.raftAddr, bootstrap)
}

func TestGroupAndIncarnationsAreReplicated(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	group := leader.Group()
	if len(group) != 32 {
		t.Fatalf("group %q: want 128 random bits in hex", group)
	}
	for _, n := range nodes {
		poll(t, 10*time.Second, n.ID()+" to know its group and be admitted", func() error {
			g, inc := leader.fsm.identity(n.ID())
			switch {
			case n.Group() != group || g != group:
				return fmt.Errorf("group %q (log %q), want %q", n.Group(), g, group)
			case inc != n.Incarnation():
				return fmt.Errorf("recorded incarnation %q, node's %q", inc, n.Incarnation())
			case !n.Admitted():
				return errors.New("not admitted")
			}
			return nil
		})
		if n.Network().Group() != group {
			t.Errorf("%s's raft layer has group %q", n.ID(), n.Network().Group())
		}
	}
}

// A follower that lost its data and comes back (same ID, same address) is
// a new incarnation: it is taken back as a non-voter, votes for nobody
// until it has caught up and been promoted, and then has every key.
func TestWipedFollowerIsNotAVoterUntilCaughtUp(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	ctx := ctxT(t)
	for i := range 50 {
		if _, err := leader.Set(ctx, map[string]string{fmt.Sprintf("k%d", i): "v"}, ""); err != nil {
			t.Fatal(err)
		}
	}
	var follower *testNode
	for _, n := range nodes {
		if n != leader {
			follower = n
		}
	}
	oldInc := follower.Incarnation()
	fresh := wipe(t, follower, false)
	if fresh.Admitted() || fresh.Incarnation() == oldInc || fresh.Group() != "" {
		t.Fatalf("a wiped node: admitted %v, incarnation %q (was %q), group %q", fresh.Admitted(), fresh.Incarnation(), oldInc, fresh.Group())
	}
	res, err := leader.Join(ctx, joiner(fresh))
	if err != nil {
		t.Fatal(err)
	}
	if res.Voter || res.Group != leader.Group() {
		t.Fatalf("join of a wiped member = %+v; want a non-voter of group %s", res, leader.Group())
	}
	if s, _ := suffrage(t, leader, fresh.ID()); s != raft.Nonvoter.String() {
		t.Fatalf("the wiped member is %q in the configuration, want Nonvoter", s)
	}
	if fresh.Ready() == nil {
		t.Error("a node not yet admitted reports ready")
	}
	admit(t, leader, fresh)
	if s, _ := suffrage(t, leader, fresh.ID()); s != raft.Voter.String() {
		t.Fatalf("after promotion the member is %q, want Voter", s)
	}
	waitForValue(t, fresh, "k49", "v")
	if fresh.Group() != leader.Group() {
		t.Fatalf("the rejoined node's group %q, want %q", fresh.Group(), leader.Group())
	}
}

func TestJoinRefusesAnotherGroup(t *testing.T) {
	nodes := startCluster(t, 1)
	j := kv.Joiner{ID: "x", RaftAddr: freeAddr(t), Group: "0123", Incarnation: "ab"}
	if _, err := nodes[0].Join(ctxT(t), j); !errors.Is(err, kv.ErrForeign) {
		t.Fatalf("Join from another group = %v, want ErrForeign", err)
	}
	if s, _ := suffrage(t, nodes[0], "x"); s != "" {
		t.Fatalf("the foreign node is in the configuration as %s", s)
	}
}

// The same node (same incarnation) at a new Raft address keeps its vote:
// its address is updated in place, not removed and added again.
func TestAddressChangeIsUpdatedInPlace(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	var f *testNode
	for _, n := range nodes {
		if n != leader {
			f = n
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// hashicorp/raft v1.8.0 reads a peer's address without its lock when
	// it logs a failed pipelined send (replication.go:521), which races
	// with the in-place update below under the race detector. A write
	// committed without f first makes the leader find f gone and leave
	// the pipeline, so that no such send is in flight during the update.
	if _, err := leader.Set(ctxT(t), map[string]string{"before": "move"}, ""); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n != leader && n != f {
			waitForValue(t, n, "before", "move")
		}
	}
	moved := startNode(t, f.ID(), f.dir, freeAddr(t), false)
	res, err := leader.Join(ctxT(t), joiner(moved))
	if err != nil {
		t.Fatal(err)
	}
	s, addr := suffrage(t, leader, moved.ID())
	if !res.Voter || s != raft.Voter.String() || addr != moved.raftAddr {
		t.Fatalf("after the move: result %+v, configuration %s at %s; want a voter at %s", res, s, addr, moved.raftAddr)
	}
	if !moved.Admitted() {
		t.Fatal("a node whose data survived is not admitted")
	}
	if _, err := leader.Set(ctxT(t), map[string]string{"after": "move"}, ""); err != nil {
		t.Fatal(err)
	}
	waitForValue(t, moved, "after", "move")
}

// A founder that lost its data and is started again with its original
// command founds a new group with a new ID: the old members refuse its
// Raft connections, so it can never pull them into its group, and they go
// on with their data.
func TestWipedFounderFoundsAGroupNobodyAccepts(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	if _, err := leader.Set(ctxT(t), map[string]string{"kept": "yes"}, ""); err != nil {
		t.Fatal(err)
	}
	old := leader.Group()
	founder := nodes[0]
	rest := []*testNode{nodes[1], nodes[2]}
	impostor := wipe(t, founder, true)
	if impostor.Group() == old || impostor.Group() == "" {
		t.Fatalf("the wiped founder's group %q, the old one %q", impostor.Group(), old)
	}
	newLeader := waitForLeader(t, rest)
	waitForValue(t, newLeader, "kept", "yes")
	poll(t, 10*time.Second, "the old members to refuse the impostor", func() error {
		for _, n := range rest {
			st, err := n.Status()
			if err != nil {
				return err
			}
			if _, ok := st.Refused[impostor.raftAddr]; ok {
				return nil
			}
		}
		return fmt.Errorf("no refusal recorded yet")
	})
	if _, err := newLeader.Set(ctxT(t), map[string]string{"after": "impostor"}, ""); err != nil {
		t.Fatal(err)
	}
	for _, n := range rest {
		if n.Group() != old {
			t.Errorf("%s's group changed to %q", n.ID(), n.Group())
		}
		waitForValue(t, n, "after", "impostor")
	}
	if _, ok, _, _ := impostor.Get(ctxT(t), "kept", kv.ReadNone); ok {
		t.Fatal("the impostor has the old group's data")
	}
}

// A leader that removes itself says so through Done, instead of sitting
// in state Shutdown; the members that stay are not done.
func TestRemovedLeaderIsDone(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	if err := leader.Remove(ctxT(t), leader.ID()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-leader.Done():
	case <-time.After(15 * time.Second):
		t.Fatalf("%s not done 15 s after its removal (state %s)", leader.ID(), leader.raft.State())
	}
	if r := leader.DoneReason(); !strings.Contains(r, "removed from its group") || !strings.Contains(r, "-join") {
		t.Fatalf("reason %q", r)
	}
	for _, n := range nodes {
		if n == leader {
			continue
		}
		select {
		case <-n.Done():
			t.Fatalf("%s is done too: %s", n.ID(), n.DoneReason())
		default:
		}
	}
}
