package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

// checkedSnapshots wraps raft's snapshot store so that a snapshot's data is
// bound to the metadata raft believes (meta.json: index, term and
// configuration), which raft itself never checks: its FileSnapshotStore
// checks only a CRC64 of state.bin, so a meta.json claiming a longer log
// than the data holds would be believed, and the node would campaign with
// a log it does not have.
//
// Writing: Create returns a sink that remembers the metadata; raft hands
// that sink to fsmSnapshot.Persist unwrapped, which writes it into the
// snapshot's header. Reading: Open checks the header against the metadata
// before returning, and the reader it returns checks the trailer's CRC32C
// when it reaches the end. The check has to live in the reader: raft wraps
// it before calling fsm.Restore, so Restore never sees the metadata.
type checkedSnapshots struct {
	raft.SnapshotStore
	damage func(kv.Damage)
	warn   func(msg string, args ...any)
	// opened is the ID of the snapshot opened last, which fsm.Restore
	// names when the data it reads is bad.
	opened atomic.Pointer[string]
}

// metaSink is the sink Create returns: raft's own, plus the metadata the
// data must be bound to.
type metaSink struct {
	raft.SnapshotSink
	header snapHeader
}

// Create is the wrapped store's Create, remembering the metadata.
func (c *checkedSnapshots) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := c.SnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	return &metaSink{SnapshotSink: sink, header: snapHeader{
		index: index, term: term, confSum: configurationSum(configurationIndex, configuration),
	}}, nil
}

// Open opens a snapshot and checks that its data belongs to its metadata.
// A snapshot that fails (its state.bin's CRC, the header, or later the
// trailer) puts the node in damaged mode, naming the snapshot.
func (c *checkedSnapshots) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	c.opened.Store(&id)
	file := "snapshots/" + id
	meta, rc, err := c.SnapshotStore.Open(id)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			problem := "cannot read the snapshot: " + err.Error()
			if err.Error() == "CRC mismatch" { // FileSnapshotStore.Open's words
				problem = "state.bin does not match the CRC64 in meta.json"
			}
			c.damage(kv.Damage{File: file, Index: metaIndex(meta), Problem: problem})
		}
		return nil, nil, err
	}
	fail := func(problem string) (*raft.SnapshotMeta, io.ReadCloser, error) {
		rc.Close()
		c.damage(kv.Damage{File: file, Index: meta.Index, Term: meta.Term, Problem: problem})
		return nil, nil, fmt.Errorf("snapshot %s: %w: %s", id, kv.ErrDamaged, problem)
	}
	br := bufio.NewReaderSize(rc, 64<<10)
	head, err := br.Peek(len(snapshotMagic) + 1)
	if err != nil || string(head[:len(snapshotMagic)]) != snapshotMagic {
		return fail("the data is not a snapshot of this format")
	}
	if head[len(snapshotMagic)] == snapshotV1 {
		c.warn("snapshot has no checksum (written by an older hraftd); the next one will", "snapshot", id)
		return meta, readCloser{br, rc}, nil
	}
	hr := &crcReader{r: br}
	h, err := readSnapHeader(hr)
	if err != nil {
		return fail(err.Error())
	}
	want := snapHeader{index: meta.Index, term: meta.Term, confSum: configurationSum(meta.ConfigurationIndex, meta.Configuration)}
	switch {
	case h.index != want.index || h.term != want.term:
		return fail(fmt.Sprintf("meta.json says index %d term %d; the data says index %d term %d", want.index, want.term, h.index, h.term))
	case h.confSum != want.confSum:
		return fail("meta.json's configuration is not the one the data was written with")
	}
	// Hand Restore the whole stream, header included, through a reader
	// that checks the trailer at the end.
	tr := &trailerCheck{r: io.MultiReader(bytes.NewReader(hr.read), br), onBad: func(problem string) {
		c.damage(kv.Damage{File: file, Index: meta.Index, Term: meta.Term, Problem: problem})
	}}
	return meta, readCloser{tr, rc}, nil
}

func metaIndex(m *raft.SnapshotMeta) uint64 {
	if m == nil {
		return 0
	}
	return m.Index
}

// lastOpened names the snapshot opened last, for Restore's errors.
func (c *checkedSnapshots) lastOpened() string {
	if id := c.opened.Load(); id != nil {
		return "snapshots/" + *id
	}
	return "snapshots/"
}

// configurationSum is a CRC32C of a configuration and its index, in an
// encoding of our own (raft's may change between versions).
func configurationSum(index uint64, conf raft.Configuration) uint32 {
	b := binary.LittleEndian.AppendUint64(nil, index)
	for _, s := range conf.Servers {
		b = append(b, byte(s.Suffrage))
		b = appendString(b, string(s.ID))
		b = appendString(b, string(s.Address))
	}
	return crc32.Checksum(b, crcTable)
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }

// crcReader is a byte reader that keeps what it read, for the header.
type crcReader struct {
	r    *bufio.Reader
	read []byte
}

func (r *crcReader) ReadByte() (byte, error) {
	b, err := r.r.ReadByte()
	if err == nil {
		r.read = append(r.read, b)
	}
	return b, err
}

func (r *crcReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.read = append(r.read, p[:n]...)
	return n, err
}

// trailerCheck passes a v2 snapshot through and, at its end, checks the
// trailer: "HKVE" and the CRC32C of every byte before it. It holds back the
// last trailerSize bytes seen, since it cannot know which bytes are the
// trailer until the stream ends.
type trailerCheck struct {
	r     io.Reader
	crc   uint32
	tail  [trailerSize]byte
	ntail int
	err   error
	onBad func(problem string)
}

func (t *trailerCheck) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	n, err := t.r.Read(p)
	t.track(p[:n])
	if err == io.EOF {
		if bad := t.verify(); bad != "" {
			t.onBad(bad)
			t.err = fmt.Errorf("%w: %s", kv.ErrDamaged, bad)
			return n, t.err
		}
	}
	return n, err
}

// track adds b to the bytes seen: all but the last trailerSize go into
// the CRC.
func (t *trailerCheck) track(b []byte) {
	if t.ntail+len(b) <= trailerSize {
		t.ntail += copy(t.tail[t.ntail:], b)
		return
	}
	// Bytes leaving the tail: the oldest of tail+b, all but the last
	// trailerSize.
	out := t.ntail + len(b) - trailerSize
	fromTail := min(out, t.ntail)
	t.crc = crc32.Update(t.crc, crcTable, t.tail[:fromTail])
	t.crc = crc32.Update(t.crc, crcTable, b[:out-fromTail])
	var keep [2 * trailerSize]byte
	k := copy(keep[:], t.tail[fromTail:t.ntail])
	k += copy(keep[k:], b[out-fromTail:])
	t.ntail = copy(t.tail[:], keep[:k])
}

func (t *trailerCheck) verify() string {
	if t.ntail < trailerSize || string(t.tail[:len(trailerMagic)]) != trailerMagic {
		return "the snapshot's data is truncated (no trailer)"
	}
	if got := binary.LittleEndian.Uint32(t.tail[len(trailerMagic):]); got != t.crc {
		return fmt.Sprintf("the snapshot's data does not match its checksum (crc32c %08x, trailer says %08x)", t.crc, got)
	}
	return ""
}
