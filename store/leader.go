package store

import (
	"context"

	"github.com/hashicorp/raft"
)

// watchLeadership commits an entry at the start of each term this node
// leads (see ensureTermCommitted) so that linearizable reads and member
// lookups are ready before the first request needs them.
func (s *Store) watchLeadership() {
	defer s.bg.Done()
	for {
		select {
		case leader := <-s.raft.LeaderCh():
			if !leader {
				continue
			}
			s.logger.Info("became leader", "term", s.raft.CurrentTerm())
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DefaultTimeout)
			if err := s.ensureTermCommitted(ctx); err != nil {
				s.logger.Warn("could not commit an entry in the new term", "error", err)
			}
			cancel()
		case <-s.closed:
			return
		}
	}
}

// ensureTermCommitted makes sure that this leader has committed an entry of
// its own term, and records its HTTP address in the replicated member map
// while at it.
//
// Why: a new leader's commit index may lag entries that the old leader had
// already committed (and acknowledged) until it commits something in its own
// term (Raft paper §8); a linearizable read must not run before that. Raft
// appends a no-op for this, but no-ops never reach the FSM, so the FSM's
// applied index could not be waited on; an ordinary command does reach it.
func (s *Store) ensureTermCommitted(ctx context.Context) error {
	s.termMu.Lock()
	defer s.termMu.Unlock()
	term := s.raft.CurrentTerm()
	if s.committedTerm.Load() == term {
		return nil
	}
	w := Write{}
	if s.cfg.HTTPAddr != "" && s.fsm.member(s.cfg.ID) != s.cfg.HTTPAddr {
		w.Ops = append(w.Ops, Op{Type: OpSetMember, Key: s.cfg.ID, Value: s.cfg.HTTPAddr})
	}
	w.Ops = append(w.Ops, s.identityOps()...)
	if _, err := s.apply(ctx, &Command{Writes: []Write{w}}); err != nil {
		return err
	}
	// The entry was appended while leading in some term >= term; if the
	// term is still the same, it was this one.
	if s.raft.CurrentTerm() == term {
		s.committedTerm.Store(term)
	}
	return nil
}

// identityOps are what a leader adds to its first entry of a term so that
// the log names the group and this node's incarnation: a group founded
// before group IDs existed gets one here, from its first leader.
func (s *Store) identityOps() []Op {
	var ops []Op
	group, inc := s.fsm.identity(s.cfg.ID)
	if group == "" {
		mine := s.Group()
		if mine == "" {
			mine = newID(16)
		}
		ops = append(ops, Op{Type: OpSetGroup, Value: mine})
	}
	if me := s.Incarnation(); inc != me {
		ops = append(ops, Op{Type: OpSetIncarnation, Key: s.cfg.ID, Value: me})
	}
	return ops
}

// countLeaderChanges counts every change of leader this node observes
// (including "no leader"), for the metrics.
func (s *Store) countLeaderChanges() {
	defer s.bg.Done()
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	s.raft.RegisterObserver(obs)
	defer s.raft.DeregisterObserver(obs)
	for {
		select {
		case o := <-ch:
			lo := o.Data.(raft.LeaderObservation)
			s.leaderChanges.Add(1)
			s.logger.Info("leader changed", "leader", lo.LeaderID, "term", s.raft.CurrentTerm())
		case <-s.closed:
			return
		}
	}
}

// LeaderHTTP returns the leader's Raft ID and HTTP API address, empty if
// no leader is known (the address alone is empty if the leader has not
// recorded it yet).
func (s *Store) LeaderHTTP() (id, httpAddr string) {
	if s.raft == nil {
		return "", ""
	}
	_, lid := s.raft.LeaderWithID()
	if lid == "" {
		return "", ""
	}
	if string(lid) == s.cfg.ID {
		return s.cfg.ID, s.cfg.HTTPAddr
	}
	return string(lid), s.fsm.member(string(lid))
}
