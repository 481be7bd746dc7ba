package store

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

// Join takes a node into the group (leader only). The rules, by what the
// configuration and the replicated state hold for the joiner:
//
//   - a joiner naming another group is refused (kv.ErrForeign);
//   - another member at the joiner's Raft address is removed first, as
//     hraftd does (the address changed hands);
//   - the same ID in the same incarnation is the same node: nothing changes,
//     or, at a new Raft address, its address is updated in place;
//   - the same ID in a new incarnation lost its data: the old member is
//     removed and the new one added as a non-voter;
//   - a new ID is added as a non-voter.
//
// A non-voter receives the log but neither votes nor counts toward a
// quorum; Promote makes it a voter once it has caught up (http's join
// handler checks that on the joiner itself), so an address where nobody
// answers never takes a vote.
func (s *Store) Join(ctx context.Context, j kv.Joiner) (kv.JoinResult, error) {
	if j.ID == "" || j.RaftAddr == "" {
		return kv.JoinResult{}, fmt.Errorf("%w: join needs both id and addr", kv.ErrInvalid)
	}
	if err := s.checkOpen(); err != nil {
		return kv.JoinResult{}, err
	}
	if s.raft.State() != raft.Leader {
		return kv.JoinResult{}, s.notLeaderError()
	}
	group, recorded := s.fsm.identity(j.ID)
	if j.Group != "" && group != "" && j.Group != group {
		return kv.JoinResult{}, fmt.Errorf("%w: %s is a member of group %s; this is group %s (a node can only rejoin the group it was founded in, or join with an empty data directory)", kv.ErrForeign, j.ID, j.Group, group)
	}
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	voter, ops, err := s.changeMembership(ctx, j, recorded)
	if err != nil {
		return kv.JoinResult{}, err
	}
	if j.HTTPAddr != "" && s.fsm.member(j.ID) != j.HTTPAddr {
		ops = append(ops, Op{Type: OpSetMember, Key: j.ID, Value: j.HTTPAddr})
	}
	if j.Incarnation != "" && recorded != j.Incarnation {
		ops = append(ops, Op{Type: OpSetIncarnation, Key: j.ID, Value: j.Incarnation})
	}
	if len(ops) > 0 {
		if _, err := s.apply(ctx, &Command{Writes: []Write{{Ops: ops}}}); err != nil {
			return kv.JoinResult{}, fmt.Errorf("record member: %w", err)
		}
	}
	return kv.JoinResult{Group: s.Group(), Voter: voter, Term: s.raft.CurrentTerm(), CommitIndex: s.raft.CommitIndex()}, nil
}

// changeMembership applies Join's rules to the configuration. It returns
// whether the joiner is a voter now, and the operations that forget the
// HTTP addresses of members it removed.
func (s *Store) changeMembership(ctx context.Context, j kv.Joiner, recorded string) (bool, []Op, error) {
	timeout := timeLeft(ctx)
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return false, nil, s.mapRaftError(err)
	}
	id, addr := raft.ServerID(j.ID), raft.ServerAddress(j.RaftAddr)
	var self *raft.Server
	var forget []Op
	for _, srv := range cf.Configuration().Servers {
		switch {
		case srv.ID == id:
			self = &srv
		case srv.Address == addr:
			s.logger.Info("removing the member at the joiner's address", "id", srv.ID, "address", srv.Address, "joiner", j.ID)
			if err := s.raft.RemoveServer(srv.ID, 0, timeout).Error(); err != nil {
				return false, nil, fmt.Errorf("remove %s: %w", srv.ID, s.mapRaftError(err))
			}
			forget = append(forget, Op{Type: OpDeleteMember, Key: string(srv.ID)})
		}
	}
	newIncarnation := j.Incarnation != "" && (recorded != "" && recorded != j.Incarnation || recorded == "" && j.Fresh)
	switch {
	case self != nil && newIncarnation:
		s.logger.Warn("member came back with an empty data directory: taking it back as a non-voter until it has caught up",
			"id", j.ID, "address", j.RaftAddr, "incarnation", j.Incarnation, "previous", recorded)
		if err := s.raft.RemoveServer(id, 0, timeout).Error(); err != nil {
			return false, nil, fmt.Errorf("remove %s: %w", id, s.mapRaftError(err))
		}
	case self != nil && self.Address != addr:
		s.logger.Info("member's Raft address changed: updating it in place", "id", j.ID, "from", self.Address, "to", j.RaftAddr)
		change := s.raft.AddNonvoter
		if self.Suffrage == raft.Voter {
			change = s.raft.AddVoter
		}
		if err := change(id, addr, 0, timeout).Error(); err != nil {
			return false, nil, fmt.Errorf("update %s's address: %w", id, s.mapRaftError(err))
		}
		return self.Suffrage == raft.Voter, forget, nil
	case self != nil:
		s.logger.Info("join from an existing member: nothing to change", "id", j.ID, "address", j.RaftAddr)
		return self.Suffrage == raft.Voter, forget, nil
	}
	if err := s.raft.AddNonvoter(id, addr, 0, timeout).Error(); err != nil {
		return false, nil, fmt.Errorf("add %s: %w", id, s.mapRaftError(err))
	}
	s.logger.Info("member joined as a non-voter", "id", j.ID, "address", j.RaftAddr, "http", j.HTTPAddr)
	return false, forget, nil
}

// Promote makes the non-voter with this ID a voter (leader only); it does
// nothing to a voter. The caller checks first that the node has caught up.
func (s *Store) Promote(ctx context.Context, id string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if s.raft.State() != raft.Leader {
		return s.notLeaderError()
	}
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return s.mapRaftError(err)
	}
	for _, srv := range cf.Configuration().Servers {
		if srv.ID != raft.ServerID(id) {
			continue
		}
		if srv.Suffrage == raft.Voter {
			return nil
		}
		if err := s.raft.AddVoter(srv.ID, srv.Address, 0, timeLeft(ctx)).Error(); err != nil {
			return fmt.Errorf("promote %s: %w", id, s.mapRaftError(err))
		}
		s.logger.Info("member promoted to voter", "id", id, "address", srv.Address)
		return nil
	}
	return fmt.Errorf("%w: no member with id %q", kv.ErrNotFound, id)
}

// Remove removes the member with this ID from the group.
func (s *Store) Remove(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("%w: remove needs an id", kv.ErrInvalid)
	}
	if err := s.checkOpen(); err != nil {
		return err
	}
	if s.raft.State() != raft.Leader {
		return s.notLeaderError()
	}
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return s.mapRaftError(err)
	}
	found := false
	for _, srv := range cf.Configuration().Servers {
		found = found || srv.ID == raft.ServerID(id)
	}
	if !found {
		return fmt.Errorf("%w: no member with id %q", kv.ErrNotFound, id)
	}
	if err := s.raft.RemoveServer(raft.ServerID(id), 0, timeLeft(ctx)).Error(); err != nil {
		return fmt.Errorf("remove %s: %w", id, s.mapRaftError(err))
	}
	s.logger.Info("member removed", "id", id)
	if id == s.cfg.ID {
		return nil // no longer a member, so no longer able to apply
	}
	if _, err := s.apply(ctx, &Command{Writes: []Write{{Ops: []Op{{Type: OpDeleteMember, Key: id}}}}}); err != nil {
		return fmt.Errorf("forget member address: %w", err)
	}
	return nil
}

// voters counts the voting members in the latest configuration; 0 if it
// cannot be read.
func (s *Store) voters() int {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	n := 0
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			n++
		}
	}
	return n
}
