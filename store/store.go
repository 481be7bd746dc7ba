// Package store is a key-value store replicated with Raft: an in-memory map
// is the state machine, hashicorp/raft replicates the commands that change
// it, raft-boltdb keeps the log and stable store on disk, and a
// FileSnapshotStore keeps snapshots. Every command and snapshot carries a
// checksum; a node whose data fails one stops serving and voting.
//
// Writes are accepted only by the leader; one call to Set or Delete is one
// Raft entry, applied atomically. Reads come at three levels (see
// kv.ReadLevel). Input is validated before anything reaches the log.
//
// The files follow the store's concerns: config.go (Config), store.go
// (opening and closing), write.go, read.go, membership.go, status.go,
// leader.go (what a node does as its leadership changes), errors.go (raft's
// errors as kv's sentinels), command.go (the log entry's encoding), fsm.go
// (the state machine), snapshot.go (its snapshots), snapstore.go (the
// snapshot store that binds them to raft's metadata), precheck.go (the
// checks of a data directory before raft opens it), damage.go (what a node
// does when its data fails a check), verify.go (shared leadership checks)
// and logging.go (raft's logs through slog).
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
	"github.com/kvraft/hraftd/raftnet"
)

// Store is one node's replica of the key-value store.
type Store struct {
	cfg    Config
	logger *slog.Logger
	fsm    *fsm

	raft     *raft.Raft
	layer    *raftnet.Layer
	disk     diskLog // raft.db or wal/ (logstore.go); nil with InMem
	logKind  string  // LogBolt or LogWAL, once opened
	verifier *leaderVerifier

	// termMu serialises ensureTermCommitted; committedTerm is the last
	// term in which this node, as leader, committed an entry of its own.
	termMu        sync.Mutex
	committedTerm atomic.Uint64

	recovered bool // Open found existing Raft state in Dir

	leaderChanges atomic.Uint64 // leader changes this node observed

	dmg damagedState // see damage.go

	ident identityState // see identity.go

	logGuard *logGuard // the log store's failures; nil with InMem (see diskguard.go)

	done    doneState     // see removal.go
	compare compareState  // see compare.go
	lc      leaderCommit  // see lag.go
	logs    raft.LogStore // raft's log, read by MemberHTTPAddrs

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
	s := &Store{
		cfg:    cfg,
		logger: logger,
		fsm:    newFSM(logger.With("component", "fsm")),
		closed: make(chan struct{}),
		dmg:    newDamagedState(),
		done:   doneState{ch: make(chan struct{})},
	}
	s.fsm.onDamage = s.damage
	s.fsm.onDiverged = s.onDiverged
	return s, nil
}

// Open starts Raft: it opens the log and snapshots in Dir (recovering any
// state there), listens for Raft traffic, and bootstraps a new group if
// Bootstrap is set and there is no state yet.
//
// A data directory it cannot start on gives an *OpenError; one whose data
// fails a check opens in damaged mode (see damage.go).
func (s *Store) Open() (err error) {
	// A damaged file that slips past the checks of precheck.go can still
	// fault inside bbolt's memory map or panic in raft while it is read
	// here: both become an OpenError instead of a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = s.openError(s.logFile(), fmt.Sprintf("reading it failed (%v): the file is damaged", r), nil)
		}
		if err != nil && s.disk != nil {
			s.disk.Close()
			s.disk = nil
		}
	}()
	rc, err := s.raftConfig()
	if err != nil {
		return err
	}
	st, err := s.openStorage(rc.Logger)
	if err != nil {
		return err
	}
	if s.Damaged() != nil {
		return s.openDamaged(nil, nil)
	}
	has, err := raft.HasExistingState(st.logs, st.stable, st.snaps)
	if err != nil {
		return fmt.Errorf("check existing state: %w", err)
	}
	s.recovered = has
	s.logs = st.logs
	if err := s.loadIdentity(has); err != nil {
		return err
	}
	// A founder takes its new group's ID before it listens: until the
	// layer knows a group it accepts peers of any group, and a member of
	// an old group at this address (a wiped founder restarted with its
	// old command) would get a connection in that window and keep it.
	if err := s.chooseFoundingGroup(); err != nil {
		return err
	}
	trans, err := s.listen(rc.Logger)
	if err != nil {
		return err
	}
	ra, err := raft.NewRaft(rc, s.fsm, st.logs, st.stable, st.snaps, gate(trans, s.cfg.ID, s.Admitted, s.closed))
	if s.Damaged() != nil {
		// A snapshot failed its checks while raft restored it: stay
		// up in damaged mode, without raft (see damage.go).
		return s.openDamaged(ra, trans)
	}
	if err != nil {
		trans.Close()
		return fmt.Errorf("start raft: %w", err)
	}
	s.raft = ra
	s.verifier = newLeaderVerifier(ra)
	if err := s.bootstrapIfNew(); err != nil {
		return errors.Join(err, ra.Shutdown().Error())
	}
	s.startBackground()
	return nil
}

// raftConfig is raft's configuration for this node: raft's defaults with
// the timings Config overrides.
func (s *Store) raftConfig() (*raft.Config, error) {
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
		return nil, fmt.Errorf("raft config: %w", err)
	}
	return rc, nil
}

func setDuration(dst *time.Duration, v time.Duration) {
	if v > 0 {
		*dst = v
	}
}

// storage is where raft keeps its log, its stable state and its snapshots.
type storage struct {
	logs   raft.LogStore
	stable raft.StableStore
	snaps  raft.SnapshotStore
}

// logCacheEntries is how many recent log entries are kept in memory, so
// that replicating them to a follower rarely reads raft.db. It counts
// entries, not bytes, and one entry can hold a whole batch, so it is kept
// small: two full AppendEntries rounds (raft's MaxAppendEntries is 64) of a
// follower's lag.
const logCacheEntries = 128

// boltOpenTimeout bounds the wait for raft.db's file lock. Without it a
// second hraftd started on the same data directory would hang forever,
// silently; with it, it exits saying the database is in use.
const boltOpenTimeout = 2 * time.Second

// openStorage opens the log (raft.db or wal/, see logstore.go) and the
// snapshot store in Dir (creating Dir), or in-memory stores with InMem.
// On success with a disk, s.disk is set;
// Open closes it if a later step fails.
func (s *Store) openStorage(logger hclog.Logger) (storage, error) {
	if s.cfg.InMem {
		mem := raft.NewInmemStore()
		return storage{logs: mem, stable: mem, snaps: s.checkSnapshots(raft.NewInmemSnapshotStore())}, nil
	}
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return storage{}, fmt.Errorf("create data dir: %w", err)
	}
	if err := s.checkSnapshotDirs(); err != nil {
		return storage{}, err
	}
	fss, err := raft.NewFileSnapshotStoreWithLogger(s.cfg.Dir, s.cfg.SnapshotRetain, logger.Named("snapshot"))
	if err != nil {
		return storage{}, fmt.Errorf("snapshot store: %w", err)
	}
	snaps := s.checkSnapshots(fss)
	disk, err := s.openLogStore(logger)
	if err != nil {
		return storage{}, err
	}
	if err := s.checkLog(disk, disk, fss, s.logFile()); err != nil {
		disk.Close()
		return storage{}, err
	}
	s.logGuard = &logGuard{LogStore: disk}
	cache, err := raft.NewLogCache(logCacheEntries, s.logGuard)
	if err != nil {
		disk.Close()
		return storage{}, err
	}
	s.disk = disk
	return storage{logs: cache, stable: &stableGuard{StableStore: disk, onFatal: s.cfg.OnFatal}, snaps: snaps}, nil
}

// listen opens the Raft stream layer and the transport over it.
func (s *Store) listen(logger hclog.Logger) (*raft.NetworkTransport, error) {
	layer, err := raftnet.Listen(s.cfg.RaftBind, s.cfg.RaftAdvertise, s.cfg.RaftTLS)
	if err != nil {
		return nil, err
	}
	s.layer = layer
	layer.SetLogger(s.logger.With("component", "raftnet"))
	layer.SetGroup(s.Group())
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  layer,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  logger.Named("transport"),
	}), nil
}

// chooseFoundingGroup records a new group ID if this node is to found a
// group (Config.Bootstrap, and Open found no state).
func (s *Store) chooseFoundingGroup() error {
	if !s.cfg.Bootstrap || s.recovered {
		return nil
	}
	group := newID(16)
	return s.ident.update(func(id *identity) { id.Group, id.Admitted = group, true })
}

// bootstrapIfNew founds a one-member group, with the ID
// chooseFoundingGroup picked, if Config.Bootstrap is set and Open found
// no state.
func (s *Store) bootstrapIfNew() error {
	if !s.cfg.Bootstrap {
		return nil
	}
	if s.recovered {
		s.logger.Info("existing state found, not bootstrapping")
		return nil
	}
	group := s.Group()
	s.logger.Warn("founding a new group on an empty data directory; if this node was a member of a group before and lost its data, stop it now, delete the directory and start it with -join <a member's HTTP address>: the old members will refuse this new group",
		"group", group, "raft", s.layer.Addr().String())
	f := s.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter,
		ID:       raft.ServerID(s.cfg.ID),
		Address:  raft.ServerAddress(s.layer.Addr().String()),
	}}})
	if err := f.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return nil
}

// startBackground starts the goroutines that run while the store is open;
// Close waits for them.
func (s *Store) startBackground() {
	s.bg.Add(4)
	go s.watchIdentity()
	go s.watchDamage()
	go s.watchLeadership()
	go s.countLeaderChanges()
	if s.cfg.SnapshotBytes > 0 {
		s.bg.Add(1)
		go s.snapshotBySize()
	}
}

// Close shuts the store down, within a few seconds whatever the group's
// state (see shutdown.go).
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.raft == nil {
			return
		}
		err = s.shutdownRaft()
		if errors.Is(err, errShutdownTimeout) {
			return // raft may still use raft.db: leave it to the process's exit
		}
		if !within(shutdownTimeout, s.bg.Wait) {
			s.logger.Warn("background work still running at shutdown")
		}
		if s.disk != nil {
			err = errors.Join(err, s.disk.Close())
		}
	})
	return err
}

// checkOpen returns kv.ErrClosed once the store is closed, or before it
// has been opened, and an error wrapping kv.ErrDamaged in damaged mode.
func (s *Store) checkOpen() error {
	if err := s.damagedError(); err != nil {
		return err
	}
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

// withDeadline gives ctx the default timeout if it has no deadline.
func (s *Store) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.DefaultTimeout)
}

// timeLeft is the time until ctx's deadline, for raft calls that take a
// timeout rather than a context; 0 (no timeout) if it has none.
func timeLeft(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(time.Until(dl), time.Millisecond)
}
