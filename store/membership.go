package store

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

// Join adds a voter, following hraftd's rules: a server with the same ID
// and address is already a member and nothing changes; a server with the
// same ID or the same address but not both is removed first, then the new
// one added. The joiner's HTTP address, if given, is recorded.
func (s *Store) Join(ctx context.Context, id, raftAddr, httpAddr string) error {
	if id == "" || raftAddr == "" {
		return fmt.Errorf("%w: join needs both id and addr", kv.ErrInvalid)
	}
	if err := s.checkOpen(); err != nil {
		return err
	}
	if s.raft.State() != raft.Leader {
		return s.notLeaderError()
	}
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	timeout := timeLeft(ctx)

	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return s.mapRaftError(err)
	}
	member := false
	var forget []Op
	for _, srv := range cf.Configuration().Servers {
		sameID, sameAddr := srv.ID == raft.ServerID(id), srv.Address == raft.ServerAddress(raftAddr)
		switch {
		case sameID && sameAddr:
			member = true
		case sameID || sameAddr:
			s.logger.Info("removing member before re-adding it", "id", srv.ID, "address", srv.Address)
			if err := s.raft.RemoveServer(srv.ID, 0, timeout).Error(); err != nil {
				return fmt.Errorf("remove %s: %w", srv.ID, s.mapRaftError(err))
			}
			if !sameID {
				forget = append(forget, Op{Type: OpDeleteMember, Key: string(srv.ID)})
			}
		}
	}
	if member {
		s.logger.Info("join from an existing member: nothing to change", "id", id, "address", raftAddr)
	} else {
		if err := s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, timeout).Error(); err != nil {
			return fmt.Errorf("add voter %s: %w", id, s.mapRaftError(err))
		}
		s.logger.Info("member joined", "id", id, "address", raftAddr, "http", httpAddr)
	}
	ops := forget
	if httpAddr != "" && s.fsm.member(id) != httpAddr {
		ops = append(ops, Op{Type: OpSetMember, Key: id, Value: httpAddr})
	}
	if len(ops) > 0 {
		if _, err := s.apply(ctx, &Command{Writes: []Write{{Ops: ops}}}); err != nil {
			return fmt.Errorf("record member address: %w", err)
		}
	}
	return nil
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
