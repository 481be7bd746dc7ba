package store

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

// mapRaftError turns raft's errors into kv's sentinels, so that callers
// above the store never see a raft type.
func (s *Store) mapRaftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return s.notLeaderError()
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w: %v", kv.ErrLeadershipLost, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v (not applied)", kv.ErrTimeout, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return kv.ErrClosed
	}
	return err
}

// mapApplyError is mapRaftError for an apply future: an error that is none
// of raft's own comes from the leader's log store (see diskguard.go).
func (s *Store) mapApplyError(err error) error {
	mapped := s.mapRaftError(err)
	if mapped == err && !errors.Is(err, raft.ErrAbortedByRestore) && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return storageError(err)
	}
	return mapped
}

// notLeaderError says who leads, if anyone is known to.
func (s *Store) notLeaderError() error {
	if id, _ := s.LeaderHTTP(); id != "" {
		return fmt.Errorf("%w: the leader is %s", kv.ErrNotLeader, id)
	}
	return kv.ErrNoLeader
}
