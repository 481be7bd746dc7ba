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
		"huge write count":  {commandVersion, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"unknown op type":   {commandVersion, 1, 0, 1, 99, 1, 'k'},
		"op type zero":      {commandVersion, 1, 0, 1, 0, 1, 'k'},
		"string too long":   {commandVersion, 1, 0, 1, byte(OpDelete), 50, 'k'},
		"bad varint":        {commandVersion, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80},
		"write ID too long": append([]byte{commandVersion, 1, 200, 1}, bytes.Repeat([]byte("i"), 200)...),
	}
	for name, in := range cases {
		if c, err := DecodeCommand(in); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: got (%+v, %v), want an error wrapping errCorrupt", name, c, err)
		}
	}
}

// FuzzDecodeCommand checks that the decoder never panics and that whatever
// it accepts re-encodes to the same bytes (so there is one encoding per
// command, and replicas cannot disagree on what an entry means).
func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{commandVersion, 0})
	f.Add((&Command{Writes: []Write{{ID: "w", Ops: []Op{{Type: OpSet, Key: "k", Value: "v"}, {Type: OpDelete, Key: "d"}}}}}).Encode())
	f.Add((&Command{Writes: []Write{{Ops: []Op{{Type: OpSetMember, Key: "n", Value: "h:1"}}}}}).Encode())
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := DecodeCommand(in)
		if err != nil {
			return
		}
		if out := c.Encode(); !bytes.Equal(out, in) {
			t.Fatalf("accepted input does not re-encode identically:\nin  %x\nout %x", in, out)
		}
	})
}
