package router

import "time"

// Status is a snapshot of the router's view of every shard plus its
// counters: what GET /status serves, what the dashboard shows and what the
// watcher (package watch) compares from one sample to the next.
type Status struct {
	// Time is when the snapshot was taken.
	Time     time.Time     `json:"time"`
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
	// Group is the Raft group the shard is pinned to, once a majority of
	// its nodes has reported it.
	Group string `json:"group,omitempty"`
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
	// Problem says why the node cannot serve the shard now; empty for the
	// leader and for a follower that knows its leader.
	Problem string `json:"problem,omitempty"`
	// Keys is the node's key count at its last answer; it is kept when the
	// node goes down, as the last known value.
	Keys         int    `json:"keys"`
	LastLogIndex uint64 `json:"last_log_index"`
	// LastContact is how long ago a follower last heard from its leader,
	// as the node reported it.
	LastContact string `json:"last_contact,omitempty"`
	// Group is the Raft group the node reports; Foreign is true when it
	// is not the shard's, and the node gets no requests.
	Group   string `json:"group,omitempty"`
	Foreign bool   `json:"foreign,omitempty"`
	// Damaged is true when the node reports damaged data (a failed
	// checksum, or a state that diverged from its group's): it serves
	// nothing until it is replaced; Problem says why.
	Damaged bool `json:"damaged,omitempty"`
	// Discovered is true for a leader found at an HTTP address its group
	// reports but -shard does not list (see discover.go).
	Discovered bool `json:"discovered,omitempty"`
}

// Status returns the router's current view of every shard and its counters.
// It does not poll: it reports what the last polls saw.
func (r *Router) Status() Status {
	st := Status{
		Time:     time.Now(),
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
	leader, found := sh.leader, sh.discovered
	sh.mu.Unlock()
	out := ShardStatus{Shard: i, Nodes: []NodeStatus{}, Group: sh.group.get()}
	add := func(n *node, discovered bool) {
		ns := n.view(n == leader, discovered)
		if ns.Leader {
			out.Leader = &LeaderRef{ID: ns.ID, HTTP: ns.HTTP}
		}
		out.Nodes = append(out.Nodes, ns)
	}
	for _, n := range sh.nodes {
		add(n, false)
	}
	if found != nil && found == leader {
		add(found, true)
	}
	return out
}
