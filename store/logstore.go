package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"go.etcd.io/bbolt"
)

// The log and stable store on disk is one of two engines:
//
//   - LogBolt: raft-boltdb, hraftd's, one B+tree file raft.db. Every
//     append is a bbolt transaction that rewrites tree pages and fsyncs.
//   - LogWAL: raft-wal, append-only segment files in wal/ with a CRC over
//     each committed batch, so a torn write at the tail is found and cut
//     on recovery; appends write each entry once and fsync.
//
// A data directory keeps the engine it was created with: Config.LogStore
// only chooses for a new one.
const (
	LogBolt = "bolt"
	LogWAL  = "wal"
)

// diskLog is what raft needs from an engine, plus closing it.
type diskLog interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

// walDir is the directory raft-wal keeps its files in.
func (s *Store) walDir() string { return filepath.Join(s.cfg.Dir, "wal") }

// chooseLogStore returns the engine this data directory uses: the one
// whose files it holds, or Config.LogStore for a new directory.
func (s *Store) chooseLogStore() (string, error) {
	_, errBolt := os.Stat(filepath.Join(s.cfg.Dir, "raft.db"))
	_, errWAL := os.Stat(s.walDir())
	hasBolt, hasWAL := errBolt == nil, errWAL == nil
	switch {
	case hasBolt && hasWAL:
		return "", s.openError(s.cfg.Dir, "it holds both raft.db and wal/, two logs: keep the one this node used (the other is a leftover) or, if unsure, delete the directory and start the node with -join", nil)
	case hasBolt:
		if s.cfg.LogStore == LogWAL {
			s.logger.Warn("this data directory keeps its log in raft.db; using it (-log-store wal applies to new data directories)")
		}
		return LogBolt, nil
	case hasWAL:
		if s.cfg.LogStore == LogBolt {
			s.logger.Warn("this data directory keeps its log in wal/; using it (-log-store bolt applies to new data directories)")
		}
		return LogWAL, nil
	}
	return s.cfg.LogStore, nil
}

// openLogStore opens the engine chosen for this data directory.
func (s *Store) openLogStore(logger hclog.Logger) (diskLog, error) {
	kind, err := s.chooseLogStore()
	if err != nil {
		return nil, err
	}
	s.logKind = kind
	if kind == LogWAL {
		return s.openWAL(logger)
	}
	if problem, err := checkBoltFile(s.logFile()); problem != "" || err != nil {
		if err != nil {
			problem = "cannot read it: " + err.Error()
		}
		return nil, s.openError(s.logFile(), problem, err)
	}
	// FreelistMapType keeps bbolt's free pages in a hash map instead of a
	// sorted array that every allocation searches: each Raft round is a
	// commit on every node, so this is on the write path. The free list is
	// still synced (no NoFreelistSync): without it, opening raft.db reads
	// every page to rebuild the list, which costs a restarted node with a
	// large log much memory.
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path: s.logFile(),
		BoltOptions: &bbolt.Options{
			Timeout:      boltOpenTimeout,
			FreelistType: bbolt.FreelistMapType,
		},
	})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("open raft.db in %s: it is locked by another process (is another hraftd using this data directory?)", s.cfg.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open raft.db in %s: %w", s.cfg.Dir, err)
	}
	return bolt, nil
}

// openWAL opens raft-wal in wal/, after taking a lock on it: raft-wal's
// own metadata file would otherwise make a second hraftd on the same
// directory wait forever.
func (s *Store) openWAL(logger hclog.Logger) (diskLog, error) {
	if err := os.MkdirAll(s.walDir(), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", s.walDir(), err)
	}
	unlock, err := lockDir(s.walDir())
	if err != nil {
		return nil, fmt.Errorf("open the log in %s: it is locked by another process (is another hraftd using this data directory?): %w", s.walDir(), err)
	}
	// WAL.Close leaves its metadata database open, so the store keeps it
	// to close it too (a store reopened in the same process would wait
	// for it forever).
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(s.walDir(), wal.WithLogger(logger.Named("wal")), wal.WithMetaStore(meta))
	if err != nil {
		_ = meta.Close()
		unlock()
		return nil, s.openError(s.walDir(), "raft-wal cannot open it: "+err.Error(), err)
	}
	return &lockedWAL{WAL: w, meta: meta, unlock: unlock}, nil
}

// lockedWAL closes raft-wal's metadata and releases the directory lock
// when the WAL is closed.
type lockedWAL struct {
	*wal.WAL
	meta   *metadb.BoltMetaDB
	unlock func()
}

func (l *lockedWAL) Close() error {
	err := errors.Join(l.WAL.Close(), l.meta.Close())
	l.unlock()
	return err
}

// logFile is the path of the log store's file (raft.db) or directory (wal/).
func (s *Store) logFile() string {
	if s.logKind == LogWAL {
		return s.walDir()
	}
	return filepath.Join(s.cfg.Dir, "raft.db")
}
