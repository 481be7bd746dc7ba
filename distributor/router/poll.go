package router

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kvraft/hraftd/api"
)

// silentRoundsBeforeWarning is how many poll rounds in a row must find no
// node of a shard reachable before the router warns that the shard is
// down: enough to ride out a node restarting, few enough that a user who
// forgot to start a shard hears of it within seconds.
const silentRoundsBeforeWarning = 3

// pollLoop refreshes sh every PollInterval until Close.
func (r *Router) pollLoop(sh *shard) {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.PollInterval)
	defer t.Stop()
	for {
		r.refresh(r.ctx, sh)
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh polls every node of sh and re-elects its leader, then returns;
// or returns early when ctx ends. Concurrent callers share one round of
// polls, so a burst of failing requests costs one round, not one each.
func (r *Router) refresh(ctx context.Context, sh *shard) {
	sh.mu.Lock()
	done := sh.refreshing
	if done == nil {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			sh.mu.Unlock()
			return
		}
		r.wg.Add(1)
		r.mu.Unlock()
		done = make(chan struct{})
		sh.refreshing = done
		// The round runs on the router's context, not the caller's: other
		// callers wait for it, and one caller giving up must not cut the
		// round short for them.
		go func() {
			defer r.wg.Done()
			r.pollShard(sh)
			sh.mu.Lock()
			sh.refreshing = nil
			sh.mu.Unlock()
			close(done)
		}()
	}
	sh.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// pollAnswer is one node's answer to a poll round.
type pollAnswer struct {
	n        *node
	st       api.Status
	ok       bool
	timedOut bool
}

// pollShard asks every node of sh for its /status at once, records the
// answers, and takes as leader the node that says it leads (its me equals
// its leader), the highest term winning if a deposed leader has not yet
// noticed.
func (r *Router) pollShard(sh *shard) {
	r.stats.refreshes.Add(1)
	answers := make([]pollAnswer, len(sh.nodes))
	var wg sync.WaitGroup
	for i, n := range sh.nodes {
		wg.Go(func() {
			st, err := r.status(n)
			n.update(st, err)
			answers[i] = pollAnswer{n, st, err == nil, err != nil && isTimeout(err)}
		})
	}
	wg.Wait()
	r.noteReachability(sh, answers)
	if !r.pinGroup(sh, answers) {
		r.logger.Warn("the shard's nodes report different groups and none has a majority yet; no leader until one has", "shard", sh.index)
		r.setLeader(sh, nil, 0, "poll")
		return
	}
	var best *pollAnswer
	for i := range answers {
		a := &answers[i]
		if a.ok && !a.n.isForeign() && a.st.Me.ID != "" && a.st.Me.ID == a.st.Leader.ID && (best == nil || a.st.Term > best.st.Term) {
			best = a
		}
	}
	if best == nil {
		best = r.discoverLeader(sh, answers)
	}
	if best != nil {
		r.setLeader(sh, best.n, best.st.Term, "poll")
		return
	}
	// A leader too busy to answer /status in time is not a leader gone:
	// while no other node claims to lead and no request to it has failed
	// (a failure demotes it), keep sending to it, rather than stall every
	// request of the shard on poll rounds that the same load makes time
	// out again. Routing is never a safety matter: the node itself refuses
	// what it cannot serve as leader.
	sh.mu.Lock()
	cur := sh.leader
	sh.mu.Unlock()
	for _, a := range answers {
		if a.n == cur && a.timedOut {
			r.logger.Debug("leader slow to answer /status; kept", "shard", sh.index, "leader", cur.name())
			return
		}
	}
	r.setLeader(sh, nil, 0, "poll")
}

// noteReachability counts the poll rounds in a row in which no node of sh
// answered, and warns once per outage when there have been enough of them,
// naming every node and what was wrong with it.
func (r *Router) noteReachability(sh *shard, answers []pollAnswer) {
	answered := false
	for _, a := range answers {
		answered = answered || a.ok
	}
	sh.mu.Lock()
	if answered {
		sh.silentRounds = 0
	} else {
		sh.silentRounds++
	}
	warn := sh.silentRounds == silentRoundsBeforeWarning
	sh.mu.Unlock()
	if !warn {
		return
	}
	var nodes []string
	for _, n := range sh.nodes {
		p := n.report()
		nodes = append(nodes, p.HTTP+": "+p.Problem)
	}
	r.logger.Warn("shard unreachable: none of its nodes answers", "shard", sh.index,
		"nodes", strings.Join(nodes, "; "), "fix", startHint)
}

// startHint says how to bring up a shard none of whose nodes answers.
const startHint = "start an hraftd for each address (its -haddr), e.g. `make run` or `scripts/cluster.sh start` " +
	"for the default layout; or correct the distributor's -shard flags"

// status fetches one node's /status.
func (r *Router) status(n *node) (api.Status, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.StatusTimeout)
	defer cancel()
	var st api.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.scheme+"://"+n.addr+"/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return st, err
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("/status answered %d: %s", resp.StatusCode, errorMessage(b))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("/status answer is not a node status: %v", err)
	}
	return st, nil
}

// setLeader records sh's leader (nil: none known) and logs changes. term is
// 0 when the leader was learned from a redirect rather than from the
// leader itself.
func (r *Router) setLeader(sh *shard, n *node, term uint64, why string) {
	sh.mu.Lock()
	old, prev := sh.leader, sh.lastLeader
	sh.leader = n
	if n != nil {
		sh.lastLeader = n
	}
	sh.mu.Unlock()
	if n != nil && prev != nil && n != prev {
		r.stats.leaderChanges.Add(1)
	}
	switch {
	case n == old:
	case n == nil:
		r.logger.Warn("no leader known", "shard", sh.index, "previous", old.name(), "source", why)
	default:
		r.logger.Info("leader", "shard", sh.index, "leader", n.name(), "http", n.addr, "term", term, "source", why)
	}
}
