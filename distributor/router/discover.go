package router

// A shard's leader may serve its API at an address the distributor was not
// given: a node restarted with a new -haddr (and -join) has its new address
// replicated by its group, and every member reports it as the leader's
// "http" in /status. When no configured node leads but members of the
// shard's pinned group name a leader at an address outside -shard, the
// router polls that address and, if the node there leads the same group
// as the same ID, routes to it. The node is shown in the shard's status
// with Discovered set.

// discoverLeader returns the answer of a leader found at an address the
// members report, or nil.
func (r *Router) discoverLeader(sh *shard, answers []pollAnswer) *pollAnswer {
	pinned := sh.group.get()
	if pinned == "" {
		return nil
	}
	var id, addr string
	var term uint64
	for _, a := range answers {
		l := a.st.Leader
		if !a.ok || a.n.isForeign() || a.st.Group != pinned || l.ID == "" || l.HTTP == "" || sh.configured(l.HTTP) {
			continue
		}
		if addr == "" || a.st.Term > term {
			id, addr, term = l.ID, l.HTTP, a.st.Term
		}
	}
	if addr == "" {
		return nil
	}
	n := sh.discoveredAt(addr)
	st, err := r.status(n)
	n.update(st, err)
	if err != nil || st.Group != pinned || st.Me.ID != id || st.Leader.ID != id {
		return nil
	}
	r.logger.Debug("leader found at an address outside -shard", "shard", sh.index, "leader", id, "http", addr)
	return &pollAnswer{n: n, st: st, ok: true}
}

// configured reports whether addr is one of sh's configured nodes, by the
// address it was given or the one the node advertises.
func (sh *shard) configured(addr string) bool {
	for _, n := range sh.nodes {
		if n.addr == addr || n.advertised() == addr {
			return true
		}
	}
	return false
}

// discoveredAt returns the shard's discovered node at addr, replacing one
// at another address.
func (sh *shard) discoveredAt(addr string) *node {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.discovered == nil || sh.discovered.addr != addr {
		sh.discovered = &node{addr: addr, problem: "not polled yet"}
	}
	return sh.discovered
}
