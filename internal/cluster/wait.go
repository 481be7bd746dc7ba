package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/kv"
)

// pollEvery is how often a wait checks its condition.
const pollEvery = 50 * time.Millisecond

// Poll calls cond every 50 ms until it returns nil, or fails once timeout
// has passed or ctx has ended, with what it waited for and cond's last
// error.
func Poll(ctx context.Context, timeout time.Duration, what string, cond func() error) error {
	return poll(ctx, timeout, what, nil, cond)
}

// poll is Poll that also fails at once, with the end of its log, if a
// process of watch is not running: waiting longer cannot help, and its
// log nearly always says why.
func poll(ctx context.Context, timeout time.Duration, what string, watch []*Proc, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		for _, p := range watch {
			if !p.Running() {
				return fmt.Errorf("waiting for %s: %w", what, p.exitedError())
			}
		}
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			why := ctx.Err()
			if errors.Is(why, context.DeadlineExceeded) {
				why = fmt.Errorf("gave up after %s", timeout)
			}
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, why, err)
		case <-t.C:
		}
	}
}

func procs(nodes []*Node) []*Proc {
	out := make([]*Proc, len(nodes))
	for i, n := range nodes {
		out[i] = n.Proc
	}
	return out
}

// WaitLeader waits until every one of nodes names the same leader in GET
// /status, and that leader is one of them and says it leads; it returns
// the leader. Give it a shard's running nodes (after a kill, the
// survivors) or a single founder.
func (c *Cluster) WaitLeader(ctx context.Context, nodes ...*Node) (*Node, error) {
	var leader *Node
	err := poll(ctx, c.cfg.Timeout, "a leader that "+ids(nodes)+" agree on", procs(nodes), func() error {
		leader = nil
		leaderID := ""
		for _, n := range nodes {
			st, err := c.Status(ctx, n)
			switch {
			case err != nil:
				return err
			case st.Leader.ID == "":
				return fmt.Errorf("%s knows no leader", n.ID)
			case leaderID != "" && st.Leader.ID != leaderID:
				return fmt.Errorf("%s says %s leads, another says %s", n.ID, st.Leader.ID, leaderID)
			}
			leaderID = st.Leader.ID
			if st.Me.ID == st.Leader.ID {
				if st.State != "Leader" {
					return fmt.Errorf("%s is named leader but is in state %s", n.ID, st.State)
				}
				leader = n
			}
		}
		if leader == nil {
			return fmt.Errorf("the agreed leader %s is not among the nodes asked", leaderID)
		}
		return nil
	})
	return leader, err
}

func ids(nodes []*Node) string {
	s := ""
	for i, n := range nodes {
		if i > 0 {
			s += ","
		}
		s += n.ID
	}
	return "[" + s + "]"
}

// WaitHealthy waits until every node of shard s runs and answers, all
// agree on one leader that is one of them, each sees all the shard's
// members, and each is ready (GET /readyz: it knows the leader and has
// applied what it knows is committed). It returns the leader.
func (c *Cluster) WaitHealthy(ctx context.Context, s int) (*Node, error) {
	nodes := c.Shards[s]
	var leader *Node
	err := poll(ctx, c.cfg.Timeout, fmt.Sprintf("shard %d to be healthy", s), procs(nodes), func() error {
		leader = nil
		var leaderID string
		for _, n := range nodes {
			st, err := c.Status(ctx, n)
			switch {
			case err != nil:
				return err
			case st.Leader.ID == "":
				return fmt.Errorf("%s knows no leader", n.ID)
			case leaderID == "":
				leaderID = st.Leader.ID
			case leaderID != st.Leader.ID:
				return fmt.Errorf("nodes disagree on the leader (%s, %s)", leaderID, st.Leader.ID)
			}
			if len(st.Followers)+1 != len(nodes) {
				return fmt.Errorf("%s sees %d followers", n.ID, len(st.Followers))
			}
			if st.Me.ID == st.Leader.ID {
				leader = n
			}
			if err := c.ready(ctx, n); err != nil {
				return err
			}
		}
		if leader == nil {
			return fmt.Errorf("the agreed leader %s does not say it leads", leaderID)
		}
		return nil
	})
	return leader, err
}

// WaitReady waits until n's GET /readyz answers 200: it knows its leader
// and has applied what it knows is committed.
func (c *Cluster) WaitReady(ctx context.Context, n *Node) error {
	return poll(ctx, c.cfg.Timeout, n.ID+" to be ready", []*Proc{n.Proc}, func() error {
		return c.ready(ctx, n)
	})
}

func (c *Cluster) ready(ctx context.Context, n *Node) error {
	if err := c.getOK(ctx, n.URL()+"/readyz"); err != nil {
		return fmt.Errorf("%s not ready: %w", n.ID, err)
	}
	return nil
}

// WaitFollower waits until a node of shard s follows a leader it knows,
// and returns it.
func (c *Cluster) WaitFollower(ctx context.Context, s int) (*Node, error) {
	var found *Node
	err := poll(ctx, c.cfg.Timeout, fmt.Sprintf("a follower in shard %d", s), nil, func() error {
		for _, n := range c.Shards[s] {
			st, err := c.Status(ctx, n)
			if err == nil && st.State == "Follower" && st.Leader.ID != "" && st.Leader.ID != st.Me.ID {
				found = n
				return nil
			}
		}
		return errors.New("no node is a follower with a known leader")
	})
	return found, err
}

// WaitConverged waits until the nodes of shard s have applied the same
// index, and then requires their digests (applied index, key count, hash
// of the whole map) to be equal: replicas that applied the same log hold
// the same data. It returns the common digest.
func (c *Cluster) WaitConverged(ctx context.Context, s int) (api.Digest, error) {
	nodes := c.Shards[s]
	var ds []api.Digest
	err := poll(ctx, c.cfg.Timeout, fmt.Sprintf("shard %d to reach one applied index", s), nil, func() error {
		ds = ds[:0]
		for _, n := range nodes {
			st, err := c.Status(ctx, n)
			if err != nil {
				return err
			}
			ds = append(ds, st.Digest)
		}
		for _, d := range ds[1:] {
			if d.AppliedIndex != ds[0].AppliedIndex {
				return fmt.Errorf("applied indexes differ: %v", ds)
			}
		}
		return nil
	})
	if err != nil {
		return api.Digest{}, fmt.Errorf("shard %d: %w", s, err)
	}
	for i, d := range ds[1:] {
		if d != ds[0] {
			return api.Digest{}, fmt.Errorf("shard %d DIVERGED at applied index %d: %s has %+v, %s has %+v",
				s, d.AppliedIndex, nodes[0].ID, ds[0], nodes[i+1].ID, d)
		}
	}
	return ds[0], nil
}

// WaitApplied waits until n has applied index.
func (c *Cluster) WaitApplied(ctx context.Context, n *Node, index uint64) error {
	return poll(ctx, c.cfg.Timeout, fmt.Sprintf("%s to apply index %d", n.ID, index), []*Proc{n.Proc}, func() error {
		st, err := c.Status(ctx, n)
		if err != nil {
			return err
		}
		if st.AppliedIndex < index {
			return fmt.Errorf("applied %d", st.AppliedIndex)
		}
		return nil
	})
}

// WaitKey waits until n itself (level=none: no forwarding, no leader
// round) holds key. Entries apply in log order, so the last key of a
// load arriving on a follower means all of it has.
func (c *Cluster) WaitKey(ctx context.Context, n *Node, key string) error {
	u := n.URL() + "/key/" + url.PathEscape(key) + "?level=" + string(kv.ReadNone)
	return poll(ctx, c.cfg.Timeout, n.ID+" to apply key "+key, []*Proc{n.Proc}, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := c.client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if found := resp.Header.Get(api.HeaderFound); resp.StatusCode != http.StatusOK || found != "true" {
			return fmt.Errorf("HTTP %d, found=%s", resp.StatusCode, found)
		}
		return nil
	})
}

// Quiesce waits until every node of every shard has applied all that its
// shard's leader had committed when the wait began. A benchmark calls it
// between runs so that a run is not charged for the previous run's tail:
// a follower still catching up on entries committed without it (a quorum
// is the leader and one follower) would serve the next run's reads while
// applying them.
func (c *Cluster) Quiesce(ctx context.Context) error {
	for s := range c.Shards {
		leader, err := c.WaitLeader(ctx, c.Shards[s]...)
		if err != nil {
			return err
		}
		lst, err := c.Status(ctx, leader)
		if err != nil {
			return err
		}
		for _, n := range c.Shards[s] {
			if err := c.WaitApplied(ctx, n, lst.CommitIndex); err != nil {
				return err
			}
		}
	}
	return nil
}
