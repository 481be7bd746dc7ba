// Package store is a key-value store replicated with Raft: an in-memory map
// is the state machine, hashicorp/raft replicates the commands that change
// it, raft-boltdb keeps the log and stable store on disk, and a
// FileSnapshotStore keeps snapshots.
//
// Writes are accepted only by the leader; one call to Set or Delete is one
// Raft entry, applied atomically. Reads come at three levels (see
// ReadLevel). Input is validated before anything reaches the log.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/kvraft/hraftd/kv"
	"github.com/kvraft/hraftd/raftnet"
)

// Config configures a Store. Start from DefaultConfig.
type Config struct {
	// ID is this node's Raft server ID; it must be unique in its group.
	ID string
	// RaftBind is the address the Raft transport listens on.
	RaftBind string
	// RaftAdvertise is the address peers dial; RaftBind if empty.
	RaftAdvertise string
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
	// entries, which says nothing about size: 1M keys loaded in 500
	// entries of 250 KB never reach it, and a restarted node then re-reads
	// (and maps into its RSS) every byte of that log from raft.db instead
	// of one streamed snapshot file.
	SnapshotBytes uint64

	// Logger receives the store's and raft's logs; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the configuration the hraftd binary starts from.
func DefaultConfig() Config {
	return Config{
		MaxKeyBytes:    kv.MaxKeyBytes,
		DefaultTimeout: 10 * time.Second,
		SnapshotRetain: 2,
		SnapshotBytes:  64 << 20,
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
	case c.SnapshotRetain < 1:
		return errors.New("store: SnapshotRetain must be at least 1")
	}
	return nil
}

// Store is one node's replica of the key-value store.
type Store struct {
	cfg    Config
	logger *slog.Logger
	fsm    *fsm

	raft     *raft.Raft
	layer    *raftnet.Layer
	boltDB   *raftboltdb.BoltStore // nil with InMem
	verifier *leaderVerifier

	// termMu serialises ensureTermCommitted; committedTerm is the last
	// term in which this node, as leader, committed an entry of its own.
	termMu        sync.Mutex
	committedTerm atomic.Uint64

	recovered bool // Open found existing Raft state in Dir

	leaderChanges atomic.Uint64 // leader changes this node observed

	closeOnce sync.Once
	closed    chan struct{}
	bg        sync.WaitGroup
}

// New returns a Store that is not yet open. It has no side effects.
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.RaftAdvertise == "" {
		cfg.RaftAdvertise = cfg.RaftBind
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("node", cfg.ID)
	return &Store{
		cfg:    cfg,
		logger: logger,
		fsm:    newFSM(logger.With("component", "fsm")),
		closed: make(chan struct{}),
	}, nil
}

// Open starts Raft: it opens the log and snapshots in Dir (recovering any
// state there), listens for Raft traffic, and bootstraps a new group if
// Bootstrap is set and there is no state yet.
func (s *Store) Open() (err error) {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.cfg.ID)
	rc.Logger = newRaftLogger(s.logger)
	setDuration(&rc.HeartbeatTimeout, s.cfg.HeartbeatTimeout)
	setDuration(&rc.ElectionTimeout, s.cfg.ElectionTimeout)
	setDuration(&rc.LeaderLeaseTimeout, s.cfg.LeaderLeaseTimeout)
	setDuration(&rc.CommitTimeout, s.cfg.CommitTimeout)
	setDuration(&rc.SnapshotInterval, s.cfg.SnapshotInterval)
	if s.cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = s.cfg.SnapshotThreshold
	}
	if s.cfg.TrailingLogs > 0 {
		rc.TrailingLogs = s.cfg.TrailingLogs
	}
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("raft config: %w", err)
	}

	var (
		logs   raft.LogStore
		stable raft.StableStore
		snaps  raft.SnapshotStore
	)
	if s.cfg.InMem {
		mem := raft.NewInmemStore()
		logs, stable, snaps = mem, mem, raft.NewInmemSnapshotStore()
	} else {
		if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
		fss, err := raft.NewFileSnapshotStoreWithLogger(s.cfg.Dir, s.cfg.SnapshotRetain, rc.Logger.Named("snapshot"))
		if err != nil {
			return fmt.Errorf("snapshot store: %w", err)
		}
		// FreelistMapType: bbolt keeps its free pages in a hash map rather
		// than a sorted array that every allocation searches. One Raft
		// round is one commit on every node, so this is on the hot path:
		// ~+5-10% direct writes/s at c=64 side by side (BENCHMARKS.md).
		// NoFreelistSync would gain a few % more, but then Open rebuilds
		// the list by reading every page of raft.db: a restarted node
		// holding 1M keys mapped ~120 MB more of it (394 MB RSS against
		// target 5's 400 MB), so the free list is still written.
		bolt, err := raftboltdb.New(raftboltdb.Options{
			Path: filepath.Join(s.cfg.Dir, "raft.db"),
			BoltOptions: &bbolt.Options{
				Timeout:      boltOpenTimeout,
				FreelistType: bbolt.FreelistMapType,
			},
		})
		if errors.Is(err, bbolt.ErrTimeout) {
			return fmt.Errorf("open raft.db in %s: it is locked by another process (is another hraftd using this data directory?)", s.cfg.Dir)
		}
		if err != nil {
			return fmt.Errorf("open raft.db in %s: %w", s.cfg.Dir, err)
		}
		s.boltDB = bolt
		defer func() {
			if err != nil {
				bolt.Close()
			}
		}()
		// The cache keeps recent entries in memory, so replicating them to
		// followers rarely reads BoltDB. It counts entries, not bytes, and
		// one entry can hold a 1 MiB batch: 512 entries pinned ~130 MB on
		// every node of a group loaded with big batches (heap profile,
		// BENCHMARKS.md). 128 still covers two full AppendEntries rounds
		// (MaxAppendEntries is 64) of a follower's lag.
		cache, err := raft.NewLogCache(logCacheEntries, bolt)
		if err != nil {
			return err
		}
		logs, stable, snaps = cache, bolt, fss
	}

	layer, err := raftnet.Listen(s.cfg.RaftBind, s.cfg.RaftAdvertise)
	if err != nil {
		return err
	}
	s.layer = layer
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  layer,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  rc.Logger.Named("transport"),
	})

	ra, err := raft.NewRaft(rc, s.fsm, logs, stable, snaps, trans)
	if err != nil {
		trans.Close()
		return fmt.Errorf("start raft: %w", err)
	}
	s.raft = ra
	s.verifier = newLeaderVerifier(ra)

	has, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return errors.Join(fmt.Errorf("check existing state: %w", err), ra.Shutdown().Error())
	}
	s.recovered = has
	if s.cfg.Bootstrap {
		if has {
			s.logger.Info("existing state found, not bootstrapping")
		} else {
			s.logger.Info("bootstrapping a new group")
			f := ra.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
				Suffrage: raft.Voter,
				ID:       rc.LocalID,
				Address:  raft.ServerAddress(layer.Addr().String()),
			}}})
			if err := f.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
				return errors.Join(fmt.Errorf("bootstrap: %w", err), ra.Shutdown().Error())
			}
		}
	}

	s.bg.Add(2)
	go s.watchLeadership()
	go s.countLeaderChanges()
	if s.cfg.SnapshotBytes > 0 {
		s.bg.Add(1)
		go s.snapshotBySize()
	}
	return nil
}

// logCacheEntries is how many recent log entries are kept in memory.
const logCacheEntries = 128

// boltOpenTimeout bounds the wait for raft.db's file lock. Without it a
// second hraftd started on the same data directory would hang forever,
// silently; with it, it exits saying the database is in use.
const boltOpenTimeout = 2 * time.Second

// snapshotBySize snapshots whenever SnapshotBytes of entries have been
// applied since the last snapshot it took (raft's own, by entry count,
// may come in between: at worst one snapshot too many). It checks once a
// second: the point is bounding a restart's replay, not precision.
func (s *Store) snapshotBySize() {
	defer s.bg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := s.fsm.appliedBytes.Load()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		cur := s.fsm.appliedBytes.Load()
		if cur-last < s.cfg.SnapshotBytes {
			continue
		}
		err := s.raft.Snapshot().Error()
		switch {
		case err == nil, errors.Is(err, raft.ErrNothingNewToSnapshot):
			s.logger.Info("snapshot taken", "reason", "applied bytes", "bytes", cur-last)
			last = cur
		default:
			// Shutting down, or a snapshot already running: try again
			// at the next tick.
			s.logger.Debug("snapshot by size failed", "error", err)
		}
	}
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

func setDuration(dst *time.Duration, v time.Duration) {
	if v > 0 {
		*dst = v
	}
}

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

// Close shuts the store down. A leader first hands leadership to a follower,
// so the group elects a new leader at once instead of after a timeout.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.raft == nil {
			return
		}
		if s.raft.State() == raft.Leader && s.voters() > 1 {
			f := s.raft.LeadershipTransfer()
			if terr := f.Error(); terr != nil {
				s.logger.Warn("leadership transfer before shutdown failed", "error", terr)
			}
		}
		err = s.raft.Shutdown().Error()
		s.bg.Wait()
		if s.boltDB != nil {
			err = errors.Join(err, s.boltDB.Close())
		}
	})
	return err
}

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

// ValidateKey checks a key against the store's rules.
func (s *Store) ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: key is empty", kv.ErrInvalid)
	case len(key) > s.cfg.MaxKeyBytes:
		return fmt.Errorf("key of %d bytes is over the %d-byte limit: %w", len(key), s.cfg.MaxKeyBytes, kv.ErrTooLarge)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: key is not valid UTF-8", kv.ErrInvalid)
	}
	return nil
}

// Set sets every pair in one Raft entry: all or none are applied. A
// non-empty writeID makes the write idempotent (see Write). It returns the
// entry's log index.
func (s *Store) Set(ctx context.Context, pairs map[string]string, writeID string) (uint64, error) {
	if len(pairs) == 0 {
		return 0, fmt.Errorf("%w: no key-value pairs", kv.ErrInvalid)
	}
	w := Write{ID: writeID, Ops: make([]Op, 0, len(pairs))}
	for k, v := range pairs {
		w.Ops = append(w.Ops, Op{Type: OpSet, Key: k, Value: v})
	}
	return s.Execute(ctx, []Write{w})
}

// Delete removes key in one Raft entry; deleting a missing key succeeds.
func (s *Store) Delete(ctx context.Context, key, writeID string) (uint64, error) {
	return s.Execute(ctx, []Write{{ID: writeID, Ops: []Op{{Type: OpDelete, Key: key}}}})
}

// Execute validates the writes and applies them together in one Raft
// entry; each write keeps its own idempotency. Only OpSet and OpDelete may
// be used: membership operations are the store's own business.
func (s *Store) Execute(ctx context.Context, writes []Write) (uint64, error) {
	if len(writes) == 0 {
		return 0, fmt.Errorf("%w: no writes", kv.ErrInvalid)
	}
	for _, w := range writes {
		if err := kv.CheckWriteID(w.ID); err != nil {
			return 0, err
		}
		if len(w.Ops) == 0 {
			return 0, fmt.Errorf("%w: a write has no operations", kv.ErrInvalid)
		}
		for _, op := range w.Ops {
			if op.Type != OpSet && op.Type != OpDelete {
				return 0, fmt.Errorf("%w: operation %s is not allowed", kv.ErrInvalid, op.Type)
			}
			if err := s.ValidateKey(op.Key); err != nil {
				return 0, err
			}
			if !utf8.ValidString(op.Value) {
				return 0, fmt.Errorf("%w: value for key %q is not valid UTF-8", kv.ErrInvalid, op.Key)
			}
		}
	}
	return s.apply(ctx, &Command{Writes: writes})
}

// apply proposes cmd and waits until it is committed and applied here.
func (s *Store) apply(ctx context.Context, cmd *Command) (uint64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if s.raft.State() != raft.Leader {
		return 0, s.notLeaderError()
	}
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	dl, _ := ctx.Deadline()
	f := s.raft.Apply(cmd.Encode(), time.Until(dl))

	// The future cannot be cancelled; wait for it in a goroutine so that
	// the caller's deadline is honoured. Raft resolves every future (on
	// commit, on losing leadership, or on shutdown), so it does not leak.
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return 0, s.mapRaftError(err)
		}
	case <-ctx.Done():
		return 0, fmt.Errorf("waiting for commit: %w (the write may or may not be applied)", kv.ErrTimeout)
	}
	if res, ok := f.Response().(applyResult); ok && res.err != nil {
		return 0, fmt.Errorf("apply: %w", res.err)
	}
	return f.Index(), nil
}

// withDeadline gives ctx the default timeout if it has no deadline.
func (s *Store) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.DefaultTimeout)
}

// mapRaftError turns raft's errors into the store's sentinels.
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

// notLeaderError says who leads, if anyone is known to.
func (s *Store) notLeaderError() error {
	if id, _ := s.LeaderHTTP(); id != "" {
		return fmt.Errorf("%w: the leader is %s", kv.ErrNotLeader, id)
	}
	return kv.ErrNoLeader
}

func (s *Store) checkOpen() error {
	select {
	case <-s.closed:
		return kv.ErrClosed
	default:
	}
	if s.raft == nil {
		return kv.ErrClosed
	}
	return nil
}

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

func timeLeft(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(time.Until(dl), time.Millisecond)
}

// Status reports this node's view of the group and its own progress.
func (s *Store) Status() (kv.Status, error) {
	if err := s.checkOpen(); err != nil {
		return kv.Status{}, err
	}
	st := kv.Status{
		Me:           kv.Member{ID: s.cfg.ID, RaftAddr: s.layer.Addr().String(), HTTPAddr: s.cfg.HTTPAddr},
		State:        s.raft.State().String(),
		Term:         s.raft.CurrentTerm(),
		LastLogIndex: s.raft.LastIndex(),
		CommitIndex:  s.raft.CommitIndex(),
		Digest:       s.fsm.digest(),
	}
	st.AppliedIndex = st.Digest.AppliedIndex
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
	if _, lid := s.raft.LeaderWithID(); lid == "" {
		return kv.ErrNoLeader
	}
	commit := s.raft.CommitIndex()
	if commit == 0 {
		return errors.New("has not heard of any committed entry yet")
	}
	if applied := s.raft.AppliedIndex(); applied < commit {
		return fmt.Errorf("catching up: applied %d of %d committed entries", applied, commit)
	}
	return nil
}

// Network returns the Raft stream layer, through which tests and the
// fault-injection API cut this node off from peers.
func (s *Store) Network() *raftnet.Layer { return s.layer }

// Recovered reports whether Open found existing state to recover from, in
// which case the node is already a member of its group and need not join.
func (s *Store) Recovered() bool { return s.recovered }

// ID returns this node's Raft server ID.
func (s *Store) ID() string { return s.cfg.ID }
