package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

// Replica comparison, after etcd's corruption check. The leader appends a
// checkpoint (checkpoint.go), collects every member's digest at it, and
// takes the digest a majority of the voters hold as the group's state. A
// member whose digest differs has diverged: its state machine holds
// something the log does not say (memory corruption, a bug, a damaged entry
// applied before checksums existed). The leader then commits an
// OpDiverged entry naming that member's incarnation; the member, applying
// it, enters damaged mode, so it stops serving and voting. A leader that is
// itself in the minority names itself the same way and steps down for good.
// Without a majority nothing is decided.

// compareWait bounds how long a comparison waits for members to report
// their digest at the checkpoint.
const compareWait = 5 * time.Second

// DigestAt fetches member m's digest at the checkpoint at index. found is
// false while m has not applied that checkpoint; an error means m could not
// be asked, or has moved past index without reporting it.
type DigestAt func(ctx context.Context, m kv.Member, index uint64) (d kv.Digest, found bool, err error)

// compareState is the last comparison this node made as leader.
type compareState struct {
	last atomic.Pointer[kv.ReplicaCheck]
}

// IsLeader reports whether this node leads its group right now.
func (s *Store) IsLeader() bool {
	return s.Damaged() == nil && s.checkOpen() == nil && s.raft.State() == raft.Leader
}

// LastReplicaCheck is the last comparison this node made, or nil.
func (s *Store) LastReplicaCheck() *kv.ReplicaCheck { return s.compare.last.Load() }

// CompareReplicas compares the members' states at a new checkpoint (leader
// only) and marks every member that diverged from the majority.
func (s *Store) CompareReplicas(ctx context.Context, fetch DigestAt) (kv.ReplicaCheck, error) {
	if err := s.checkOpen(); err != nil {
		return kv.ReplicaCheck{}, err
	}
	if s.raft.State() != raft.Leader {
		return kv.ReplicaCheck{}, kv.ErrNotLeader
	}
	members, err := s.members()
	if err != nil {
		return kv.ReplicaCheck{}, err
	}
	idx, err := s.Checkpoint(ctx)
	if err != nil {
		return kv.ReplicaCheck{}, err
	}
	mine, ok := s.CheckpointDigest(idx)
	if !ok {
		return kv.ReplicaCheck{}, fmt.Errorf("checkpoint %d not recorded here", idx)
	}
	digests := s.collectDigests(ctx, fetch, members, idx)
	digests[s.cfg.ID] = mine
	check := judge(idx, members, digests)
	for _, id := range check.Diverged {
		if err := s.markDiverged(ctx, id, idx); err != nil {
			return check, fmt.Errorf("mark %s diverged: %w", id, err)
		}
	}
	s.compare.last.Store(&check)
	return check, nil
}

// members is the latest configuration, with each member's HTTP address.
func (s *Store) members() ([]kv.Member, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, s.mapRaftError(err)
	}
	var out []kv.Member
	for _, srv := range f.Configuration().Servers {
		out = append(out, kv.Member{ID: string(srv.ID), RaftAddr: string(srv.Address),
			HTTPAddr: s.fsm.member(string(srv.ID)), Voter: srv.Suffrage == raft.Voter})
	}
	return out, nil
}

// collectDigests asks every other member for its digest at index, until
// each has answered or compareWait has passed.
func (s *Store) collectDigests(ctx context.Context, fetch DigestAt, members []kv.Member, index uint64) map[string]kv.Digest {
	ctx, cancel := context.WithTimeout(ctx, compareWait)
	defer cancel()
	got := make(map[string]kv.Digest)
	pending := make(map[string]kv.Member)
	for _, m := range members {
		if m.ID != s.cfg.ID {
			pending[m.ID] = m
		}
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for len(pending) > 0 {
		for id, m := range pending {
			d, found, err := fetch(ctx, m, index)
			switch {
			case found:
				got[id] = d
				delete(pending, id)
			case err != nil && !isTransient(err):
				delete(pending, id)
			}
		}
		select {
		case <-ctx.Done():
			return got
		case <-t.C:
		}
	}
	return got
}

// ErrNoDigest is what a DigestAt returns for a member that cannot report
// its digest at the checkpoint: it has moved past it, or cannot be
// reached at all; asking again would not help.
var ErrNoDigest = errors.New("member cannot report its digest at this checkpoint")

// isTransient reports whether asking again may succeed.
func isTransient(err error) bool { return !errors.Is(err, ErrNoDigest) }

// judge finds the digest a majority of voters hold at index and the
// members that hold another.
func judge(index uint64, members []kv.Member, digests map[string]kv.Digest) kv.ReplicaCheck {
	check := kv.ReplicaCheck{Index: index, At: time.Now()}
	voters := 0
	votes := make(map[kv.Digest]int)
	for _, m := range members {
		if !m.Voter {
			continue
		}
		voters++
		if d, ok := digests[m.ID]; ok {
			votes[d]++
		}
	}
	var agreed kv.Digest
	found := false
	for d, n := range votes {
		if n > voters/2 {
			agreed, found = d, true
		}
	}
	for _, m := range members {
		d, ok := digests[m.ID]
		switch {
		case !ok:
			check.Missing = append(check.Missing, m.ID)
		case !found:
		case d == agreed:
			check.Agreed = append(check.Agreed, m.ID)
		default:
			check.Diverged = append(check.Diverged, m.ID)
		}
	}
	if found {
		check.Hash = agreed.HashString()
	} else {
		check.NoMajority = true
	}
	return check
}

// markDiverged commits an OpDiverged entry for member id's current
// incarnation, found diverged at the checkpoint at index.
func (s *Store) markDiverged(ctx context.Context, id string, index uint64) error {
	_, inc := s.fsm.identity(id)
	s.logger.Error("replica diverged: its state differs from its group's majority at a checkpoint; marking it damaged",
		"member", id, "incarnation", inc, "checkpoint", index)
	cmd := &Command{Writes: []Write{{Ops: []Op{{Type: OpDiverged, Key: id, Value: inc + "@" + strconv.FormatUint(index, 10)}}}}}
	_, err := s.apply(ctx, cmd)
	return err
}

// onDiverged is called by the state machine for each OpDiverged it
// applies: the member it names, in this incarnation, is this node, so this
// node enters damaged mode.
func (s *Store) onDiverged(id, value string, entry uint64) {
	if id != s.cfg.ID {
		return
	}
	inc, at, _ := strings.Cut(value, "@")
	if inc != s.Incarnation() {
		return // an earlier incarnation of this ID, since replaced
	}
	s.damage(kv.Damage{File: "state machine", Index: entry,
		Problem: fmt.Sprintf("the group's replica check found this node's state at checkpoint %s different from the state a majority of its group holds there", at)})
}

// CorruptLocal sets key to value in this replica's state machine only,
// bypassing the log: a fault for tests of the replica check.
func (s *Store) CorruptLocal(key, value string) {
	s.fsm.mu.Lock()
	s.fsm.applyOp(Op{Type: OpSet, Key: key, Value: value})
	s.fsm.mu.Unlock()
	s.logger.Warn("fault injection: state changed behind the log", "key", key)
}
