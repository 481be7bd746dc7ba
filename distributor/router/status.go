package router

import (
	"sync/atomic"
	"time"
)

// Status is the router's view of every shard plus its counters, as served by
// the distributor's GET /status.
type Status struct {
	Shards   []ShardStatus `json:"shards"`
	Counters Counters      `json:"counters"`
	// Timeout and Poll are the configured request deadline and poll
	// interval, so that a reader knows how stale the view can be.
	Timeout string `json:"timeout"`
	Poll    string `json:"poll"`
}

// ShardStatus is the router's view of one shard.
type ShardStatus struct {
	Shard int `json:"shard"`
	// Leader is the node the router sends the shard's requests to; nil
	// when none is known.
	Leader *LeaderRef   `json:"leader"`
	Nodes  []NodeStatus `json:"nodes"`
}

// LeaderRef names a shard's leader.
type LeaderRef struct {
	ID   string `json:"id"`
	HTTP string `json:"http"`
}

// NodeStatus is what the last /status poll of a node (or a failed call to
// it since) showed.
type NodeStatus struct {
	// ID is the node's Raft ID; empty if it has never answered.
	ID string `json:"id"`
	// HTTP is the node's configured HTTP API address.
	HTTP string `json:"http"`
	// Raft is the node's Raft address.
	Raft string `json:"raft"`
	// Reachable is false when the last poll or call failed.
	Reachable bool `json:"reachable"`
	// State is the node's Raft role: Leader, Follower, Candidate or
	// Shutdown; empty when unreachable.
	State string `json:"state"`
	Term  uint64 `json:"term"`
	// Leader is true for the node the router takes as the shard's leader.
	Leader       bool   `json:"leader"`
	AppliedIndex uint64 `json:"applied_index"`
	CommitIndex  uint64 `json:"commit_index"`
	// LastSeen is when the node last answered a poll; nil if never.
	LastSeen *time.Time `json:"last_seen"`
	// Problem says why the node cannot lead the shard now; empty for the
	// leader.
	Problem string `json:"problem,omitempty"`
}

// Counters are the router's totals since it started. Operations count each
// shard's part of a request once, however many attempts it took.
type Counters struct {
	Sets    uint64 `json:"sets"`
	Gets    uint64 `json:"gets"`
	Deletes uint64 `json:"deletes"`
	// Failed counts operations that ended in an error.
	Failed uint64 `json:"failed"`
	// Retries counts attempts beyond each operation's first.
	Retries uint64 `json:"retries"`
	// Redirects counts 307 answers followed to a leader.
	Redirects uint64 `json:"redirects"`
	// Refreshes counts rounds of /status polls, periodic or triggered by a
	// failure.
	Refreshes uint64 `json:"refreshes"`
	// LeaderChanges counts the times a shard's leader moved to another
	// node.
	LeaderChanges uint64 `json:"leader_changes"`
}

type counters struct {
	sets, gets, deletes, failed                  atomic.Uint64
	retries, redirects, refreshes, leaderChanges atomic.Uint64
}

func (c *counters) snapshot() Counters {
	return Counters{
		Sets: c.sets.Load(), Gets: c.gets.Load(), Deletes: c.deletes.Load(),
		Failed: c.failed.Load(), Retries: c.retries.Load(), Redirects: c.redirects.Load(),
		Refreshes: c.refreshes.Load(), LeaderChanges: c.leaderChanges.Load(),
	}
}

// Status returns the router's current view of every shard and its counters.
// It does not poll: it reports what the last polls saw.
func (r *Router) Status() Status {
	st := Status{
		Counters: r.stats.snapshot(),
		Timeout:  r.cfg.Timeout.String(),
		Poll:     r.cfg.PollInterval.String(),
	}
	for i := range r.shards {
		st.Shards = append(st.Shards, r.Shard(i))
	}
	return st
}

// Shard returns the router's view of shard i, which must be in
// [0, Shards()).
func (r *Router) Shard(i int) ShardStatus {
	sh := r.shards[i]
	sh.mu.Lock()
	leader := sh.leader
	sh.mu.Unlock()
	out := ShardStatus{Shard: i, Nodes: []NodeStatus{}}
	for _, n := range sh.nodes {
		n.mu.Lock()
		ns := NodeStatus{
			ID:           n.st.Me.ID,
			HTTP:         n.addr,
			Raft:         n.st.Me.Address,
			Reachable:    n.reachable,
			State:        n.st.State,
			Term:         n.st.Term,
			Leader:       n == leader,
			AppliedIndex: n.st.AppliedIndex,
			CommitIndex:  n.st.CommitIndex,
			Problem:      n.problem,
		}
		if !n.lastSeen.IsZero() {
			t := n.lastSeen
			ns.LastSeen = &t
		}
		n.mu.Unlock()
		if ns.Leader {
			ns.Problem = ""
			out.Leader = &LeaderRef{ID: ns.ID, HTTP: ns.HTTP}
		}
		out.Nodes = append(out.Nodes, ns)
	}
	return out
}
