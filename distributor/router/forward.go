package router

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/kvraft/hraftd/api"
)

// request is one call to a shard, re-sendable as is to any of its nodes.
type request struct {
	op                    string // for logs: set, get or delete
	method, path, rawPath string
	rawQuery              string
	body                  []byte
	writeID               string
	write                 bool // a write: its outcome can be ambiguous
	anyNode               bool // a read any node may serve

	// maybeApplied is set by forward when it returns a node's definite
	// refusal after an earlier attempt whose outcome was unknown: the
	// refusal then does not prove that nothing was applied.
	maybeApplied bool
}

// reply is a node's answer.
type reply struct {
	node   *node
	status int
	header http.Header
	body   []byte
}

func (rep *reply) nodeName() string {
	if id := rep.header.Get(api.HeaderNode); id != "" {
		return id
	}
	return rep.node.name()
}

func (rep *reply) result(s int) Result {
	idx, _ := strconv.ParseUint(rep.header.Get(api.HeaderIndex), 10, 64)
	return Result{Shard: s, Node: rep.nodeName(), HTTP: rep.node.addr, Index: idx}
}

// forward sends req to sh's leader and returns the first definite answer.
// When the leader is unknown or a call fails in a way another node could
// fix (connection refused or reset, a timeout, 502/503/504, a 307 to the
// leader), it refreshes its view of the shard at once and retries, pausing
// with a jittered, doubling backoff whenever no better target is known,
// until ctx ends. It never gives up early: the deadline is the one limit.
func (r *Router) forward(ctx context.Context, sh *shard, req *request) (*reply, error) {
	f := &forwarding{r: r, sh: sh, req: req, start: time.Now(), backoff: r.cfg.RetryMin}
	for {
		if r.isClosed() {
			return nil, r.giveUp(sh, f.start, ErrClosed, f.maybeApplied)
		}
		if n := f.target(ctx); n == nil {
			f.noTarget()
		} else {
			if rep, err := f.try(ctx, n); rep != nil || err != nil {
				return rep, err
			}
			if f.retryAtOnce(ctx, n) {
				continue
			}
		}
		if !f.backOff(ctx) {
			return nil, f.fail(ctx)
		}
	}
}

// forwarding is the state of one forward: what its attempts met.
type forwarding struct {
	r     *Router
	sh    *shard
	req   *request
	start time.Time

	lastErr      error
	lastTimedOut bool // the last attempt ran out of time at a node
	maybeApplied bool // a write reached a node without a definite answer
	backoff      time.Duration
	quick        int   // retries made without a pause since the last one
	sent         int   // attempts made
	next         *node // the node the last attempt points at next
}

// target is the node to try now: the known leader (or any node, for a read
// that allows it), refreshing the shard once if none is known.
func (f *forwarding) target(ctx context.Context) *node {
	n := f.sh.pick(f.req.anyNode)
	if n == nil {
		f.r.refresh(ctx, f.sh)
		n = f.sh.pick(f.req.anyNode)
	}
	return n
}

// try sends the request to n. It returns the answer, or the error, that
// ends the forward; both nil mean the attempt failed in a way worth a
// retry, and f.next is then the node to try next.
func (f *forwarding) try(ctx context.Context, n *node) (*reply, error) {
	if f.sent > 0 {
		f.r.stats.retries.Add(1)
	}
	f.sent++
	rep, err := f.r.send(ctx, f.sh, n, f.req)
	f.next = n
	switch {
	case err != nil:
		f.callFailed(n, err)
	case rep.status >= 200 && rep.status < 300:
		return rep, nil
	case rep.status == http.StatusTemporaryRedirect || rep.status == http.StatusPermanentRedirect:
		f.redirected(n, rep)
	case rep.status == http.StatusMisdirectedRequest:
		f.misdirected(n, rep)
	case rep.status == http.StatusServiceUnavailable || rep.status == http.StatusGatewayTimeout ||
		rep.status == http.StatusBadGateway:
		f.unavailable(n, rep)
	default:
		f.req.maybeApplied = f.maybeApplied
		return nil, &NodeError{Shard: f.sh.index, Node: rep.nodeName(), Status: rep.status, Message: errorMessage(rep.body)}
	}
	return nil, nil
}

// callFailed records a call to n that got no answer.
func (f *forwarding) callFailed(n *node, err error) {
	// A dial that timed out never reached the node: that is a node down
	// (503 in the end), not a leader too slow to answer (504).
	f.lastErr, f.lastTimedOut = err, isTimeout(err) && !isDialError(err)
	if f.req.write && !isDialError(err) {
		f.maybeApplied = true
	}
	n.setProblem(describe(err), !isTimeout(err))
	f.r.logger.Debug("forward failed", "shard", f.sh.index, "op", f.req.op, "node", n.addr, "error", err)
}

// redirected follows a 307 from n: the node knows the leader.
func (f *forwarding) redirected(n *node, rep *reply) {
	f.r.stats.redirects.Add(1)
	f.lastErr, f.lastTimedOut = fmt.Errorf("%s is not the leader (answered %d)", n.addr, rep.status), false
	if t := f.sh.byLocation(rep.header.Get("Location")); t != nil && t != n && !t.isForeign() {
		f.r.setLeader(f.sh, t, 0, "redirect")
		f.next = t
	}
}

// unavailable records a 502, 503 or 504 from n: leadership is moving, the
// node lost its quorum, or it timed out. Another node, or the same one
// shortly, can do better. A write that timed out may have been applied.
func (f *forwarding) unavailable(n *node, rep *reply) {
	msg := errorMessage(rep.body)
	f.lastErr = fmt.Errorf("%s answered %d: %s", n.addr, rep.status, msg)
	f.lastTimedOut = rep.status == http.StatusGatewayTimeout
	if f.req.write && rep.status != http.StatusServiceUnavailable {
		f.maybeApplied = true
	}
	n.setProblem(fmt.Sprintf("answered %d: %s", rep.status, msg), false)
}

// misdirected records a 421 from n: n belongs to another group than the
// one the request named, so it applied nothing; it gets no more requests.
func (f *forwarding) misdirected(n *node, rep *reply) {
	msg := errorMessage(rep.body)
	f.lastErr, f.lastTimedOut = fmt.Errorf("%s answered %d: %s", n.addr, rep.status, msg), false
	n.markForeign(msg)
	f.sh.demote(n)
	f.r.logger.Warn("a node refused a request for the shard's group; it gets no more requests", "shard", f.sh.index, "node", n.addr, "error", msg)
}

// retryAtOnce reports whether to retry without pausing after a failed
// attempt at n: while there is a new target to try, but at most once per
// node in a row, so that nodes disagreeing about the leader cannot make a
// busy loop.
func (f *forwarding) retryAtOnce(ctx context.Context, n *node) bool {
	next := f.next
	if next == n {
		f.sh.demote(n)
		if ctx.Err() == nil {
			f.r.refresh(ctx, f.sh)
			next = f.sh.pick(f.req.anyNode)
		}
	}
	if next != nil && next != n && f.quick < len(f.sh.nodes) && ctx.Err() == nil {
		f.quick++
		return true
	}
	return false
}

// noTarget records that no node could be tried: nothing is in flight, so
// if the deadline comes now the shard had no leader (503), whatever an
// earlier attempt met.
func (f *forwarding) noTarget() {
	f.lastTimedOut = false
	if f.lastErr == nil {
		f.lastErr = errors.New("no node reports itself leader")
	}
}

// backOff pauses before the next attempt; false means ctx ended.
func (f *forwarding) backOff(ctx context.Context) bool {
	f.quick = 0
	if !pause(ctx, f.backoff) {
		return false
	}
	f.backoff = min(2*f.backoff, f.r.cfg.RetryMax)
	return true
}

// fail is the error of a forward whose ctx ended.
func (f *forwarding) fail(ctx context.Context) error {
	err := ErrNoLeader
	if f.lastTimedOut {
		err = ErrTimeout
	}
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = ctx.Err() // the client went away
	}
	if f.lastErr != nil {
		err = fmt.Errorf("%w (last error: %v)", err, f.lastErr)
	}
	return f.r.giveUp(f.sh, f.start, err, f.maybeApplied)
}

// giveUp builds the error for a request to sh that ran out of time (or
// found the router closed), reporting every node of the shard.
func (r *Router) giveUp(sh *shard, start time.Time, err error, maybeApplied bool) error {
	se := &ShardError{Shard: sh.index, Elapsed: time.Since(start), MaybeApplied: maybeApplied, Err: err}
	for _, n := range sh.nodes {
		se.Nodes = append(se.Nodes, n.report())
	}
	r.logger.Warn("request failed", "shard", sh.index, "error", err, "elapsed", se.Elapsed)
	return se
}

// pause waits about d, jittered so that many requests retrying together
// spread out, or until ctx ends; it reports whether to go on.
func pause(ctx context.Context, d time.Duration) bool {
	d = d/2 + mrand.N(d/2+1)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		// Sleep to the deadline, not past it, then report failure: the
		// caller gives up exactly at its deadline.
		d = time.Until(dl)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return ctx.Err() == nil
	}
}
