package system

import (
	"fmt"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/cluster"
)

// TestWalkthrough follows the hraftd README with its commands: one node,
// two more joining it, replication, kill -9 of the leader, re-election,
// and the old leader restarted on its data directory catching up. (Long:
// it follows the walkthrough step by step, top to bottom.)
func TestWalkthrough(t *testing.T) {
	c := newCluster(t)

	// hraftd -id node0 ~/node0: no -join, so it founds the group.
	node0 := c.AddNode("node0", "")
	c.WaitLeader(15*time.Second, node0)
	mustSet(t, node0, map[string]string{"user1": "batman"})
	if v, found, _, err := get(node0, "user1", "none"); err != nil || !found || v != "batman" {
		t.Fatalf("read back user1 on node0 = %q (found=%v, err=%v), want batman", v, found, err)
	}

	// The README joins with "-join :11000"; node2 uses the full address.
	node1 := c.AddNode("node1", ":"+port(node0.HTTP))
	node2 := c.AddNode("node2", node0.HTTP)
	all := []*cluster.Node{node0, node1, node2}
	leader := c.WaitLeader(20*time.Second, all...)
	cluster.WaitFor(t, 20*time.Second, "node1 and node2 to be followers", func() error {
		st, err := c.Cluster.Status(t.Context(), leader)
		if err != nil {
			return err
		}
		if len(st.Followers) != 2 {
			return fmt.Errorf("followers = %+v", st.Followers)
		}
		return nil
	})
	for _, n := range all {
		waitForValue(t, n, "user1", "batman")
		c.WaitReady(15*time.Second, n)
	}

	mustSet(t, leader, map[string]string{"user2": "robin"})
	for _, n := range all {
		waitForValue(t, n, "user2", "robin")
	}

	// kill -9 the leader, found through /status (me.id == leader.id).
	c.Kill(leader.Proc)
	survivors := others(all, leader)
	newLeader := c.WaitLeader(30*time.Second, survivors...)
	follower := others(survivors, newLeader)[0]
	t.Logf("killed %s; %s was elected; %s follows", leader.ID, newLeader.ID, follower.ID)

	// A write sent to the follower is forwarded to the new leader.
	if servedBy := mustSet(t, follower, map[string]string{"user3": "alfred"}); servedBy != newLeader.ID {
		t.Errorf("write through %s was served by %q, want the leader %s", follower.ID, servedBy, newLeader.ID)
	}
	for _, n := range survivors {
		waitForValue(t, n, "user3", "alfred")
	}
	if v, found, servedBy, err := get(follower, "user3", "linearizable"); err != nil || !found || v != "alfred" || servedBy != newLeader.ID {
		t.Errorf("linearizable read of user3 through %s = %q (found=%v, served by %q, err=%v), want alfred from %s",
			follower.ID, v, found, servedBy, err, newLeader.ID)
	}

	// Restart the old leader with the same command. node0 founded the
	// group without -join; the README says passing -join on a restart is
	// harmless, so a restarted node0 is given one to prove it.
	if leader.Join == "" {
		leader.Join = follower.HTTP
	}
	c.Restart(leader.Proc)
	waitForValue(t, leader, "user3", "alfred")
	waitForValue(t, leader, "user1", "batman")
	c.WaitReady(15*time.Second, leader)
	current := c.WaitLeader(30*time.Second, all...)
	cluster.WaitFor(t, 20*time.Second, fmt.Sprintf("%s's digest to match the leader's", leader.ID), func() error {
		ls, err := c.Cluster.Status(t.Context(), current)
		if err != nil {
			return err
		}
		rs, err := c.Cluster.Status(t.Context(), leader)
		if err != nil {
			return err
		}
		if rs.Digest != ls.Digest {
			return fmt.Errorf("%s has %+v, leader %s has %+v", leader.ID, rs.Digest, current.ID, ls.Digest)
		}
		return nil
	})
	if st := c.Status(current); len(st.Followers) != 2 {
		t.Errorf("after the restart the leader has followers %+v, want the other two", st.Followers)
	}

	// A leader stopped with SIGTERM exits 0, and the others carry on.
	c.Term(current.Proc, 15*time.Second)
	rest := others(all, current)
	c.WaitLeader(30*time.Second, rest...)
	mustSet(t, rest[0], map[string]string{"user4": "joker"})
	for _, n := range rest {
		waitForValue(t, n, "user4", "joker")
	}
}

// TestSIGTERMStopsCleanly stops a node with SIGTERM, expects exit status 0
// within a few seconds, and restarts it on the same data directory.
func TestSIGTERMStopsCleanly(t *testing.T) {
	c := newCluster(t)
	n := c.AddNode("solo", "")
	c.WaitLeader(15*time.Second, n)
	mustSet(t, n, map[string]string{"k": "v", "k2": "v2"})

	c.Term(n.Proc, 5*time.Second)
	c.Restart(n.Proc)
	c.WaitLeader(15*time.Second, n)
	waitForValue(t, n, "k", "v")
	waitForValue(t, n, "k2", "v2")
}
