package diskfault

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/cluster"
	"github.com/kvraft/hraftd/internal/freeport"
)

// Scenarios of nodes that come back changed: an empty data directory, or a
// new Raft address. Each records every acknowledged write and reads all of
// them back at level=linearizable at the end.

// idWipe kills n and deletes its data directory.
func idWipe(t *testing.T, c *cluster.Test, n *cluster.Node) {
	t.Helper()
	c.Kill(n.Proc)
	if err := os.RemoveAll(n.Dir); err != nil {
		t.Fatal(err)
	}
}

// idNoLeaderFor checks, every 50 ms for d, that none of nodes reports
// itself leader: an observation over a fixed window, since what is checked
// is that something does not happen.
func idNoLeaderFor(t *testing.T, c *cluster.Test, d time.Duration, nodes ...*cluster.Node) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	end := time.After(d)
	for {
		select {
		case <-end:
			return
		case <-tick.C:
		}
		for _, n := range nodes {
			st, err := c.Cluster.Status(t.Context(), n)
			if err == nil && st.State == "Leader" {
				t.Fatalf("%s became leader (term %d)", n.ID, st.Term)
			}
		}
	}
}

// idFreeAddr is a free 127.0.0.1 address, for a node that moves.
func idFreeAddr(t *testing.T) string {
	t.Helper()
	ports, err := freeport.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	return freeport.Addr(ports[0])
}

// idWaitAdmitted waits until n reports itself admitted, in the group of
// its shard's other members.
func idWaitAdmitted(t *testing.T, c *cluster.Test, n *cluster.Node, group string) {
	t.Helper()
	cluster.WaitFor(t, 60*time.Second, n.ID+" to be admitted", func() error {
		st, err := c.Cluster.Status(t.Context(), n)
		if err != nil {
			return err
		}
		if !st.Admitted || st.Group != group {
			return fmt.Errorf("admitted %v, group %q (want %q)", st.Admitted, st.Group, group)
		}
		return nil
	})
}

// A voter whose disk was wiped comes back, with its usual command, while
// its group has no leader and a stale member (paused while the others
// acknowledged writes) runs. Without incarnations the wiped node votes for
// the stale one, which then overwrites acknowledged entries. Here it votes
// for nobody until its group has taken it back.
func TestIdentityWipedVoterDoesNotElectAStaleMember(t *testing.T) {
	c := igStart(t)
	var acked igAcked
	acked.writeMany(t, c, "before", 10)
	leader := c.WaitLeader(30*time.Second, c.Shards[0]...)
	var wiped, stale *cluster.Node
	for _, n := range c.Shards[0] {
		if n != leader && wiped == nil {
			wiped = n
		} else if n != leader {
			stale = n
		}
	}
	group := c.Status(leader).Group
	if err := stale.Pause(); err != nil {
		t.Fatal(err)
	}
	acked.writeMany(t, c, "while-stale", 10) // the leader and the wiped-to-be node have them
	c.Kill(leader.Proc)
	idWipe(t, c, wiped)
	if wiped.Join == "" {
		wiped.Join = leader.HTTP // its usual command names the founder
	}
	c.Restart(wiped.Proc)
	if err := stale.Resume(); err != nil {
		t.Fatal(err)
	}
	idNoLeaderFor(t, c, 3*time.Second, wiped, stale)

	c.Restart(leader.Proc)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	if _, err := c.WaitHealthy(ctx, 0); err != nil {
		t.Fatal(err)
	}
	idWaitAdmitted(t, c, wiped, group)
	acked.checkAll(t, c)
	c.WaitConverged(60*time.Second, 0)
	for _, n := range c.Shards[0] {
		igNoPanic(t, n.Proc)
	}
}

// The founder loses its disk and is started again with its original
// command (no -join) while the distributor keeps writing. It founds a new
// group, which the old members refuse and the distributor never routes
// to: every acknowledged write survives, and the impostor holds none.
// (Long: one scenario with real processes, step after step.)
func TestIdentityWipedFounderGetsNoWrites(t *testing.T) {
	c := igStart(t)
	var acked igAcked
	acked.writeMany(t, c, "before", 10)
	founder := c.Shards[0][0]
	group := c.Status(founder).Group

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var n atomic.Int64
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			acked.write(t, c, fmt.Sprintf("during-%04d", i), "v")
			n.Add(1)
		}
	})
	idWipe(t, c, founder)
	c.Restart(founder.Proc) // founder.Join is "": it founds a new group
	cluster.WaitFor(t, 30*time.Second, "the impostor to lead its own group", func() error {
		st, err := c.Cluster.Status(t.Context(), founder)
		if err != nil {
			return err
		}
		if st.State != "Leader" || st.Group == group || st.Group == "" {
			return fmt.Errorf("state %s, group %q", st.State, st.Group)
		}
		return nil
	})
	// The real group without a leader for a while (one of its two live
	// members paused): the impostor is then the only node at the shard's
	// addresses that claims to lead, the moment it would be routed to.
	c.WaitLeader(30*time.Second, c.Shards[0][1], c.Shards[0][2])
	if err := c.Shards[0][2].Pause(); err != nil {
		t.Fatal(err)
	}
	cluster.WaitFor(t, 15*time.Second, c.Shards[0][1].ID+" to lose its leader", func() error {
		st, err := c.Cluster.Status(t.Context(), c.Shards[0][1])
		if err != nil {
			return err
		}
		if st.State == "Leader" || st.Leader.ID != "" {
			return fmt.Errorf("state %s, leader %q", st.State, st.Leader.ID)
		}
		return nil
	})
	idNoLeaderFor(t, c, 3*time.Second, c.Shards[0][1])
	if err := c.Shards[0][2].Resume(); err != nil {
		t.Fatal(err)
	}
	before := n.Load()
	cluster.WaitFor(t, 30*time.Second, "writes acknowledged while the impostor leads", func() error {
		if n.Load() < before+20 {
			return fmt.Errorf("%d writes since", n.Load()-before)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if st := c.Status(founder); st.Digest.Keys != 0 {
		t.Errorf("the impostor holds %d keys: the distributor routed writes to it", st.Digest.Keys)
	}
	var ds struct {
		Shards []struct {
			Group string
			Nodes []struct {
				HTTP    string
				Foreign bool
			}
		}
	}
	if err := c.Cluster.GetJSON(t.Context(), c.Dist.URL()+"/status", &ds); err != nil {
		t.Fatal(err)
	}
	foreign := false
	for _, nd := range ds.Shards[0].Nodes {
		foreign = foreign || nd.HTTP == founder.HTTP && nd.Foreign
	}
	if ds.Shards[0].Group != group || !foreign {
		t.Errorf("distributor: shard group %q (want %q), founder foreign %v", ds.Shards[0].Group, group, foreign)
	}
	acked.checkAll(t, c)

	// Then the right way back: wiped again, started with -join.
	idWipe(t, c, founder)
	founder.Join = c.Shards[0][1].HTTP
	c.Restart(founder.Proc)
	idWaitAdmitted(t, c, founder, group)
	c.WaitConverged(60*time.Second, 0)
	acked.checkAll(t, c)
}

// A node restarted with the same ID and data at a new Raft address keeps
// its vote: its group updates its address in place.
func TestIdentityNewRaftAddressIsUpdatedInPlace(t *testing.T) {
	c := igStart(t)
	var acked igAcked
	acked.writeMany(t, c, "before", 10)
	n := igFollower(t, c)
	c.Kill(n.Proc)
	old := n.Raft
	n.Raft = idFreeAddr(t)
	if n.Join == "" {
		n.Join = c.Shards[0][1].HTTP
	}
	c.Restart(n.Proc)
	cluster.WaitFor(t, 60*time.Second, n.ID+" to be a voter at its new address", func() error {
		leader := c.WaitLeader(30*time.Second, c.Shards[0]...)
		st, err := c.Cluster.Status(t.Context(), leader)
		if err != nil {
			return err
		}
		for _, m := range append(st.Followers, st.Leader) {
			if m.ID == n.ID && m.Address == n.Raft {
				return nil
			}
		}
		return fmt.Errorf("members %+v", append(st.Followers, st.Leader))
	})
	t.Logf("%s moved from %s to %s", n.ID, old, n.Raft)
	acked.writeMany(t, c, "after", 10)
	acked.checkAll(t, c)
	c.WaitConverged(60*time.Second, 0)
	if !c.Status(n).Admitted {
		t.Error("the moved node is not admitted")
	}
}

// A node restarted at a new HTTP address (with -join) that then leads its
// group is followed by the distributor, which was only given the old
// address: the group replicates the new one and its members report it.
func TestIdentityLeaderAtNewHTTPAddressIsFollowed(t *testing.T) {
	c := igStart(t)
	var acked igAcked
	acked.writeMany(t, c, "before", 5)
	n := igFollower(t, c)
	c.Kill(n.Proc)
	n.HTTP = idFreeAddr(t)
	for _, m := range c.Shards[0] {
		if m != n && n.Join == "" {
			n.Join = m.HTTP
		}
	}
	c.Restart(n.Proc)
	idWaitAdmitted(t, c, n, c.Status(c.Shards[0][0]).Group)
	igMakeLeader(t, c, n)
	cluster.WaitFor(t, 30*time.Second, "the distributor to follow "+n.ID+" to "+n.HTTP, func() error {
		var st struct {
			Shards []struct {
				Leader *struct{ ID, HTTP string }
			}
		}
		if err := c.Cluster.GetJSON(t.Context(), c.Dist.URL()+"/status", &st); err != nil {
			return err
		}
		if l := st.Shards[0].Leader; l == nil || l.HTTP != n.HTTP {
			return fmt.Errorf("distributor's leader %+v", l)
		}
		return nil
	})
	acked.writeMany(t, c, "after", 10)
	acked.checkAll(t, c)
}
