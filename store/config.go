package store

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kvraft/hraftd/internal/tlsconf"
	"github.com/kvraft/hraftd/kv"
)

// Config configures a Store. Start from DefaultConfig.
type Config struct {
	// ID is this node's Raft server ID; it must be unique in its group.
	ID string
	// RaftBind is the address the Raft transport listens on.
	RaftBind string
	// RaftAdvertise is the address peers dial; RaftBind if empty.
	RaftAdvertise string
	// RaftTLS, if set, runs Raft over mutual TLS: the node accepts only
	// peers that present a node certificate from its CA covering the Raft
	// address they claim, and dials only peers that do. Nil is plain TCP.
	// A group is all one or the other.
	RaftTLS *tlsconf.Source
	// HTTPAddr is this node's HTTP API address as clients should dial it.
	// It is replicated so that any member can forward to the leader.
	HTTPAddr string
	// Dir holds the Raft log, stable store and snapshots.
	Dir string
	// InMem keeps the log, stable store and snapshots in memory: the node
	// forgets everything when it stops (see the README).
	InMem bool
	// Bootstrap makes this node found a new single-member group when it
	// has no existing state.
	Bootstrap bool

	// MaxKeyBytes bounds the length of a key.
	MaxKeyBytes int
	// DefaultTimeout bounds an operation whose context has no deadline.
	DefaultTimeout time.Duration
	// SnapshotRetain is how many snapshots to keep on disk.
	SnapshotRetain int

	// Raft timing and log compaction; zero values keep raft's defaults.
	// Tests shorten the timeouts to make elections fast.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	TrailingLogs       uint64
	// SnapshotBytes makes the node snapshot once this many bytes of log
	// entries have been applied since its last snapshot, however few
	// entries they were; 0 disables it. Raft's SnapshotThreshold counts
	// entries, so a log of a few huge batches would never reach it, and a
	// restart would replay (and map into memory) all of raft.db instead of
	// streaming one snapshot file.
	SnapshotBytes uint64

	// LogStore is the log engine of a new data directory, LogBolt or
	// LogWAL (see logstore.go); an existing one keeps its own.
	LogStore string

	// ReadyMaxLag is how many entries a follower may have applied fewer
	// than its leader has committed (as last reported with
	// NoteLeaderCommit) and still be ready; 0 disables the check.
	ReadyMaxLag uint64

	// Logger receives the store's and raft's logs; nil means slog.Default().
	Logger *slog.Logger

	// OnFatal, if set, is called when the node cannot write raft's term
	// or vote (a full disk, say), which raft cannot survive: it is the
	// program's chance to exit with a clear message rather than crash.
	OnFatal func(error)
}

// DefaultConfig returns the configuration the hraftd binary starts from.
func DefaultConfig() Config {
	return Config{
		MaxKeyBytes:    kv.MaxKeyBytes,
		DefaultTimeout: 10 * time.Second,
		SnapshotRetain: 2,
		SnapshotBytes:  64 << 20,
		ReadyMaxLag:    1000,
		LogStore:       LogBolt,
	}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	switch {
	case c.ID == "":
		return errors.New("store: ID is required")
	case c.RaftBind == "":
		return errors.New("store: RaftBind is required")
	case c.Dir == "" && !c.InMem:
		return errors.New("store: Dir is required unless InMem is set")
	case c.MaxKeyBytes <= 0:
		return errors.New("store: MaxKeyBytes must be positive")
	case c.DefaultTimeout <= 0:
		return errors.New("store: DefaultTimeout must be positive")
	case c.LogStore != LogBolt && c.LogStore != LogWAL:
		return fmt.Errorf("store: LogStore %q: use %q or %q", c.LogStore, LogBolt, LogWAL)
	case c.SnapshotRetain < 1:
		return errors.New("store: SnapshotRetain must be at least 1")
	}
	return nil
}
