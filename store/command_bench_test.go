package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// The log-entry encoding was picked with these benchmarks: every replica
// decodes every entry on its apply path, so decode cost is what matters.
// Run: go test -run XXX -bench Command -benchmem ./store/
//
// jsonCommand is the obvious alternative: hraftd's JSON command, extended to
// carry several writes.
type jsonCommand struct {
	Writes []jsonWrite `json:"writes"`
}

type jsonWrite struct {
	ID  string   `json:"id,omitempty"`
	Ops []jsonOp `json:"ops"`
}

type jsonOp struct {
	Op    string `json:"op"`
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

func benchCommand(writes, valueSize int) (*Command, *jsonCommand) {
	c, j := &Command{}, &jsonCommand{}
	val := strings.Repeat("x", valueSize)
	for i := range writes {
		k := fmt.Sprintf("key-%010d", i)
		id := fmt.Sprintf("w-%016x", i)
		c.Writes = append(c.Writes, Write{ID: id, Ops: []Op{{Type: OpSet, Key: k, Value: val}}})
		j.Writes = append(j.Writes, jsonWrite{ID: id, Ops: []jsonOp{{Op: "set", Key: k, Value: val}}})
	}
	return c, j
}

func BenchmarkCommandDecode(b *testing.B) {
	for _, writes := range []int{1, 64} {
		c, j := benchCommand(writes, 100)
		bin := c.Encode()
		js, _ := json.Marshal(j)
		b.Run(fmt.Sprintf("binary/writes=%d", writes), func(b *testing.B) {
			b.SetBytes(int64(len(bin)))
			for b.Loop() {
				if _, err := DecodeCommand(bin); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("json/writes=%d", writes), func(b *testing.B) {
			b.SetBytes(int64(len(js)))
			for b.Loop() {
				var out jsonCommand
				if err := json.Unmarshal(js, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCommandEncode(b *testing.B) {
	for _, writes := range []int{1, 64} {
		c, j := benchCommand(writes, 100)
		b.Run(fmt.Sprintf("binary/writes=%d", writes), func(b *testing.B) {
			for b.Loop() {
				_ = c.Encode()
			}
		})
		b.Run(fmt.Sprintf("json/writes=%d", writes), func(b *testing.B) {
			for b.Loop() {
				if _, err := json.Marshal(j); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
