package router

import (
	"fmt"
	"sync/atomic"
)

// Every Raft group has an ID, made when it is founded and reported by its
// members in /status. The router pins each shard to one group and never
// sends a request to a node of another: a node that lost its data and
// founded a new group by mistake (a founder restarted on an empty data
// directory with its original command) would otherwise lead its own
// one-node group at a shard's address and acknowledge writes its shard
// never sees.
//
// A shard's group is the one a majority of its configured nodes report.
// A majority is the safe choice because the shard's real group is the one
// that can commit, which a majority of its members must back; one node (a
// wiped founder) can never outvote the others. Once pinned, the group is
// kept for the router's lifetime. Before it is pinned, a shard whose nodes
// report different groups gets no leader at all.

// groupPin is a shard's pinned group, read on every forwarded request.
type groupPin struct {
	p atomic.Pointer[string]
}

// get returns the pinned group, "" if none is pinned yet.
func (g *groupPin) get() string {
	if s := g.p.Load(); s != nil {
		return *s
	}
	return ""
}

// pinGroup pins sh's group if a majority of its nodes agree on one, marks
// the nodes of other groups foreign, and reports whether the answers may
// elect a leader: false while no group is pinned and the answers disagree.
func (r *Router) pinGroup(sh *shard, answers []pollAnswer) bool {
	counts := map[string]int{}
	for _, a := range answers {
		if a.ok && a.st.Group != "" {
			counts[a.st.Group]++
		}
	}
	pinned := sh.group.get()
	if pinned == "" {
		for g, c := range counts {
			if c > len(sh.nodes)/2 {
				pinned = g
				sh.group.p.Store(&g)
				r.logger.Info("shard's group pinned", "shard", sh.index, "group", g, "nodes", c)
			}
		}
	}
	for _, a := range answers {
		if !a.ok {
			continue
		}
		foreign := pinned != "" && a.st.Group != "" && a.st.Group != pinned
		if a.n.setForeign(foreign, pinned, a.st.Group) {
			r.logger.Warn("a node of another group answers at a shard's address; it gets no requests",
				"shard", sh.index, "node", a.n.addr, "its_group", a.st.Group, "shard_group", pinned,
				"fix", "if that node lost its data, stop it, delete its data directory and start it with -join <a member's HTTP address>")
		}
	}
	return pinned != "" || len(counts) <= 1
}

// setForeign records whether n belongs to another group than its shard's
// and reports whether it just became foreign.
func (n *node) setForeign(foreign bool, shardGroup, nodeGroup string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	was := n.foreign
	n.foreign = foreign
	if foreign {
		n.problem = fmt.Sprintf("foreign: belongs to group %s, not to the shard's group %s", nodeGroup, shardGroup)
		n.follows = false
	}
	return foreign && !was
}

// markForeign records a node's 421: it refused a request for the shard's
// group, so it belongs to another one.
func (n *node) markForeign(msg string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.foreign = true
	n.follows = false
	n.problem = "foreign: " + msg
}

func (n *node) isForeign() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.foreign
}
