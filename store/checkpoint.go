package store

import (
	"context"

	"github.com/kvraft/hraftd/kv"
)

// A checkpoint is a log entry holding one OpCheckpoint. It changes no key;
// every replica that applies it records the digest of its state right
// after the entries before it. Since every replica applies the same entries
// in the same order, two healthy replicas record the same digest for the
// same checkpoint, whenever each of them applies it; a difference means
// their states diverged at or before that index. Comparing live digests
// instead would compare replicas at different applied indexes.

// checkpointsKept is how many recent checkpoint digests a replica keeps.
// A peer that is comparing asks for one it has recorded itself, usually
// the newest, so a few are enough to cover a follower a little behind.
const checkpointsKept = 16

// checkpointRing holds the digests of the most recent checkpoints, oldest
// first. It is not part of snapshots: a digest is a fact about one index,
// still true after a restore moves the state past it.
type checkpointRing struct {
	digests []kv.Digest
}

func (r *checkpointRing) add(d kv.Digest) {
	if len(r.digests) == checkpointsKept {
		r.digests = append(r.digests[:0], r.digests[1:]...)
	}
	r.digests = append(r.digests, d)
}

// at returns the digest recorded at index, if it is still kept.
func (r *checkpointRing) at(index uint64) (kv.Digest, bool) {
	for _, d := range r.digests {
		if d.AppliedIndex == index {
			return d, true
		}
	}
	return kv.Digest{}, false
}

// checkpointCommand is the command of a checkpoint entry.
func checkpointCommand() *Command {
	return &Command{Writes: []Write{{Ops: []Op{{Type: OpCheckpoint}}}}}
}

// IsCheckpoint reports whether data, a log entry's payload, is a
// checkpoint. It decodes the entry, so it is meant for entries already
// known to be few (raft's own entries need not be passed in).
func IsCheckpoint(data []byte) bool {
	c, err := DecodeCommand(data)
	return err == nil && len(c.Writes) == 1 && len(c.Writes[0].Ops) == 1 &&
		c.Writes[0].Ops[0].Type == OpCheckpoint
}

// Checkpoint appends a checkpoint entry (leader only) and returns its
// index once it is applied here; this node's digest at that index is then
// CheckpointDigest(index).
func (s *Store) Checkpoint(ctx context.Context) (uint64, error) {
	return s.apply(ctx, checkpointCommand())
}

// CheckpointDigest returns the digest this replica recorded when it
// applied the checkpoint at index, if it still keeps it.
func (s *Store) CheckpointDigest(index uint64) (kv.Digest, bool) {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	return s.fsm.checks.at(index)
}

// LatestCheckpoint returns the digest of the newest checkpoint this
// replica applied, if any.
func (s *Store) LatestCheckpoint() (kv.Digest, bool) {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	if n := len(s.fsm.checks.digests); n > 0 {
		return s.fsm.checks.digests[n-1], true
	}
	return kv.Digest{}, false
}
