// Package kv holds the vocabulary of a node that every layer shares: read
// levels, the sentinel errors, the shapes of a node's status and counters,
// and the limits both programs enforce. It imports nothing of this module and
// nothing of Raft, so the node's HTTP layer, its metrics and the distributor
// can use these names without pulling in the store.
package kv

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Limits a node enforces and the distributor checks before forwarding, so a
// request a node would refuse is refused at the door with the same message.
const (
	// MaxWriteIDBytes bounds an Idempotency-Key.
	MaxWriteIDBytes = 128
	// MaxKeyBytes is a node's default bound on the length of a key.
	MaxKeyBytes = 1024
	// MaxReadKeys bounds the keys of one POST /read: room for the
	// distributor's batches, small enough that one request cannot hold the
	// state machine's read lock for long.
	MaxReadKeys = 1024
)

// Sentinel errors. Callers compare with errors.Is; producers wrap them with
// detail using %w.
var (
	// ErrNotLeader means this node is not the leader and another node is
	// known to be; the request was not applied and can be sent there.
	ErrNotLeader = errors.New("not the leader")
	// ErrNoLeader means no leader is known right now (an election is in
	// progress, or this node is cut off); nothing was applied.
	ErrNoLeader = errors.New("no leader known")
	// ErrLeadershipLost means leadership was lost while a write was being
	// committed: it may or may not have been applied. Resending it with
	// the same write ID is safe.
	ErrLeadershipLost = errors.New("leadership lost while committing; the write may or may not have been applied")
	// ErrTimeout means the deadline passed; for a write, its outcome is
	// unknown (resend it with the same write ID).
	ErrTimeout = errors.New("deadline exceeded")
	// ErrNotFound means a named member does not exist.
	ErrNotFound = errors.New("not found")
	// ErrClosed means the store has been closed.
	ErrClosed = errors.New("store is closed")
	// ErrInvalid means the request is malformed; it was not applied.
	ErrInvalid = errors.New("invalid request")
	// ErrTooLarge means a key, value or body is over its size limit.
	ErrTooLarge = errors.New("too large")
	// ErrDamaged means this node found its data on disk, or its state,
	// to be wrong (a checksum mismatch, a replica that disagrees with the
	// majority): it neither serves nor votes until it is replaced.
	ErrDamaged = errors.New("this node's data is damaged")
	// ErrForeign means a request or a peer belongs to another Raft group
	// than this node's.
	ErrForeign = errors.New("belongs to another group")
	// ErrStorage means the log could not be written (a full or failing
	// disk): the write was not applied, and can be sent again.
	ErrStorage = errors.New("the log could not be written")
)

// Damage says what a node found wrong with its data, and what to do.
type Damage struct {
	// File is the file or component that failed a check, e.g.
	// "raft.db", "snapshots/3-120-1700000000000", "state (digest)".
	File string
	// Index and Term locate the bad log entry or snapshot, when known.
	Index, Term uint64
	// Problem says what failed; Fix says how to recover.
	Problem, Fix string
	// Since is when the damage was found.
	Since time.Time
}

// Error formats the damage as one line a user can act on.
func (d *Damage) Error() string {
	s := d.File
	if d.Index > 0 {
		s += fmt.Sprintf(" (index %d, term %d)", d.Index, d.Term)
	}
	return s + ": " + d.Problem + ". " + d.Fix
}

// ReadLevel is how fresh a read must be.
type ReadLevel string

// The read levels. The README's "Read levels" section explains each one's
// guarantee and cost.
const (
	// ReadNone reads this node's local map: fastest, possibly stale (a
	// follower may lag, a deposed leader may not know it yet).
	ReadNone ReadLevel = "none"
	// ReadWeak reads on the node that believes it is the leader, without
	// checking with a quorum: almost always fresh, but a leader cut off
	// from its group may serve stale data for up to one lease.
	ReadWeak ReadLevel = "weak"
	// ReadLinearizable confirms leadership with a quorum round and waits
	// until everything committed before the read began is applied, so the
	// read sees every write acknowledged before it started.
	ReadLinearizable ReadLevel = "linearizable"
)

// ParseReadLevel maps a ?level= value to a ReadLevel; "" means ReadNone.
func ParseReadLevel(s string) (ReadLevel, error) {
	switch ReadLevel(s) {
	case "", ReadNone:
		return ReadNone, nil
	case ReadWeak, ReadLinearizable:
		return ReadLevel(s), nil
	}
	return "", fmt.Errorf("%w: unknown read level %q (use none, weak or linearizable)", ErrInvalid, s)
}

// CheckWriteID reports whether id can be used as an Idempotency-Key.
func CheckWriteID(id string) error {
	if len(id) > MaxWriteIDBytes {
		return fmt.Errorf("%w: the Idempotency-Key is %d bytes, over the %d-byte limit", ErrInvalid, len(id), MaxWriteIDBytes)
	}
	return nil
}

// Member is one member of a group.
type Member struct {
	ID       string
	RaftAddr string
	HTTPAddr string
	Voter    bool
}

// Digest describes a node's state machine compactly so replicas can be
// compared: two nodes that applied the same index hold the same map exactly
// when their hashes match.
type Digest struct {
	AppliedIndex uint64
	Keys         int
	// Hash is order-independent (an XOR of one hash per pair), so it is
	// kept up to date in O(1) per operation and costs nothing to report.
	Hash uint64
}

// HashString formats a digest hash the way /status shows it.
func (d Digest) HashString() string { return strconv.FormatUint(d.Hash, 16) }

// Status is a snapshot of one node's view of its group.
type Status struct {
	Me           Member
	Leader       Member // zero if no leader is known
	Members      []Member
	State        string
	Term         uint64
	LastLogIndex uint64
	CommitIndex  uint64
	AppliedIndex uint64
	LastContact  time.Duration
	Digest       Digest

	// Group is the ID of the Raft group this node belongs to ("" until
	// known); Incarnation identifies this node's data directory.
	Group       string
	Incarnation string
	// Admitted is false while a node that started on an empty data
	// directory has not yet been taken back by its group: it neither
	// votes nor counts toward a quorum.
	Admitted bool
	// Damage is set when the node found its data to be wrong.
	Damage *Damage
	// Lag is how many entries this node's applied index is behind its
	// leader's commit index (0 on the leader).
	Lag uint64
	// Checkpoint is this node's digest at the newest checkpoint it has
	// applied, nil before the first; ReplicaCheck is the last comparison
	// of the members' checkpoints this node made as leader, nil if none.
	Checkpoint   *Digest
	ReplicaCheck *ReplicaCheck
	// Refused lists the Raft peers (by address) whose connections were
	// refused in the last minute, either way, with the reason: a node of
	// another group, usually one that lost its data and founded anew.
	Refused map[string]string
}

// ReplicaCheck is the outcome of one comparison of the members' states at
// a checkpoint.
type ReplicaCheck struct {
	Index uint64
	At    time.Time
	// Hash is the state hash a majority of the voters hold ("" without a
	// majority, NoMajority then true).
	Hash       string
	NoMajority bool
	// Agreed, Diverged and Missing are member IDs: those that hold the
	// majority's state, those that hold another (marked damaged), and
	// those that did not report in time.
	Agreed, Diverged, Missing []string
}

// Counters are cumulative counts since the node started, for metrics.
type Counters struct {
	LeaderChanges    uint64
	AppliedEntries   uint64
	Snapshots        uint64
	SnapshotFailures uint64
	SnapshotSeconds  float64
}
