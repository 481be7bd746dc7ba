package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/kvraft/hraftd/internal/cluster"
)

// Fault kinds the nemesis injects.
const (
	// FaultKillLeader kills a shard's leader with SIGKILL and restarts it
	// on its data directory with the same command line.
	FaultKillLeader = "kill-leader"
	// FaultKillFollower does the same to a follower.
	FaultKillFollower = "kill-follower"
	// FaultPauseLeader stops a shard's leader with SIGSTOP and resumes it
	// with SIGCONT seconds later: it wakes up believing it still leads.
	FaultPauseLeader = "pause-leader"
	// FaultPartitionLeader cuts the leader off from both its followers.
	FaultPartitionLeader = "partition-leader"
	// FaultPartitionSplit cuts a random node (leader or not) off from the
	// other two: a minority of one and a majority of two.
	FaultPartitionSplit = "partition-split"
	// FaultPartitionBridge cuts only the link between the leader and one
	// follower; the other follower still reaches both (a partial,
	// non-transitive partition).
	FaultPartitionBridge = "partition-bridge"
	// FaultRestartDistributor kills the distributor with SIGKILL and
	// starts it again: it must rebuild its view of the leaders from
	// nothing while clients keep calling.
	FaultRestartDistributor = "restart-distributor"
)

// AllFaults lists every fault kind, in the order a run cycles through them
// (shuffled per cycle).
var AllFaults = []string{
	FaultKillLeader, FaultKillFollower, FaultPauseLeader,
	FaultPartitionLeader, FaultPartitionSplit, FaultPartitionBridge,
	FaultRestartDistributor,
}

// nemesis injects one fault at a time into a cluster, alternating shards,
// and after each one heals it and waits until the shard is healthy again.
type nemesis struct {
	c       *cluster.Cluster
	rng     *rand.Rand
	kinds   []string
	holdMin time.Duration
	holdMax time.Duration
	quiet   time.Duration
	logf    func(string, ...any)
	start   time.Time

	mu       sync.Mutex
	counts   map[string]int
	log      []string
	problems []string
	refused  int // minority-side calls that were refused, as they must be
	accepted int // minority-side calls that succeeded: a bug
	probeNo  int
}

func (nm *nemesis) note(format string, args ...any) {
	msg := fmt.Sprintf("%7.2fs ", time.Since(nm.start).Seconds()) + fmt.Sprintf(format, args...)
	nm.mu.Lock()
	nm.log = append(nm.log, msg)
	nm.mu.Unlock()
	nm.logf("nemesis: %s", msg)
}

func (nm *nemesis) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	nm.mu.Lock()
	nm.problems = append(nm.problems, msg)
	nm.mu.Unlock()
	nm.note("PROBLEM: %s", msg)
}

// run injects faults until the deadline, and at least one of each kind,
// or until ctx ends; it always heals the fault in progress before
// returning.
func (nm *nemesis) run(ctx context.Context, until time.Time) {
	var order []string
	for i := 0; (time.Now().Before(until) || i < len(nm.kinds)) && ctx.Err() == nil; i++ {
		if len(order) == 0 {
			order = slices.Clone(nm.kinds)
			nm.rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		}
		kind := order[0]
		order = order[1:]
		shard := i % len(nm.c.Shards)
		if err := nm.inject(ctx, kind, shard); err != nil {
			nm.problem("%s on shard %d: %v", kind, shard, err)
		}
		// Recovery is checked with a fresh context: even when the run is
		// being cut short, the shard must be left whole.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
		t0 := time.Now()
		if leader, err := nm.waitHealthy(rctx, shard); err != nil {
			nm.problem("after %s: %v", kind, err)
		} else {
			nm.note("shard %d healthy again %.1fs after healing %s; leader %s", shard, time.Since(t0).Seconds(), kind, leader.ID)
		}
		cancel()
		sleepCtx(ctx, nil, nm.quiet)
	}
}

// waitHealthy waits, at most 45 s, until shard s is healthy again.
func (nm *nemesis) waitHealthy(ctx context.Context, s int) (*cluster.Node, error) {
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	return nm.c.WaitHealthy(ctx, s)
}

func (nm *nemesis) hold() time.Duration {
	return nm.holdMin + time.Duration(nm.rng.Int64N(int64(nm.holdMax-nm.holdMin)+1))
}

// inject applies one fault to shard s, holds it, and undoes it.
func (nm *nemesis) inject(ctx context.Context, kind string, s int) error {
	// Undoing a fault must not be skipped because the run is ending.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	leader, err := nm.waitHealthy(ctx, s)
	if err != nil {
		return fmt.Errorf("before the fault: %w", err)
	}
	var followers []*cluster.Node
	for _, n := range nm.c.Shards[s] {
		if n != leader {
			followers = append(followers, n)
		}
	}
	hold := nm.hold()
	nm.mu.Lock()
	nm.counts[kind]++
	nm.mu.Unlock()
	switch kind {
	case FaultKillLeader, FaultKillFollower:
		victim := leader
		if kind == FaultKillFollower {
			victim = followers[nm.rng.IntN(len(followers))]
		}
		nm.note("shard %d: kill -9 %s (%s) for %s", s, victim.ID, map[bool]string{true: "leader", false: "follower"}[victim == leader], hold.Round(time.Millisecond))
		if err := victim.Kill(); err != nil {
			return err
		}
		sleepCtx(ctx, nil, hold)
		nm.note("shard %d: restart %s", s, victim.ID)
		return victim.Start(uctx)

	case FaultPauseLeader:
		nm.note("shard %d: SIGSTOP leader %s for %s", s, leader.ID, hold.Round(time.Millisecond))
		if err := leader.Pause(); err != nil {
			return err
		}
		sleepCtx(ctx, nil, hold)
		nm.note("shard %d: SIGCONT %s", s, leader.ID)
		return leader.Resume()

	case FaultPartitionLeader, FaultPartitionSplit, FaultPartitionBridge:
		return nm.partition(ctx, uctx, kind, s, leader, followers, hold)

	case FaultRestartDistributor:
		if nm.c.Dist == nil {
			return nil
		}
		hold = hold / 4
		nm.note("kill -9 the distributor, down for %s", hold.Round(time.Millisecond))
		if err := nm.c.Dist.Kill(); err != nil {
			return err
		}
		sleepCtx(ctx, nil, hold)
		nm.note("restart the distributor")
		return nm.c.Dist.Start(uctx)
	}
	return fmt.Errorf("unknown fault kind %q", kind)
}

// partition cuts shard s as kind says, probes the minority side while it
// holds, and heals it.
func (nm *nemesis) partition(ctx, uctx context.Context, kind string, s int, leader *cluster.Node, followers []*cluster.Node, hold time.Duration) error {
	minority, majority := []*cluster.Node{leader}, followers
	switch kind {
	case FaultPartitionSplit:
		i := nm.rng.IntN(len(nm.c.Shards[s]))
		minority, majority = nil, nil
		for j, n := range nm.c.Shards[s] {
			if j == i {
				minority = append(minority, n)
			} else {
				majority = append(majority, n)
			}
		}
	case FaultPartitionBridge:
		majority = []*cluster.Node{followers[nm.rng.IntN(len(followers))]}
	}
	nm.note("shard %d: cut %v from %v (leader %s) for %s", s, ids(minority), ids(majority), leader.ID, hold.Round(time.Millisecond))
	end := time.Now().Add(hold)
	err := nm.c.Cut(ctx, minority, majority)
	if err == nil && kind != FaultPartitionBridge {
		// The probe may hold the partition past its planned end:
		// it needs the majority to have elected a leader.
		nm.probeMinority(ctx, s, minority[0], majority, time.Now().Add(15*time.Second))
	}
	sleepCtx(ctx, nil, time.Until(end))
	nm.note("shard %d: heal", s)
	if herr := nm.c.Heal(uctx, s); herr != nil {
		return fmt.Errorf("%v; heal: %w", err, herr)
	}
	return err
}

// probeMinority checks that the minority side of a partition refuses to
// act on its own: once the majority has a leader, a write and a
// linearizable read sent straight to the cut-off node must not succeed.
// ?redirect stops the node from relaying them over HTTP to the majority's
// leader (which the Raft-only partition would allow, and which would be
// correct, but would not test the minority).
func (nm *nemesis) probeMinority(ctx context.Context, s int, m *cluster.Node, majority []*cluster.Node, deadline time.Time) {
	var newLeader *cluster.Node
	_ = cluster.Poll(ctx, time.Until(deadline), "the majority to elect a leader", func() error {
		for _, n := range majority {
			if st, err := nm.c.Status(ctx, n); err == nil && st.State == "Leader" {
				newLeader = n
				return nil
			}
		}
		return errors.New("no leader")
	})
	if newLeader == nil {
		nm.problem("shard %d: the majority %v elected no leader within 15s of the partition", s, ids(majority))
		return
	}
	nm.mu.Lock()
	nm.probeNo++
	key := fmt.Sprintf("probe/%d/%d", s, nm.probeNo)
	nm.mu.Unlock()
	body, _ := json.Marshal(map[string]string{key: "minority-write"})
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	wcode, wb, werr := nm.c.Do(pctx, http.MethodPost, m.URL()+"/key?redirect", body)
	rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
	defer rcancel()
	rcode, rb, rerr := nm.c.Do(rctx, http.MethodGet, m.URL()+"/key/"+url.PathEscape(key)+"?level=linearizable&redirect", nil)
	for _, p := range []struct {
		what string
		code int
		body []byte
		err  error
	}{{"write", wcode, wb, werr}, {"linearizable read", rcode, rb, rerr}} {
		nm.mu.Lock()
		if p.err == nil && p.code == http.StatusOK {
			nm.accepted++
		} else {
			nm.refused++
		}
		nm.mu.Unlock()
		if p.err == nil && p.code == http.StatusOK {
			nm.problem("shard %d: minority node %s ACCEPTED a %s while %s leads the majority: %s", s, m.ID, p.what, newLeader.ID, p.body)
		} else {
			nm.note("shard %d: minority node %s refused a %s: %d %s%v", s, m.ID, p.what, p.code, errorText(p.body), errOrEmpty(p.err))
		}
	}
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return " " + err.Error()
}

func ids(ns []*cluster.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}
