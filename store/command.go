package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/kvraft/hraftd/kv"
)

// OpType says what one operation in a command does to the state machine.
type OpType uint8

// The operation types. Their numbers are written into the Raft log, so they
// must never be renumbered.
const (
	// OpSet sets Key to Value.
	OpSet OpType = 1
	// OpDelete removes Key.
	OpDelete OpType = 2
	// OpSetMember records that the member whose Raft ID is Key serves its
	// HTTP API at Value. Every node learns the map this way, so any node
	// can forward a request to the leader's API.
	OpSetMember OpType = 3
	// OpDeleteMember forgets the HTTP address of the member with ID Key.
	OpDeleteMember OpType = 4
	// OpSetGroup records the group's ID (Value), once, when the group is
	// founded (see identity.go).
	OpSetGroup OpType = 5
	// OpSetIncarnation records that the member whose Raft ID is Key is in
	// its incarnation Value: the data directory the leader took in.
	OpSetIncarnation OpType = 6

	// OpCheckpoint changes nothing: every replica records its state
	// digest at the entry's index, so replicas can be compared at the
	// same point of the log (see checkpoint.go). It has no key or value.
	OpCheckpoint OpType = 7
	// OpDiverged records that the member whose Raft ID is Key, in the
	// incarnation before the "@" in Value, held a state different from
	// its group's majority at the checkpoint whose index follows the "@"
	// (see compare.go). That member stops serving when it applies it.
	OpDiverged OpType = 8
)

func (t OpType) String() string {
	switch t {
	case OpSet:
		return "set"
	case OpDelete:
		return "delete"
	case OpSetMember:
		return "set-member"
	case OpDeleteMember:
		return "delete-member"
	case OpSetGroup:
		return "set-group"
	case OpSetIncarnation:
		return "set-incarnation"
	case OpCheckpoint:
		return "checkpoint"
	}
	return fmt.Sprintf("op(%d)", uint8(t))
}

// known reports whether t is an operation type this version applies.
func (t OpType) known() bool {
	switch t {
	case OpSet, OpDelete, OpSetMember, OpDeleteMember, OpSetGroup, OpSetIncarnation, OpCheckpoint, OpDiverged:
		return true
	}
	return false
}

// hasValue reports whether operations of this type carry a value.
func (t OpType) hasValue() bool {
	return t == OpSet || t == OpSetMember || t == OpSetGroup || t == OpSetIncarnation || t == OpDiverged
}

// Op is one change to the state machine.
type Op struct {
	Type  OpType
	Key   string
	Value string
}

// Write is what one client asked for: its operations are applied together,
// atomically. A non-empty ID makes the write idempotent: the state machine
// remembers recent IDs and skips a write whose ID it has already applied, so
// a client (or the distributor) may resend a write whose outcome it does not
// know — the leader died after the entry committed but before it answered —
// without the write taking effect twice.
type Write struct {
	ID  string
	Ops []Op
}

// Command is the payload of one Raft log entry. It carries one or more
// writes, so that several clients' writes can share one entry (one fsync,
// one replication round) while each keeps its own atomicity and idempotency.
type Command struct {
	Writes []Write
}

// The first byte of every encoded command is its format version. Version
// 1 has no checksum; Encode writes version 2, which ends with a CRC32C of
// everything before it, so a bit flipped on disk (or anywhere between the
// proposer and the state machine) is found before the entry is applied.
// Version 1 entries, written by older nodes, are still read.
const (
	commandV1 byte = 1
	commandV2 byte = 2
)

// crcTable is CRC32C (Castagnoli), computed in hardware on amd64 and arm64.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// crcSize is the length of a version 2 command's trailing checksum.
const crcSize = 4

var (
	// errCorrupt is wrapped by every decoding error.
	errCorrupt = errors.New("corrupt command")
	// errChecksum means the command's checksum does not match its bytes:
	// the entry was damaged after it was encoded. It wraps errCorrupt;
	// test for it first.
	errChecksum = fmt.Errorf("%w: checksum mismatch", errCorrupt)
)

// Encoding. A hand-written binary layout, chosen over JSON because the log
// holds one of these per entry and every replica decodes every entry: it is
// smaller and several times cheaper to decode than JSON, and it has no
// ambiguity about string escaping. Layout:
//
//	version byte (2)
//	uvarint  number of writes
//	per write: uvarint len(ID), ID, uvarint number of ops,
//	           per op: type byte, uvarint len(key), key,
//	                   [uvarint len(value), value]   (set types only)
//	crc32c, little endian, of every byte before it
//
// Version 1 is the same without the checksum.

// Encode returns the binary form of c.
func (c *Command) Encode() []byte {
	n := 1 + binary.MaxVarintLen64 + crcSize
	for _, w := range c.Writes {
		n += 2*binary.MaxVarintLen64 + len(w.ID)
		for _, op := range w.Ops {
			n += 1 + 2*binary.MaxVarintLen64 + len(op.Key) + len(op.Value)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, commandV2)
	b = c.appendBody(b)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// appendBody appends the writes, the part both versions share.
func (c *Command) appendBody(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(c.Writes)))
	for _, w := range c.Writes {
		b = appendString(b, w.ID)
		b = binary.AppendUvarint(b, uint64(len(w.Ops)))
		for _, op := range w.Ops {
			b = append(b, byte(op.Type))
			b = appendString(b, op.Key)
			if op.Type.hasValue() {
				b = appendString(b, op.Value)
			}
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// DecodeCommand parses the binary form made by Encode, or a version 1
// command. It never panics and never allocates more than the input's size
// allows, whatever the input. A damaged entry gives an error wrapping
// errChecksum; other malformed input, one wrapping errCorrupt only.
//
// The checksum is checked before the version byte is believed: any first
// byte but 1 is taken to end with a checksum, so a flipped bit in the
// version byte of a version 2 command is a checksum error too (no single
// flip turns 2 into 1), not an "unknown version" that would be skipped.
func DecodeCommand(b []byte) (*Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", errCorrupt)
	}
	body := b[1:]
	if b[0] != commandV1 {
		if len(b) < 1+crcSize {
			return nil, fmt.Errorf("%w: %d bytes, too short to hold one", errChecksum, len(b))
		}
		n := len(b) - crcSize
		if crc32.Checksum(b[:n], crcTable) != binary.LittleEndian.Uint32(b[n:]) {
			return nil, errChecksum
		}
		if b[0] != commandV2 {
			return nil, fmt.Errorf("%w: unknown version %d", errCorrupt, b[0])
		}
		body = b[1:n]
	}
	return decodeBody(body)
}

// decodeBody parses the writes of a command of either version.
func decodeBody(b []byte) (*Command, error) {
	d := decoder{b: b}
	nw := d.count(2) // a write takes at least 2 bytes
	c := &Command{Writes: make([]Write, 0, nw)}
	for i := 0; i < nw && d.err == nil; i++ {
		var w Write
		w.ID = d.string()
		if len(w.ID) > kv.MaxWriteIDBytes {
			d.fail("write ID too long")
		}
		nops := d.count(2) // an op takes at least 2 bytes
		w.Ops = make([]Op, 0, nops)
		for j := 0; j < nops && d.err == nil; j++ {
			op := Op{Type: OpType(d.byte())}
			if !op.Type.known() {
				d.fail(fmt.Sprintf("unknown op type %d", op.Type))
				break
			}
			op.Key = d.string()
			if op.Type.hasValue() {
				op.Value = d.string()
			}
			w.Ops = append(w.Ops, op)
		}
		c.Writes = append(c.Writes, w)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	if d.err != nil {
		return nil, d.err
	}
	return c, nil
}

// decoder reads from b, remembering the first error; after an error every
// read returns a zero value.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errCorrupt, msg)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	// Refuse padded encodings (0x80 0x00 for 0): every command must have
	// exactly one encoding.
	if n > 1 && d.b[n-1] == 0 {
		d.fail("non-minimal varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads an element count and checks it against the bytes left, given
// that each element takes at least minSize bytes.
func (d *decoder) count(minSize int) int {
	v := d.uvarint()
	if d.err != nil {
		return 0
	}
	if v > uint64(len(d.b)/minSize) {
		d.fail("count larger than input")
		return 0
	}
	return int(v)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail("string longer than input")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
