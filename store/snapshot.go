package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"
)

// Snapshot format. The state is streamed record by record through a
// buffered writer rather than marshalled into one JSON document first (as
// hraftd does), so writing or reading a snapshot of a million keys never
// holds a second full copy of the data in memory. The FileSnapshotStore
// adds a CRC over the file, so corruption is caught on open.
//
//	magic "HKVS", version byte
//	uvarint applied index
//	uvarint n, n × (string id, string http address)    members
//	uvarint n, n × string                               recent write IDs, oldest first
//	uvarint n, n × (string key, string value)           data
//
// where string is uvarint length + bytes.
const (
	snapshotMagic   = "HKVS"
	snapshotVersion = 1
)

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
	dedup   []string
}

// Persist writes the snapshot to sink, cancelling the sink on any error so
// raft discards the partial file.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	err := s.write(sink)
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

func (s *fsmSnapshot) write(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	sw := snapWriter{w: bw}
	sw.raw([]byte(snapshotMagic))
	sw.raw([]byte{snapshotVersion})
	sw.uvarint(s.applied)
	sw.uvarint(uint64(len(s.members)))
	for id, addr := range s.members {
		sw.str(id)
		sw.str(addr)
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
		return fmt.Errorf("restore snapshot: %w", err)
	}
	f.restoreState(st)
	f.logger.Info("restored snapshot", "keys", len(st.data), "applied_index", st.applied)
	return nil
}

// maxPrealloc caps how much a count read from a snapshot may preallocate,
// so a corrupt count cannot exhaust memory before the data runs out.
const maxPrealloc = 1 << 20

func readSnapshot(r io.Reader) (*snapshotState, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	sr := snapReader{r: br}
	head := sr.raw(len(snapshotMagic) + 1)
	if sr.err != nil {
		return nil, sr.err
	}
	if string(head[:len(snapshotMagic)]) != snapshotMagic || head[len(snapshotMagic)] != snapshotVersion {
		return nil, errors.New("not a snapshot of this format or version")
	}
	st := &snapshotState{applied: sr.uvarint()}
	n := sr.uvarint()
	st.members = make(map[string]string, min(n, maxPrealloc))
	for i := uint64(0); i < n && sr.err == nil; i++ {
		id := sr.str()
		st.members[id] = sr.str()
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
	return st, nil
}

type snapReader struct {
	r   *bufio.Reader
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
	return b
}

func (r *snapReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(r.r)
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
