package store

import (
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

// A full or failing disk shows up in two places, and each gets a clear
// outcome instead of a 500 or a crash:
//
//   - Writing the log. A leader that cannot append steps down and fails the
//     writes it had taken (they were neither stored nor sent to anyone, so
//     not applied): apply maps that to kv.ErrStorage, a 503 with
//     Retry-After that the distributor retries on the new leader. A
//     follower that cannot append falls behind: it is not ready until an
//     append succeeds again.
//   - Writing the term or vote. Raft cannot go on without them (it panics),
//     so Config.OnFatal is called first: hraftd exits 1 with one line naming
//     the data directory.

// logGuard is a LogStore that remembers the last failed write, until a
// write succeeds.
type logGuard struct {
	raft.LogStore
	mu     sync.Mutex
	failed error     // the last append's error; nil once one succeeds
	since  time.Time // when appends started failing
}

func (g *logGuard) StoreLog(l *raft.Log) error { return g.note(g.LogStore.StoreLog(l)) }

func (g *logGuard) StoreLogs(logs []*raft.Log) error { return g.note(g.LogStore.StoreLogs(logs)) }

func (g *logGuard) note(err error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case err == nil:
		g.failed = nil
	case g.failed == nil:
		g.failed, g.since = err, time.Now()
	default:
		g.failed = err
	}
	return err
}

// problem says why appends fail, "" if the last one succeeded.
func (g *logGuard) problem() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failed == nil {
		return ""
	}
	return fmt.Sprintf("cannot write its log since %s: %v (is the data directory's disk full?)",
		g.since.UTC().Format(time.RFC3339), g.failed)
}

// stableGuard is a StableStore that calls onFatal before returning an
// error raft cannot survive.
type stableGuard struct {
	raft.StableStore
	onFatal func(error)
}

func (g *stableGuard) Set(k, v []byte) error { return g.check(g.StableStore.Set(k, v)) }

func (g *stableGuard) SetUint64(k []byte, v uint64) error {
	return g.check(g.StableStore.SetUint64(k, v))
}

func (g *stableGuard) check(err error) error {
	if err != nil && g.onFatal != nil {
		g.onFatal(fmt.Errorf("cannot write raft's term and vote: %w", err))
	}
	return err
}

// storageError says what a raft future's error that is none of raft's own
// means: the leader could not write the entry to its log, stepped down,
// and applied nothing.
func storageError(err error) error {
	return fmt.Errorf("%w: %v; the write was not applied, send it again (this node stepped down)", kv.ErrStorage, err)
}
