package router

import (
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/kvraft/hraftd/api"
)

// shard is the router's view of one Raft group.
type shard struct {
	index int
	nodes []*node

	mu           sync.Mutex
	leader       *node         // nil when none is known
	lastLeader   *node         // the last leader known, to count changes
	refreshing   chan struct{} // closed when the running poll round ends
	next         int           // round-robin cursor for reads any node may serve
	silentRounds int           // poll rounds in a row in which no node answered

	group groupPin // see group.go
	// discovered is a leader found at an address outside -shard (see
	// discover.go); nil if none.
	discovered *node
}

// pick returns the node to send a request to: the leader, or for a read any
// node may serve and no known leader, the next node that answered its last
// poll (or, if none did, the next node at all: better to try than to
// wait).
func (sh *shard) pick(anyNode bool) *node {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.leader != nil || !anyNode {
		return sh.leader
	}
	for range sh.nodes {
		n := sh.nodes[sh.next%len(sh.nodes)]
		sh.next++
		if n.isReachable() && !n.isForeign() {
			return n
		}
	}
	for range sh.nodes {
		n := sh.nodes[sh.next%len(sh.nodes)]
		sh.next++
		if !n.isForeign() {
			return n
		}
	}
	return nil
}

// demote forgets n as the leader after a failed call to it.
func (sh *shard) demote(n *node) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.leader == n {
		sh.leader = nil
	}
}

// byLocation returns the node a redirect's Location points at, matched by
// its configured address or the HTTP address it reports.
func (sh *shard) byLocation(loc string) *node {
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" {
		return nil
	}
	for _, n := range sh.nodes {
		if n.addr == u.Host || n.advertised() == u.Host {
			return n
		}
	}
	return nil
}

// node is the router's view of one node, as its last /status poll (or a
// failed call to it) left it.
type node struct {
	addr string // configured HTTP address

	mu        sync.Mutex
	st        api.Status // the last status the node answered
	reachable bool
	lastSeen  time.Time
	// problem says why the node cannot serve as leader now; "" if it can.
	problem string
	// follows is true while the node is a follower that knows its leader:
	// healthy, though not a node to send a write to, so the status views
	// show no problem for it (problem still says why, for errors).
	follows bool
	// foreign is true while the node belongs to another group than its
	// shard's (see group.go): it gets no requests.
	foreign bool
}

// update records the outcome of a /status poll.
func (n *node) update(st api.Status, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.follows = false
	if err != nil {
		n.reachable = false
		n.st.State, n.st.Leader = "", api.Server{}
		n.problem = describe(err)
		return
	}
	n.st, n.reachable, n.lastSeen = st, true, time.Now()
	switch {
	case st.Damage != nil:
		n.problem = "damaged: " + st.Damage.Problem
	case st.Me.ID != "" && st.Me.ID == st.Leader.ID:
		n.problem = ""
	case st.Leader.ID == "":
		n.problem = fmt.Sprintf("%s in term %d, knows no leader", orUnknown(st.State), st.Term)
	default:
		n.problem = fmt.Sprintf("%s; its leader is %s", orUnknown(st.State), st.Leader.ID)
		n.follows = true
	}
}

// setProblem records a failed call; unreachable marks the node down until
// its next successful poll.
func (n *node) setProblem(p string, unreachable bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.problem = p
	n.follows = false
	if unreachable {
		n.reachable = false
	}
}

func (n *node) isReachable() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reachable
}

// name is the node's Raft ID if it has told us, else its address.
func (n *node) name() string {
	if n == nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.st.Me.ID != "" {
		return n.st.Me.ID
	}
	return n.addr
}

// advertised is the HTTP address the node reports for itself.
func (n *node) advertised() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st.Me.HTTP
}

// report is what an error says about the node.
func (n *node) report() NodeProblem {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.problem
	if p == "" {
		p = "leader, but the request failed"
	}
	return NodeProblem{ID: n.st.Me.ID, HTTP: n.addr, Problem: p, Unreachable: !n.reachable}
}

// snapshot is the node as the status views show it; leader is whether the
// router takes it as its shard's leader.
func (n *node) snapshot(leader bool) NodeStatus { return n.view(leader, false) }

// view is snapshot for a node that may have been discovered rather than
// configured.
func (n *node) view(leader, discovered bool) NodeStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	ns := NodeStatus{
		ID:           n.st.Me.ID,
		HTTP:         n.addr,
		Raft:         n.st.Me.Address,
		Reachable:    n.reachable,
		State:        n.st.State,
		Term:         n.st.Term,
		Leader:       leader,
		AppliedIndex: n.st.AppliedIndex,
		CommitIndex:  n.st.CommitIndex,
		Problem:      n.problem,
		Keys:         n.st.Digest.Keys,
		LastLogIndex: n.st.LastLogIndex,
		LastContact:  n.st.LastContact,
		Group:        n.st.Group,
		Foreign:      n.foreign,
		Damaged:      n.st.Damage != nil,
		Discovered:   discovered,
	}
	if !n.lastSeen.IsZero() {
		t := n.lastSeen
		ns.LastSeen = &t
	}
	if leader || n.follows {
		ns.Problem = ""
	}
	return ns
}

func orUnknown(s string) string {
	if s == "" {
		return "state unknown"
	}
	return s
}
