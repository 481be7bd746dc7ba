package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

// Snapshot format. The state is streamed record by record through a
// buffered writer rather than marshalled into one JSON document first (as
// hraftd does), so writing or reading a snapshot of a million keys never
// holds a second full copy of the data in memory. Version 3:
//
//	magic "HKVS", version byte 3
//	uvarint index, uvarint term, u32 configuration sum   header (see snapstore.go)
//	uvarint applied index
//	uvarint n, n × (string id, string http address)    members
//	string group, uvarint n, n × (string id, string incarnation)   identity
//	uvarint n, n × string                               recent write IDs, oldest first
//	uvarint n, n × (string key, string value)           data
//	"HKVE", u32 crc32c of every byte before "HKVE"      trailer
//
// where string is uvarint length + bytes and u32 is little endian. The
// header binds the data to the index, term and configuration raft keeps in
// meta.json; the trailer catches damage anywhere in the data, whoever reads
// it (raft's own CRC64 is checked only when the snapshot store opens the
// file, not by a follower receiving it). Version 2 is version 3 without
// the identity section; version 1 (older hraftd) has neither header nor
// trailer, nor identity. Both are still read.
const (
	snapshotMagic = "HKVS"
	snapshotV1    = 1
	snapshotV2    = 2
	snapshotV3    = 3
	trailerMagic  = "HKVE"
	trailerSize   = len(trailerMagic) + 4
)

// snapHeader binds a snapshot's data to raft's metadata for it.
type snapHeader struct {
	index, term uint64
	confSum     uint32 // configurationSum of the configuration and its index
}

// readSnapHeader reads a version 2 header, magic and version included.
func readSnapHeader(r interface {
	io.Reader
	io.ByteReader
}) (snapHeader, error) {
	var h snapHeader
	var head [len(snapshotMagic) + 1]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return h, fmt.Errorf("truncated snapshot: %w", err)
	}
	if v := head[len(snapshotMagic)]; string(head[:len(snapshotMagic)]) != snapshotMagic || (v != snapshotV2 && v != snapshotV3) {
		return h, errors.New("not a snapshot of this format or version")
	}
	var err error
	if h.index, err = binary.ReadUvarint(r); err == nil {
		h.term, err = binary.ReadUvarint(r)
	}
	var sum [4]byte
	if err == nil {
		_, err = io.ReadFull(r, sum[:])
	}
	if err != nil {
		return h, fmt.Errorf("truncated snapshot header: %w", err)
	}
	h.confSum = binary.LittleEndian.Uint32(sum[:])
	return h, nil
}

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

// fsmSnapshot is a point-in-time copy of the state, written out by Persist.
type fsmSnapshot struct {
	fsm     *fsm      // for its counters
	start   time.Time // when Snapshot was called
	applied uint64
	data    map[string]string
	members map[string]string
	group   string
	incs    map[string]string
	dedup   []string
}

// Persist writes the snapshot to sink, cancelling the sink on any error so
// raft discards the partial file.
//
// raft passes the sink checkedSnapshots.Create made, which carries the
// index, term and configuration the header binds the data to. Any other
// sink (a test's) gets a header with the applied index alone.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	h := snapHeader{index: s.applied}
	if ms, ok := sink.(*metaSink); ok {
		h = ms.header
	}
	err := s.write(sink, h)
	if err != nil {
		sink.Cancel()
		err = fmt.Errorf("persist snapshot: %w", err)
	} else {
		err = sink.Close()
	}
	if s.fsm != nil {
		if err != nil {
			s.fsm.snapshotFailures.Add(1)
		} else {
			s.fsm.snapshots.Add(1)
			s.fsm.snapshotNanos.Add(uint64(time.Since(s.start)))
		}
	}
	return err
}

func (s *fsmSnapshot) write(w io.Writer, h snapHeader) error {
	cw := &crcWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	sw := snapWriter{w: bw}
	sw.raw([]byte(snapshotMagic))
	sw.raw([]byte{snapshotV3})
	sw.uvarint(h.index)
	sw.uvarint(h.term)
	sw.raw(binary.LittleEndian.AppendUint32(nil, h.confSum))
	sw.uvarint(s.applied)
	sw.uvarint(uint64(len(s.members)))
	for id, addr := range s.members {
		sw.str(id)
		sw.str(addr)
	}
	sw.str(s.group)
	sw.uvarint(uint64(len(s.incs)))
	for id, inc := range s.incs {
		sw.str(id)
		sw.str(inc)
	}
	sw.uvarint(uint64(len(s.dedup)))
	for _, id := range s.dedup {
		sw.str(id)
	}
	sw.uvarint(uint64(len(s.data)))
	for k, v := range s.data {
		sw.str(k)
		sw.str(v)
	}
	if sw.err != nil {
		return sw.err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	sw.raw([]byte(trailerMagic))
	sw.raw(binary.LittleEndian.AppendUint32(nil, cw.crc))
	if sw.err != nil {
		return sw.err
	}
	return bw.Flush()
}

// Release is a no-op: the snapshot holds only garbage-collected memory.
func (s *fsmSnapshot) Release() {}

type snapWriter struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
	err error
}

func (w *snapWriter) raw(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
}

// crcWriter keeps the CRC32C of what goes through it.
type crcWriter struct {
	w   io.Writer
	crc uint32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	c.crc = crc32.Update(c.crc, crcTable, p)
	return c.w.Write(p)
}

func (w *snapWriter) uvarint(v uint64) {
	n := binary.PutUvarint(w.buf[:], v)
	w.raw(w.buf[:n])
}

func (w *snapWriter) str(s string) {
	w.uvarint(uint64(len(s)))
	if w.err == nil {
		_, w.err = w.w.WriteString(s)
	}
}

// snapshotState is a decoded snapshot.
type snapshotState struct {
	applied uint64
	data    map[string]string
	members map[string]string
	group   string
	incs    map[string]string
	dedup   []string
}

// Restore replaces the state with the snapshot read from rc.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if f.halted.Load() {
		return errHalted
	}
	st, err := readSnapshot(rc)
	if err != nil {
		// The state is untouched (nothing is swapped in before the
		// whole snapshot has been read and checked), but a snapshot
		// that cannot be read must not be replaced by an older one
		// (raft's fallback at start), which would serve stale state.
		if !errors.Is(err, kv.ErrDamaged) && f.onDamage != nil {
			name := "snapshot"
			if f.snapshotName != nil {
				name = f.snapshotName()
			}
			f.onDamage(kv.Damage{File: name, Problem: "cannot restore the snapshot: " + err.Error()})
		}
		return fmt.Errorf("restore snapshot: %w", err)
	}
	f.restoreState(st)
	f.logger.Info("restored snapshot", "keys", len(st.data), "applied_index", st.applied)
	return nil
}

// maxPrealloc caps how much a count read from a snapshot may preallocate,
// so a corrupt count cannot exhaust memory before the data runs out.
const maxPrealloc = 1 << 20

// readSnapshot decodes a snapshot of either version; a version 2 one is
// checked against its trailer, and must hold no entry past its header's
// index.
func readSnapshot(r io.Reader) (*snapshotState, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	sr := snapReader{r: br}
	head := sr.raw(len(snapshotMagic) + 1)
	if sr.err != nil {
		return nil, sr.err
	}
	version := head[len(snapshotMagic)]
	if string(head[:len(snapshotMagic)]) != snapshotMagic || version < snapshotV1 || version > snapshotV3 {
		return nil, errors.New("not a snapshot of this format or version")
	}
	var h snapHeader
	if version >= snapshotV2 {
		h.index, h.term = sr.uvarint(), sr.uvarint()
		sr.raw(4)
	}
	st := &snapshotState{applied: sr.uvarint()}
	n := sr.uvarint()
	st.members = make(map[string]string, min(n, maxPrealloc))
	for i := uint64(0); i < n && sr.err == nil; i++ {
		id := sr.str()
		st.members[id] = sr.str()
	}
	st.incs = make(map[string]string)
	if version >= snapshotV3 {
		st.group = sr.str()
		n = sr.uvarint()
		for i := uint64(0); i < n && sr.err == nil; i++ {
			id := sr.str()
			st.incs[id] = sr.str()
		}
	}
	n = sr.uvarint()
	st.dedup = make([]string, 0, min(n, maxPrealloc))
	for i := uint64(0); i < n && sr.err == nil; i++ {
		st.dedup = append(st.dedup, sr.str())
	}
	n = sr.uvarint()
	st.data = make(map[string]string, min(n, maxPrealloc))
	for i := uint64(0); i < n && sr.err == nil; i++ {
		k := sr.str()
		st.data[k] = sr.str()
	}
	if sr.err != nil {
		return nil, sr.err
	}
	if version == snapshotV1 {
		return st, nil
	}
	if err := sr.checkTrailer(); err != nil {
		return nil, err
	}
	if st.applied > h.index {
		return nil, fmt.Errorf("corrupt snapshot: its data is at index %d, past the %d of its header", st.applied, h.index)
	}
	return st, nil
}

// checkTrailer reads the trailer and the end of the stream.
func (r *snapReader) checkTrailer() error {
	sum := r.crc
	t := r.raw(trailerSize)
	if r.err != nil {
		return r.err
	}
	if string(t[:len(trailerMagic)]) != trailerMagic {
		return errors.New("corrupt snapshot: no trailer where the data ends")
	}
	if got := binary.LittleEndian.Uint32(t[len(trailerMagic):]); got != sum {
		return fmt.Errorf("corrupt snapshot: the data does not match its checksum (crc32c %08x, trailer says %08x)", sum, got)
	}
	if _, err := r.r.ReadByte(); err != io.EOF {
		if err == nil {
			return errors.New("corrupt snapshot: bytes after its trailer")
		}
		return err
	}
	return nil
}

// snapReader reads a snapshot, remembering the first error and keeping
// the CRC32C of what it read.
type snapReader struct {
	r   *bufio.Reader
	crc uint32
	one [1]byte
	err error
}

func (r *snapReader) raw(n int) []byte {
	if r.err != nil {
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.r, b); err != nil {
		r.err = fmt.Errorf("truncated snapshot: %w", err)
		return nil
	}
	r.crc = crc32.Update(r.crc, crcTable, b)
	return b
}

// ReadByte makes r an io.ByteReader for binary.ReadUvarint.
func (r *snapReader) ReadByte() (byte, error) {
	c, err := r.r.ReadByte()
	if err == nil {
		r.one[0] = c
		r.crc = crc32.Update(r.crc, crcTable, r.one[:])
	}
	return c, err
}

func (r *snapReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(r)
	if err != nil {
		r.err = fmt.Errorf("truncated snapshot: %w", err)
	}
	return v
}

// maxSnapshotString bounds one string in a snapshot; nothing the API
// accepts comes near it, so a larger length means corruption.
const maxSnapshotString = 64 << 20

func (r *snapReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > maxSnapshotString {
		r.err = fmt.Errorf("corrupt snapshot: string of %d bytes", n)
		return ""
	}
	return string(r.raw(int(n)))
}
