package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
	"github.com/kvraft/hraftd/raftnet"
)

// Status reports this node's view of the group and its own progress.
// In damaged mode it answers from what it knew when the damage was found,
// with State "Damaged" and Damage set.
func (s *Store) Status() (kv.Status, error) {
	if d := s.dmg.d.Load(); d != nil {
		return s.damagedStatus(d), nil
	}
	if err := s.checkOpen(); err != nil {
		return kv.Status{}, err
	}
	return s.liveStatus()
}

// liveStatus is Status read from raft.
func (s *Store) liveStatus() (kv.Status, error) {
	st := kv.Status{
		Me:           kv.Member{ID: s.cfg.ID, RaftAddr: s.layer.Addr().String(), HTTPAddr: s.cfg.HTTPAddr},
		State:        s.raft.State().String(),
		Term:         s.raft.CurrentTerm(),
		LastLogIndex: s.raft.LastIndex(),
		CommitIndex:  s.raft.CommitIndex(),
		Digest:       s.fsm.digest(),
	}
	id := s.ident.get()
	st.Group, st.Incarnation, st.Admitted = id.Group, id.Incarnation, id.Admitted
	st.AppliedIndex = st.Digest.AppliedIndex
	if st.CommitIndex > st.AppliedIndex {
		st.Lag = st.CommitIndex - st.AppliedIndex
	}
	if _, lid := s.raft.LeaderWithID(); lid != "" && string(lid) != s.cfg.ID {
		if lag, ok := s.leaderLag(string(lid), st.AppliedIndex); ok {
			st.Lag = max(st.Lag, lag)
		}
	}
	if d, ok := s.LatestCheckpoint(); ok {
		st.Checkpoint = &d
	}
	st.ReplicaCheck = s.LastReplicaCheck()
	if r := s.layer.Refused(); len(r) > 0 {
		st.Refused = r
	}
	if st.State != raft.Leader.String() {
		if lc := s.raft.LastContact(); !lc.IsZero() {
			st.LastContact = time.Since(lc)
		}
	}
	addr, lid := s.raft.LeaderWithID()
	if lid != "" {
		st.Leader = kv.Member{ID: string(lid), RaftAddr: string(addr), Voter: true}
		_, st.Leader.HTTPAddr = s.LeaderHTTP()
	}
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return st, s.mapRaftError(err)
	}
	for _, srv := range cf.Configuration().Servers {
		m := kv.Member{ID: string(srv.ID), RaftAddr: string(srv.Address), HTTPAddr: s.fsm.member(string(srv.ID)), Voter: srv.Suffrage == raft.Voter}
		if m.ID == s.cfg.ID {
			m.HTTPAddr = s.cfg.HTTPAddr
			st.Me.Voter = m.Voter
		}
		st.Members = append(st.Members, m)
	}
	return st, nil
}

// Ready reports whether this node knows a leader and has applied everything
// it knows to be committed; if not, the error says why.
func (s *Store) Ready() error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if s.logGuard != nil {
		if p := s.logGuard.problem(); p != "" {
			return fmt.Errorf("%w: %s", kv.ErrStorage, p)
		}
	}
	if !s.Admitted() {
		return errors.New("not admitted yet: this node started on an empty data directory and is a non-voter until it has caught up and its group has made it a voter")
	}
	_, lid := s.raft.LeaderWithID()
	if lid == "" {
		return kv.ErrNoLeader
	}
	commit := s.raft.CommitIndex()
	if commit == 0 {
		return errors.New("has not heard of any committed entry yet")
	}
	applied := s.raft.AppliedIndex()
	if applied < commit {
		return fmt.Errorf("catching up: applied %d of %d committed entries", applied, commit)
	}
	if string(lid) != s.cfg.ID {
		return s.checkLeaderLag(string(lid), applied)
	}
	return nil
}

// Counters returns the node's cumulative counters.
func (s *Store) Counters() kv.Counters {
	return kv.Counters{
		LeaderChanges:    s.leaderChanges.Load(),
		AppliedEntries:   s.fsm.appliedEntries.Load(),
		Snapshots:        s.fsm.snapshots.Load(),
		SnapshotFailures: s.fsm.snapshotFailures.Load(),
		SnapshotSeconds:  time.Duration(s.fsm.snapshotNanos.Load()).Seconds(),
	}
}

// Network returns the Raft stream layer, through which tests and the
// fault-injection API cut this node off from peers.
func (s *Store) Network() *raftnet.Layer { return s.layer }

// Recovered reports whether Open found existing state to recover from, in
// which case the node is already a member of its group and need not join.
func (s *Store) Recovered() bool { return s.recovered }

// ID returns this node's Raft server ID.
func (s *Store) ID() string { return s.cfg.ID }
