package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

// Get reads key at the given level. found tells a missing key from an
// empty value; index is the applied index the read reflects.
func (s *Store) Get(ctx context.Context, key string, level kv.ReadLevel) (value string, found bool, index uint64, err error) {
	if err := s.ValidateKey(key); err != nil {
		return "", false, 0, err
	}
	if err := s.checkOpen(); err != nil {
		return "", false, 0, err
	}
	if err := s.readCheck(ctx, level); err != nil {
		return "", false, 0, err
	}
	v, ok, idx := s.fsm.get(key)
	return v, ok, idx, nil
}

// GetMany reads keys at the given level, as one read: the level's check
// (for linearizable, one barrier) is made once for all of them, and the
// lookups share one read lock, so they all see the same applied state.
// values holds the keys that exist (a missing key is absent); index is the
// applied index the read reflects. Errors are Get's. Every key is validated
// before anything else, so a bad key fails the whole read.
//
// This is what lets the distributor answer many clients' linearizable reads
// with one request and one quorum round (see POST /read).
func (s *Store) GetMany(ctx context.Context, keys []string, level kv.ReadLevel) (values map[string]string, index uint64, err error) {
	if len(keys) == 0 {
		return nil, 0, fmt.Errorf("%w: no keys to read", kv.ErrInvalid)
	}
	for _, k := range keys {
		if err := s.ValidateKey(k); err != nil {
			return nil, 0, err
		}
	}
	if err := s.checkOpen(); err != nil {
		return nil, 0, err
	}
	if err := s.readCheck(ctx, level); err != nil {
		return nil, 0, err
	}
	values, index = s.fsm.getMany(keys)
	return values, index, nil
}

// readCheck makes sure a read at level may be served here now: nothing for
// none, leadership as this node believes it for weak, and the read-index
// barrier for linearizable.
func (s *Store) readCheck(ctx context.Context, level kv.ReadLevel) error {
	switch level {
	case kv.ReadNone, "":
		return nil
	case kv.ReadWeak:
		if s.raft.State() != raft.Leader {
			return s.notLeaderError()
		}
		return nil
	case kv.ReadLinearizable:
		return s.linearizableBarrier(ctx)
	}
	return fmt.Errorf("%w: unknown read level %q", kv.ErrInvalid, level)
}

// linearizableBarrier returns once a read of the local state will see every
// write committed before it was called, or fails if this node cannot prove
// it still leads.
//
// The steps are the read-index protocol of the Raft thesis (§6.4): make
// sure this term has a committed entry of its own; note the commit index;
// confirm with a quorum that this node still leads; wait until the state
// machine has applied up to the noted index.
func (s *Store) linearizableBarrier(ctx context.Context) error {
	if s.raft.State() != raft.Leader {
		return s.notLeaderError()
	}
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	term := s.raft.CurrentTerm()
	if s.committedTerm.Load() != term {
		if err := s.ensureTermCommitted(ctx); err != nil {
			return err
		}
	}
	readIndex := s.raft.CommitIndex()
	if err := s.verifier.verify(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return fmt.Errorf("confirming leadership: %w", kv.ErrTimeout)
		}
		return s.mapRaftError(err)
	}
	if s.raft.CurrentTerm() != term {
		return s.notLeaderError()
	}
	if err := s.fsm.waitApplied(ctx, readIndex); err != nil {
		return fmt.Errorf("waiting for index %d to apply: %w", readIndex, kv.ErrTimeout)
	}
	return nil
}
