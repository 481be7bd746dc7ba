package watch

import (
	"strconv"
	"time"

	"github.com/kvraft/hraftd/distributor/router"
)

// Event kinds.
const (
	// EventLeader: the shard has a (new) leader the router routes to.
	EventLeader = "leader"
	// EventNoLeader: the router knows no leader for the shard.
	EventNoLeader = "no_leader"
	// EventNodeDown: a node stopped answering.
	EventNodeDown = "node_down"
	// EventNodeUp: a node answered (for the first time, or again).
	EventNodeUp = "node_up"
)

// Event is one change the watcher saw between two samples.
type Event struct {
	// Seq numbers events from 1, so a client can ask only for new ones.
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Kind  string    `json:"kind"`
	Shard int       `json:"shard"`
	// Node is the node's Raft ID, or its address if it never answered.
	Node string `json:"node"`
	// Term is the leader's term for EventLeader; 0 otherwise.
	Term uint64 `json:"term,omitempty"`
	// Failover is true for an EventLeader that replaces a previous leader
	// (not the first leader seen, nor the same one found again).
	Failover bool `json:"failover,omitempty"`
	// Discovery is, for an EventLeader after leadership was lost, the time
	// from the last moment the router saw the old leader healthy to the
	// moment it knew the new one: what clients of the shard waited.
	Discovery time.Duration `json:"discovery_ns,omitempty"`
	// Message is a sentence for people.
	Message string `json:"message"`
}

// diff compares v with what the watcher remembers; w.mu is held.
func (w *Watcher) diff(v router.Status) []Event {
	var evs []Event
	for len(w.shards) < len(v.Shards) {
		w.shards = append(w.shards, shardWatch{nodes: map[string]nodeState{}})
	}
	for _, sv := range v.Shards {
		sw := &w.shards[sv.Shard]
		evs = sw.nodeEvents(evs, v.Time, sv)
		if e, ok := sw.leaderEvent(v.Time, sv); ok {
			evs = append(evs, e)
		}
	}
	return evs
}

// nodeEvents appends to evs a node_up or node_down event for each node of
// sv whose reachability changed since the last sample.
func (sw *shardWatch) nodeEvents(evs []Event, now time.Time, sv router.ShardStatus) []Event {
	for _, n := range sv.Nodes {
		was := sw.nodes[n.HTTP]
		name := nodeName(n)
		switch {
		case n.Reachable && was != nodeUp:
			msg := name + " is up"
			if was == nodeDown {
				msg = name + " is back"
			}
			evs = append(evs, Event{Time: now, Kind: EventNodeUp, Shard: sv.Shard, Node: name, Message: msg})
			sw.nodes[n.HTTP] = nodeUp
		case !n.Reachable && was == nodeUp:
			msg := name + " is down"
			if n.Problem != "" {
				msg += ": " + n.Problem
			}
			evs = append(evs, Event{Time: now, Kind: EventNodeDown, Shard: sv.Shard, Node: name, Message: msg})
			sw.nodes[n.HTTP] = nodeDown
		}
		// A node that has never answered stays nodeUnknown: it was not
		// "down" in any sense a reader cares about, just not polled yet
		// (or never started).
	}
	return evs
}

// leaderEvent returns the leader or no_leader event sv implies, if its
// leader changed since the last sample.
func (sw *shardWatch) leaderEvent(now time.Time, sv router.ShardStatus) (Event, bool) {
	if sv.Leader == nil {
		if sw.leader == "" || sw.leaderless {
			return Event{}, false
		}
		sw.leaderless = true
		// The loss happened at the latest when the old leader last
		// answered a poll; counting from then, not from this sample, is
		// what a client of the shard experienced.
		sw.lostAt = now
		if ls := lastSeen(sv, sw.leader); !ls.IsZero() && ls.Before(now) {
			sw.lostAt = ls
		}
		return Event{Time: now, Kind: EventNoLeader, Shard: sv.Shard, Node: sw.leader,
			Message: "no leader known; " + sw.leader + " was leader"}, true
	}
	id := sv.Leader.ID
	if id == "" {
		id = sv.Leader.HTTP
	}
	if id == sw.leader && !sw.leaderless {
		return Event{}, false
	}
	e := Event{Time: now, Kind: EventLeader, Shard: sv.Shard, Node: id, Term: leaderTerm(sv)}
	switch {
	case sw.leader == "":
		e.Message = id + " leads"
	case !sw.leaderless:
		// Moved straight to another node (a redirect or a poll named it)
		// without a sample in between: count from the old leader's last
		// healthy answer.
		e.Failover = true
		if ls := lastSeen(sv, sw.leader); !ls.IsZero() && ls.Before(now) {
			e.Discovery = now.Sub(ls)
		}
		e.Message = id + " leads, replacing " + sw.leader
	default:
		e.Failover = id != sw.leader
		e.Discovery = now.Sub(sw.lostAt)
		if e.Failover {
			e.Message = id + " leads, replacing " + sw.leader
		} else {
			e.Message = id + " leads again"
		}
	}
	if e.Term != 0 {
		e.Message += " (term " + strconv.FormatUint(e.Term, 10) + ")"
	}
	if e.Discovery > 0 {
		e.Message += "; found after " + e.Discovery.Round(time.Millisecond).String()
	}
	sw.leader, sw.leaderless, sw.lostAt = id, false, time.Time{}
	return e, true
}

func nodeName(n router.NodeStatus) string {
	if n.ID != "" {
		return n.ID
	}
	return n.HTTP
}

// lastSeen is when the node named id (Raft ID or address) last answered.
func lastSeen(sv router.ShardStatus, id string) time.Time {
	for _, n := range sv.Nodes {
		if (n.ID == id || n.HTTP == id) && n.LastSeen != nil {
			return *n.LastSeen
		}
	}
	return time.Time{}
}

func leaderTerm(sv router.ShardStatus) uint64 {
	for _, n := range sv.Nodes {
		if n.Leader {
			return n.Term
		}
	}
	return 0
}
