package diskfault

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/cluster"
)

// A node whose group has no leader (both peers hung) stops within a few
// seconds of SIGTERM, and cleanly (exit 0).
func TestShutdownWhileLeaderlessIsBounded(t *testing.T) {
	c := igStart(t)
	var acked igAcked
	acked.writeMany(t, c, "before", 5)
	nodes := c.Shards[0]
	// Peers that are paused, not dead: connections to them open and then
	// hang, as with a host that stopped answering.
	for _, n := range nodes[1:] {
		if err := n.Pause(); err != nil {
			t.Fatal(err)
		}
	}
	// The survivor notices it has lost its group once its lease runs out.
	cluster.WaitFor(t, 15*time.Second, nodes[0].ID+" to be leaderless", func() error {
		st, err := c.Cluster.Status(t.Context(), nodes[0])
		if err != nil {
			return err
		}
		if st.Leader.ID != "" {
			return fmt.Errorf("%s still sees leader %q", nodes[0].ID, st.Leader.ID)
		}
		return nil
	})
	start := time.Now()
	c.Term(nodes[0].Proc, 8*time.Second)
	t.Logf("%s stopped %s after SIGTERM", nodes[0].ID, time.Since(start).Round(time.Millisecond))
	igNoPanic(t, nodes[0].Proc)
}

// hyRemove removes n from its group through the shard's leader.
func hyRemove(t *testing.T, c *cluster.Test, n *cluster.Node) {
	t.Helper()
	var others []*cluster.Node
	for _, m := range c.Shards[0] {
		if m != n {
			others = append(others, m)
		}
	}
	leader := c.WaitLeader(30*time.Second, others...)
	body := []byte(`{"id":"` + n.ID + `"}`)
	code, out, err := c.Cluster.Do(t.Context(), "POST", leader.URL()+"/remove", body)
	if err != nil || code != 200 {
		t.Fatalf("remove %s through %s: %d %s %v", n.ID, leader.ID, code, out, err)
	}
}

// A follower removed from its group while it runs is never told by raft;
// it stops within seconds, saying it was removed and how to come back.
func TestRemovedFollowerExits(t *testing.T) {
	c := igStart(t)
	var acked igAcked
	acked.writeMany(t, c, "before", 5)
	f := igFollower(t, c)
	hyRemove(t, c, f)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := f.Proc.WaitExit(ctx); err != nil {
		t.Fatalf("%s still running 30 s after its removal: %v\n%s", f.ID, err, c.LogTails(10))
	}
	igNoPanic(t, f.Proc)
	log, err := os.ReadFile(f.Proc.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "removed from its group") || !strings.Contains(string(log), "-join") {
		t.Fatalf("%s's log does not say it was removed and how to come back:\n%s", f.ID, igTail(log, 10))
	}
	if ee := f.Proc.ExitErr(); ee != nil {
		t.Errorf("%s exited with %v, want 0: its removal is an orderly end", f.ID, ee)
	}
	acked.writeMany(t, c, "after", 5)
	acked.checkAll(t, c)
}

// A follower removed while it was down, restarted with its usual command,
// learns from the group's leader that it is no longer a member and stops
// saying so, instead of standing for election for good.
func TestRemovedWhileDownExitsOnRestart(t *testing.T) {
	c := igStart(t)
	var acked igAcked
	acked.writeMany(t, c, "before", 5)
	f := igFollower(t, c)
	c.Kill(f.Proc)
	hyRemove(t, c, f)
	code, took, out := igRunExpectingExit(t, f, 45*time.Second)
	t.Logf("%s exited with code %d after %s", f.ID, code, took.Round(time.Millisecond))
	if code != 0 || !strings.Contains(out, "removed from its group") || strings.Contains(out, "panic") {
		t.Fatalf("exit code %d; want 0 and a message saying it was removed; output:\n%s", code, igTail([]byte(out), 15))
	}
	acked.checkAll(t, c)
}

// A founder restarted with its data at a new Raft address but without
// -join cannot be reached by its group's leader, which sends to the old
// address; it says so and what to do, instead of only election-timeout
// warnings, and the group loses nothing.
func TestMovedFounderWithoutJoinSaysWhy(t *testing.T) {
	c := igStart(t)
	var acked igAcked
	acked.writeMany(t, c, "before", 5)
	var founder *cluster.Node
	for _, n := range c.Shards[0] {
		if n.Join == "" {
			founder = n
		}
	}
	if founder == nil {
		t.Fatal("no founder (a node started without -join)")
	}
	c.Kill(founder.Proc)
	// The others elect a leader first (otherwise the founder, back quickly,
	// may win at its new address, which is fine but not this case).
	var others []*cluster.Node
	for _, n := range c.Shards[0] {
		if n != founder {
			others = append(others, n)
		}
	}
	c.WaitLeader(30*time.Second, others...)
	old := founder.Raft
	founder.Raft = idFreeAddr(t)
	c.Restart(founder.Proc)
	cluster.WaitFor(t, 45*time.Second, founder.ID+" to say why it has no leader", func() error {
		log, err := os.ReadFile(founder.Proc.LogPath())
		if err != nil {
			return err
		}
		if !strings.Contains(string(log), "sends to this node at "+old) || !strings.Contains(string(log), "-join") {
			return fmt.Errorf("not yet; last lines:\n%s", igTail(log, 3))
		}
		return nil
	})
	igNoPanic(t, founder.Proc)
	acked.writeMany(t, c, "after", 5)
	acked.checkAll(t, c)
}
