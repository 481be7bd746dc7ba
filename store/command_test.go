package store

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestCommandRoundTrip(t *testing.T) {
	cases := []Command{
		{},
		{Writes: []Write{{}}},
		{Writes: []Write{{ID: "w1", Ops: []Op{{Type: OpSet, Key: "k", Value: "v"}}}}},
		{Writes: []Write{
			{ID: "a", Ops: []Op{{Type: OpSet, Key: "k1", Value: ""}, {Type: OpDelete, Key: "k2"}}},
			{Ops: []Op{{Type: OpSetMember, Key: "node1", Value: "127.0.0.1:11001"}, {Type: OpDeleteMember, Key: "node2"}}},
		}},
		{Writes: []Write{{Ops: []Op{{Type: OpSet, Key: "ünï/cødé %2F", Value: string(bytes.Repeat([]byte("x"), 70000))}}}}},
	}
	for i, c := range cases {
		got, err := DecodeCommand(c.Encode())
		if err != nil {
			t.Fatalf("case %d: decode: %v", i, err)
		}
		if !equalCommands(&c, got) {
			t.Errorf("case %d: round trip changed the command:\nwant %+v\ngot  %+v", i, c, *got)
		}
	}
}

// equalCommands compares commands treating nil and empty slices alike.
func equalCommands(a, b *Command) bool {
	if len(a.Writes) != len(b.Writes) {
		return false
	}
	for i := range a.Writes {
		wa, wb := a.Writes[i], b.Writes[i]
		if wa.ID != wb.ID || len(wa.Ops) != len(wb.Ops) {
			return false
		}
		if len(wa.Ops) > 0 && !reflect.DeepEqual(wa.Ops, wb.Ops) {
			return false
		}
	}
	return true
}

func TestDecodeCommandRejectsCorruptInput(t *testing.T) {
	valid := (&Command{Writes: []Write{{ID: "id", Ops: []Op{{Type: OpSet, Key: "k", Value: "v"}}}}}).Encode()
	cases := map[string][]byte{
		"empty":             nil,
		"unknown version":   {9, 0},
		"truncated":         valid[:len(valid)-1],
		"trailing bytes":    append(append([]byte{}, valid...), 0),
		"huge write count":  {commandV1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"unknown op type":   {commandV1, 1, 0, 1, 99, 1, 'k'},
		"op type zero":      {commandV1, 1, 0, 1, 0, 1, 'k'},
		"string too long":   {commandV1, 1, 0, 1, byte(OpDelete), 50, 'k'},
		"bad varint":        {commandV1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80},
		"write ID too long": append([]byte{commandV1, 1, 200, 1}, bytes.Repeat([]byte("i"), 200)...),
	}
	for name, in := range cases {
		if c, err := DecodeCommand(in); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: got (%+v, %v), want an error wrapping errCorrupt", name, c, err)
		}
	}
}

// TestDecodeCommandV1 decodes a version 1 command as an older node wrote it
// (no checksum): logs written before checksums must still replay.
func TestDecodeCommandV1(t *testing.T) {
	fixture := []byte{commandV1, 2,
		2, 'w', '1', 2, byte(OpSet), 1, 'k', 1, 'v', byte(OpDelete), 1, 'd',
		0, 1, byte(OpSetMember), 5, 'n', 'o', 'd', 'e', '1', 3, 'h', ':', '1'}
	want := &Command{Writes: []Write{
		{ID: "w1", Ops: []Op{{Type: OpSet, Key: "k", Value: "v"}, {Type: OpDelete, Key: "d"}}},
		{Ops: []Op{{Type: OpSetMember, Key: "node1", Value: "h:1"}}},
	}}
	got, err := DecodeCommand(fixture)
	if err != nil {
		t.Fatalf("decode v1 fixture: %v", err)
	}
	if !equalCommands(want, got) {
		t.Errorf("v1 fixture decoded as %+v, want %+v", *got, *want)
	}
	if v2 := got.Encode(); v2[0] != commandV2 {
		t.Errorf("Encode wrote version %d, want %d", v2[0], commandV2)
	}
}

// TestDecodeCommandDetectsEveryBitFlip flips each bit of encoded commands in
// turn: each flip must give a checksum error, never a command (a wrong
// value applied) nor a plain decoding error (an entry skipped).
func TestDecodeCommandDetectsEveryBitFlip(t *testing.T) {
	cmds := []Command{
		{},
		{Writes: []Write{{ID: "w1", Ops: []Op{{Type: OpSet, Key: "key", Value: "value"}}}}},
		{Writes: []Write{
			{ID: "a", Ops: []Op{{Type: OpSet, Key: "k1", Value: string(bytes.Repeat([]byte("v"), 300))}, {Type: OpDelete, Key: "k2"}}},
			{Ops: []Op{{Type: OpSetMember, Key: "node1", Value: "127.0.0.1:11001"}}},
		}},
	}
	for i, c := range cmds {
		enc := c.Encode()
		for bit := range len(enc) * 8 {
			b := bytes.Clone(enc)
			b[bit/8] ^= 1 << (bit % 8)
			if got, err := DecodeCommand(b); !errors.Is(err, errChecksum) {
				t.Fatalf("command %d, bit %d flipped: got (%+v, %v), want a checksum error", i, bit, got, err)
			}
		}
	}
}

func TestDecodeCommandChecksumIsDistinct(t *testing.T) {
	if _, err := DecodeCommand([]byte{commandV1, 1, 0, 1, 99, 1, 'k'}); errors.Is(err, errChecksum) {
		t.Errorf("a malformed v1 command gave %v, which must not count as a checksum error", err)
	}
	v2 := (&Command{Writes: []Write{{Ops: []Op{{Type: OpDelete, Key: "k"}}}}}).Encode()
	v2[len(v2)-1] ^= 0xff
	if _, err := DecodeCommand(v2); !errors.Is(err, errChecksum) || !errors.Is(err, errCorrupt) {
		t.Errorf("a damaged v2 command gave %v, want errChecksum wrapping errCorrupt", err)
	}
}

// FuzzDecodeCommand checks that the decoder never panics and that whatever
// it accepts re-encodes to the same bytes in its version (so there is one
// encoding per command, and replicas cannot disagree on what an entry
// means).
func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{commandV1, 0})
	f.Add((&Command{}).Encode())
	f.Add([]byte{commandV1, 1, 2, 'w', '1', 1, byte(OpSet), 1, 'k', 1, 'v'})
	f.Add((&Command{Writes: []Write{{ID: "w", Ops: []Op{{Type: OpSet, Key: "k", Value: "v"}, {Type: OpDelete, Key: "d"}}}}}).Encode())
	f.Add((&Command{Writes: []Write{{Ops: []Op{{Type: OpSetMember, Key: "n", Value: "h:1"}}}}}).Encode())
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := DecodeCommand(in)
		if err != nil {
			return
		}
		out := c.Encode()
		if in[0] == commandV1 {
			out = append([]byte{commandV1}, c.appendBody(nil)...)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("accepted input does not re-encode identically:\nin  %x\nout %x", in, out)
		}
	})
}
