package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// tWriter sends logs to the test's output, shown only on failure (or -v).
type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

func applyCmd(t *testing.T, f *fsm, idx uint64, c *Command) applyResult {
	t.Helper()
	r, ok := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: c.Encode()}).(applyResult)
	if !ok {
		t.Fatalf("Apply returned %T, want applyResult", r)
	}
	return r
}

func set(kv ...string) Write {
	w := Write{}
	for i := 0; i+1 < len(kv); i += 2 {
		w.Ops = append(w.Ops, Op{Type: OpSet, Key: kv[i], Value: kv[i+1]})
	}
	return w
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	cancelled, closed bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }

func TestFSMApplySnapshotRestore(t *testing.T) {
	f := newFSM(testLogger(t))
	applyCmd(t, f, 1, &Command{Writes: []Write{set("a", "1", "b", "2", "c", "")}})
	applyCmd(t, f, 2, &Command{Writes: []Write{{Ops: []Op{{Type: OpDelete, Key: "b"}, {Type: OpSetMember, Key: "node1", Value: "h:1"}}}}})
	applyCmd(t, f, 3, &Command{Writes: []Write{{ID: "w1", Ops: set("a", "3").Ops}}})

	want := map[string]string{"a": "3", "c": ""}
	if !maps.Equal(f.data, want) {
		t.Fatalf("data = %v, want %v", f.data, want)
	}
	if v, ok, idx := f.get("c"); !ok || v != "" || idx != 3 {
		t.Fatalf(`get("c") = %q, %v, %d; want "", true, 3`, v, ok, idx)
	}
	if _, ok, _ := f.get("b"); ok {
		t.Fatal("deleted key b is still found")
	}

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Changes after Snapshot must not leak into it.
	applyCmd(t, f, 4, &Command{Writes: []Write{set("late", "x")}})
	var sink memSink
	if err := snap.Persist(&sink); err != nil || !sink.closed || sink.cancelled {
		t.Fatalf("Persist: err=%v closed=%v cancelled=%v", err, sink.closed, sink.cancelled)
	}

	g := newFSM(testLogger(t))
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if !maps.Equal(g.data, want) {
		t.Errorf("restored data = %v, want %v", g.data, want)
	}
	if g.member("node1") != "h:1" {
		t.Errorf("restored member address = %q, want h:1", g.member("node1"))
	}
	want3 := f.digestAt(t, 3, want)
	if d := g.digest(); d != want3 {
		t.Errorf("restored digest = %+v, want %+v", d, want3)
	}
	// The write ID survives the snapshot: a resend after restore is skipped.
	applyCmd(t, g, 5, &Command{Writes: []Write{{ID: "w1", Ops: set("a", "resent").Ops}}})
	if v, _, _ := g.get("a"); v != "3" {
		t.Errorf("a resent write was applied again after restore: a = %q", v)
	}
}

// digestAt computes the digest a fresh FSM holding data at index idx has.
func (f *fsm) digestAt(t *testing.T, idx uint64, data map[string]string) kv.Digest {
	t.Helper()
	var h uint64
	for k, v := range data {
		h ^= pairHash(k, v)
	}
	return kv.Digest{AppliedIndex: idx, Keys: len(data), Hash: h}
}

func TestFSMDigestTracksState(t *testing.T) {
	f, g := newFSM(testLogger(t)), newFSM(testLogger(t))
	// Same final state reached by different paths gives the same hash.
	applyCmd(t, f, 1, &Command{Writes: []Write{set("a", "1", "b", "2")}})
	applyCmd(t, g, 1, &Command{Writes: []Write{set("b", "x", "a", "1")}})
	applyCmd(t, g, 2, &Command{Writes: []Write{set("b", "2", "z", "9")}})
	applyCmd(t, g, 3, &Command{Writes: []Write{{Ops: []Op{{Type: OpDelete, Key: "z"}}}}})
	if f.digest().Hash != g.digest().Hash {
		t.Fatalf("same state, different hashes: %x vs %x", f.digest().Hash, g.digest().Hash)
	}
	applyCmd(t, g, 4, &Command{Writes: []Write{set("a", "2")}})
	if f.digest().Hash == g.digest().Hash {
		t.Fatal("different states, same hash")
	}
}

func TestFSMWriteIDsMakeWritesIdempotent(t *testing.T) {
	f := newFSM(testLogger(t))
	applyCmd(t, f, 1, &Command{Writes: []Write{{ID: "x", Ops: set("k", "1").Ops}}})
	applyCmd(t, f, 2, &Command{Writes: []Write{set("k", "2")}})
	// The resend of write x comes after another client's write: it must
	// not take effect again.
	applyCmd(t, f, 3, &Command{Writes: []Write{{ID: "x", Ops: set("k", "1").Ops}, {ID: "y", Ops: set("j", "1").Ops}}})
	if v, _, _ := f.get("k"); v != "2" {
		t.Errorf("k = %q, want 2: a duplicate write was applied twice", v)
	}
	if v, _, _ := f.get("j"); v != "1" {
		t.Errorf("j = %q, want 1: a new write in the same entry was skipped", v)
	}
}

func TestDedupTableEvictsOldestFirst(t *testing.T) {
	d := newDedupTable(3)
	for _, id := range []string{"a", "b", "c", "d"} {
		if !d.add(id) {
			t.Fatalf("add(%q) reported a duplicate", id)
		}
	}
	if d.add("d") || d.add("c") {
		t.Error("recent IDs were forgotten")
	}
	if !d.add("a") {
		t.Error("the oldest ID was not evicted")
	}
	if got, want := d.ids(), []string{"c", "d", "a"}; !slicesEqual(got, want) {
		t.Errorf("ids() = %v, want %v", got, want)
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFSMSkipsUndecodableEntry applies entries that are intact (a v1 entry
// has no checksum; the v2 one's matches) but that this version cannot
// decode: they are skipped, deterministically, not treated as damage.
func TestFSMSkipsUndecodableEntry(t *testing.T) {
	v2 := []byte{commandV2, 1, 0, 1, 99, 1, 'k'} // unknown op type
	v2 = binary.LittleEndian.AppendUint32(v2, crc32.Checksum(v2, crcTable))
	for name, data := range map[string][]byte{
		"v1 unknown op": {commandV1, 1, 0, 1, 99, 1, 'k'},
		"v2 unknown op": v2,
	} {
		f := newFSM(testLogger(t))
		f.onDamage = func(d kv.Damage) { t.Errorf("%s: reported as damage: %+v", name, d) }
		r := f.Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: data}).(applyResult)
		if r.err == nil {
			t.Fatalf("%s: an undecodable entry was accepted", name)
		}
		if d := f.digest(); d.AppliedIndex != 7 || d.Keys != 0 {
			t.Fatalf("%s: after skipping: %+v; want applied index 7 and no keys", name, d)
		}
	}
}

func TestRestoreRejectsCorruptSnapshot(t *testing.T) {
	f := newFSM(testLogger(t))
	applyCmd(t, f, 1, &Command{Writes: []Write{set("a", "1")}})
	snap, _ := f.Snapshot()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	good := sink.Bytes()
	for name, in := range map[string][]byte{
		"empty":     nil,
		"bad magic": append([]byte("XXXX"), good[4:]...),
		"truncated": good[:len(good)-2],
	} {
		g := newFSM(testLogger(t))
		applyCmd(t, g, 1, &Command{Writes: []Write{set("keep", "me")}})
		if err := g.Restore(io.NopCloser(bytes.NewReader(in))); err == nil {
			t.Errorf("%s: Restore accepted a corrupt snapshot", name)
		}
		if v, _, _ := g.get("keep"); v != "me" {
			t.Errorf("%s: a failed Restore changed the state", name)
		}
	}
}

func TestWaitApplied(t *testing.T) {
	f := newFSM(testLogger(t))
	done := make(chan error, 1)
	go func() { done <- f.waitApplied(context.Background(), 2) }()
	applyCmd(t, f, 1, &Command{})
	select {
	case err := <-done:
		t.Fatalf("waitApplied(2) returned %v at index 1", err)
	default:
	}
	applyCmd(t, f, 2, &Command{})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waitApplied(2) did not return after index 2 was applied")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.waitApplied(ctx, 99); err == nil {
		t.Fatal("waitApplied ignored a cancelled context")
	}
}
