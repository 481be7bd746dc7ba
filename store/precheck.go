package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/kvraft/hraftd/kv"
)

// OpenError is a data directory the node cannot start on: which file, what
// is wrong with it, and what to do. The hraftd binary prints it as one line
// and exits, instead of the panic or the fault deep inside bbolt or raft
// that opening such a directory would otherwise end in.
type OpenError struct {
	File, Problem, Fix string
	Err                error
}

func (e *OpenError) Error() string { return e.File + ": " + e.Problem + ". " + e.Fix }

func (e *OpenError) Unwrap() error { return e.Err }

// openError is an OpenError with the usual fix.
func (s *Store) openError(file, problem string, err error) *OpenError {
	return &OpenError{File: file, Problem: problem, Fix: "This node cannot start on this data: " + s.fixText(), Err: err}
}

// Start-up checks. They run before raft sees the directory, because raft
// and bbolt meet damaged files with panics and faults that say nothing of
// the file: a truncated raft.db faults inside bbolt's memory map, a deleted
// snapshots folder ends in "log not found", a flipped bit in a command is
// replayed as if it were data.

// boltMeta is the part of a bbolt meta page these checks read (bbolt
// v1.3's db.go meta: native byte order, after a 16-byte page header).
type boltMeta struct {
	magic, version, pageSize uint32
	pgid, txid, checksum     uint64
	sum                      uint64 // FNV-64a of the meta bytes before checksum
}

const (
	boltPageHeader   = 16
	boltMetaSize     = 64 // up to and including checksum
	boltChecksumOff  = 56
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	boltDefaultPage  = 4096
	boltMinPageBytes = 512
)

func readBoltMeta(f io.ReaderAt, off int64) (boltMeta, bool) {
	var b [boltPageHeader + boltMetaSize]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return boltMeta{}, false
	}
	m := b[boltPageHeader:]
	ne := binary.NativeEndian
	bm := boltMeta{magic: ne.Uint32(m[0:]), version: ne.Uint32(m[4:]), pageSize: ne.Uint32(m[8:]),
		pgid: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:]), checksum: ne.Uint64(m[boltChecksumOff:])}
	h := fnv.New64a()
	h.Write(m[:boltChecksumOff])
	bm.sum = h.Sum64()
	ok := bm.magic == boltMagic && bm.version == boltVersion && bm.checksum == bm.sum && bm.pageSize >= boltMinPageBytes
	return bm, ok
}

// checkBoltFile reads raft.db's two meta pages with ReadAt (no memory map,
// so a short file cannot fault) and checks that the file is as long as
// the newest valid one says. A missing file is fine: the node is new.
func checkBoltFile(path string) (problem string, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	size := fi.Size()
	if size == 0 {
		return "the file is empty (truncated)", nil
	}
	m0, ok0 := readBoltMeta(f, 0)
	page := int64(boltDefaultPage)
	if ok0 {
		page = int64(m0.pageSize)
	}
	m1, ok1 := readBoltMeta(f, page)
	var m boltMeta
	switch {
	case ok0 && ok1:
		m = m0
		if m1.txid > m0.txid {
			m = m1
		}
	case ok0:
		m = m0
	case ok1:
		m = m1
	default:
		if size < 2*page {
			return fmt.Sprintf("the file is %d bytes, too short to hold its header (truncated)", size), nil
		}
		return "both meta pages of the file are invalid", nil
	}
	if want := int64(m.pgid) * int64(m.pageSize); size < want {
		return fmt.Sprintf("the file is %d bytes but its header says %d (truncated)", size, want), nil
	}
	return "", nil
}

// checkSnapshotDirs requires every snapshot directory to have a readable
// meta.json: raft skips one that has not, and would restore an older
// snapshot (or none) instead.
func (s *Store) checkSnapshotDirs() error {
	dir := filepath.Join(s.cfg.Dir, "snapshots")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return s.openError(dir, "cannot list the snapshots: "+err.Error(), err)
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		p := filepath.Join(dir, e.Name(), "meta.json")
		b, err := os.ReadFile(p)
		var meta raft.SnapshotMeta
		if err == nil {
			err = json.Unmarshal(b, &meta)
		}
		if err != nil {
			return s.openError(p, "the snapshot's metadata cannot be read ("+err.Error()+")", err)
		}
	}
	return nil
}

// checkLog checks that the log reaches back to the newest snapshot and
// scans every entry. A log that starts after the newest snapshot ends
// (snapshots/ deleted or incomplete) is an OpenError: raft would panic
// replaying it. A damaged entry puts the node in damaged mode, so that raft
// never starts on it (a node that starts votes before it applies).
func (s *Store) checkLog(logs raft.LogStore, stable raft.StableStore, snaps raft.SnapshotStore, logFile string) error {
	first, err := logs.FirstIndex()
	if err != nil {
		return s.openError(logFile, "cannot read the log's first index: "+err.Error(), err)
	}
	last, err := logs.LastIndex()
	if err != nil {
		return s.openError(logFile, "cannot read the log's last index: "+err.Error(), err)
	}
	list, err := snaps.List()
	if err != nil {
		return s.openError(filepath.Join(s.cfg.Dir, "snapshots"), "cannot list the snapshots: "+err.Error(), err)
	}
	var snapIndex uint64
	if len(list) > 0 {
		snapIndex = list[0].Index
	}
	if last > 0 && first > snapIndex+1 {
		dir := filepath.Join(s.cfg.Dir, "snapshots") + string(filepath.Separator)
		return s.openError(dir, fmt.Sprintf("the log starts at index %d but the newest snapshot ends at %d: "+
			"the entries in between are gone (snapshots/ is missing or incomplete)", first, snapIndex), nil)
	}
	if last == 0 {
		return nil
	}
	term, err := stable.GetUint64([]byte("CurrentTerm"))
	if err != nil && !errors.Is(err, raftboltdb.ErrKeyNotFound) {
		return s.openError(logFile, "cannot read the current term: "+err.Error(), err)
	}
	if d := scanLog(logs, first, last, term); d != nil {
		d.File = filepath.Base(logFile)
		s.damage(*d)
	}
	return nil
}

// scanLog reads entries first to last and returns the first damage found:
// an entry that cannot be read, is out of place, has a term out of order
// or past the current term, or whose command fails its checksum.
// Configuration entries are decoded the way raft will (which panics on bad
// bytes; Open recovers).
func scanLog(logs raft.LogStore, first, last, currentTerm uint64) *kv.Damage {
	var prevTerm uint64
	var l raft.Log
	for i := first; i <= last; i++ {
		if err := logs.GetLog(i, &l); err != nil {
			return &kv.Damage{Index: i, Problem: fmt.Sprintf("entry %d cannot be read: %v", i, err)}
		}
		bad := func(format string, args ...any) *kv.Damage {
			return &kv.Damage{Index: i, Term: l.Term, Problem: fmt.Sprintf(format, args...)}
		}
		switch {
		case l.Index != i:
			return bad("entry %d is stored as index %d", i, l.Index)
		case l.Term < prevTerm:
			return bad("entry %d has term %d, lower than the %d before it", i, l.Term, prevTerm)
		case currentTerm > 0 && l.Term > currentTerm:
			return bad("entry %d has term %d, past the current term %d", i, l.Term, currentTerm)
		}
		prevTerm = l.Term
		switch l.Type {
		case raft.LogCommand:
			if _, err := DecodeCommand(l.Data); errors.Is(err, errChecksum) {
				return bad("the command of entry %d (term %d) does not match its checksum", i, l.Term)
			}
		case raft.LogConfiguration:
			if err := decodeConfiguration(l.Data); err != nil {
				return bad("the configuration in entry %d (term %d) cannot be decoded: %v", i, l.Term, err)
			}
		}
	}
	return nil
}

// decodeConfiguration decodes a configuration entry as raft will, turning
// raft's panic on bad bytes into an error.
func decodeConfiguration(b []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	raft.DecodeConfiguration(b)
	return nil
}
