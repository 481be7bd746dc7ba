package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

var testConf = raft.Configuration{Servers: []raft.Server{
	{Suffrage: raft.Voter, ID: "node0", Address: "127.0.0.1:12000"},
	{Suffrage: raft.Voter, ID: "node1", Address: "127.0.0.1:12001"},
}}

// snapFixture is a checkedSnapshots over a FileSnapshotStore in a temp
// dir, recording the damage it reports.
type snapFixture struct {
	dir     string
	store   *checkedSnapshots
	damages []kv.Damage
}

func newSnapFixture(t *testing.T) *snapFixture {
	t.Helper()
	x := &snapFixture{dir: t.TempDir()}
	fss, err := raft.NewFileSnapshotStore(x.dir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	x.store = &checkedSnapshots{SnapshotStore: fss, damage: func(d kv.Damage) { x.damages = append(x.damages, d) },
		warn: func(string, ...any) {}}
	return x
}

// persist writes f's state as a snapshot at index/term and returns its ID.
func (x *snapFixture) persist(t *testing.T, f *fsm, index, term uint64) string {
	t.Helper()
	_, trans := raft.NewInmemTransport("")
	sink, err := x.store.Create(raft.SnapshotVersionMax, index, term, testConf, 1, trans)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	return sink.ID()
}

// restore opens id and restores it into a fresh FSM.
func (x *snapFixture) restore(t *testing.T, id string) (*fsm, error) {
	t.Helper()
	g := newFSM(testLogger(t))
	g.onDamage = func(d kv.Damage) { x.damages = append(x.damages, d) }
	g.snapshotName = x.store.lastOpened
	_, rc, err := x.store.Open(id)
	if err != nil {
		return g, err
	}
	return g, g.Restore(rc)
}

func testFSM(t *testing.T) *fsm {
	f := newFSM(testLogger(t))
	applyCmd(t, f, 1, &Command{Writes: []Write{set("a", "1", "b", strings.Repeat("x", 5000))}})
	applyCmd(t, f, 2, &Command{Writes: []Write{{ID: "w", Ops: []Op{{Type: OpSetMember, Key: "node1", Value: "h:1"}}}}})
	return f
}

func TestSnapshotV2RoundTrip(t *testing.T) {
	x := newSnapFixture(t)
	f := testFSM(t)
	id := x.persist(t, f, 2, 1)
	g, err := x.restore(t, id)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if !maps.Equal(g.data, f.data) || g.member("node1") != "h:1" || g.appliedIndex() != 2 {
		t.Errorf("restored %v (applied %d), want %v", g.data, g.appliedIndex(), f.data)
	}
	if len(x.damages) != 0 {
		t.Errorf("damage reported for a good snapshot: %+v", x.damages)
	}
}

// editMeta rewrites snapshot id's meta.json with change applied.
func (x *snapFixture) editMeta(t *testing.T, id string, change func(m map[string]any)) {
	t.Helper()
	p := filepath.Join(x.dir, "snapshots", id, "meta.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (x *snapFixture) wantDamage(t *testing.T, err error, id, problem string) {
	t.Helper()
	if err == nil {
		t.Fatal("a bad snapshot was restored")
	}
	if len(x.damages) == 0 {
		t.Fatalf("no damage reported (error %v)", err)
	}
	d := x.damages[0]
	if d.File != "snapshots/"+id || !strings.Contains(d.Problem, problem) {
		t.Errorf("damage = %+v, want file snapshots/%s and a problem mentioning %q", d, id, problem)
	}
}

func TestSnapshotMetaIndexMismatchIsDamage(t *testing.T) {
	x := newSnapFixture(t)
	id := x.persist(t, testFSM(t), 2, 1)
	x.editMeta(t, id, func(m map[string]any) { m["Index"] = 200 })
	_, err := x.restore(t, id)
	x.wantDamage(t, err, id, "meta.json says index 200 term 1; the data says index 2 term 1")
}

func TestSnapshotMetaConfigurationMismatchIsDamage(t *testing.T) {
	x := newSnapFixture(t)
	id := x.persist(t, testFSM(t), 2, 1)
	x.editMeta(t, id, func(m map[string]any) { m["ConfigurationIndex"] = 2 })
	_, err := x.restore(t, id)
	x.wantDamage(t, err, id, "configuration")
}

func TestSnapshotStateFlipIsDamage(t *testing.T) {
	x := newSnapFixture(t)
	id := x.persist(t, testFSM(t), 2, 1)
	p := filepath.Join(x.dir, "snapshots", id, "state.bin")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = x.restore(t, id)
	x.wantDamage(t, err, id, "CRC64")
}

// fixedSnapshots is a snapshot store that opens one snapshot with the
// given bytes, whatever its CRC: what a follower's reader sees.
type fixedSnapshots struct {
	raft.SnapshotStore
	meta raft.SnapshotMeta
	data []byte
}

func (f *fixedSnapshots) Open(string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	m := f.meta
	return &m, io.NopCloser(bytes.NewReader(f.data)), nil
}

// TestSnapshotTrailerFlipIsDamage flips every byte of a snapshot in turn,
// past its header, and reads it through the checked store: each flip
// must fail the restore and report damage, never restore other data.
func TestSnapshotTrailerFlipIsDamage(t *testing.T) {
	f := testFSM(t)
	snap, _ := f.Snapshot()
	var sink memSink
	h := snapHeader{index: 2, term: 1, confSum: configurationSum(1, testConf)}
	if err := snap.(*fsmSnapshot).write(&sink, h); err != nil {
		t.Fatal(err)
	}
	good := sink.Bytes()
	hdrLen := len(snapshotMagic) + 1 + 2 + 4
	meta := raft.SnapshotMeta{ID: "1-2-3", Index: 2, Term: 1, Configuration: testConf, ConfigurationIndex: 1}
	for i := hdrLen; i < len(good); i += 97 {
		bad := bytes.Clone(good)
		bad[i] ^= 0x01
		var damages []kv.Damage
		c := &checkedSnapshots{SnapshotStore: &fixedSnapshots{meta: meta, data: bad},
			damage: func(d kv.Damage) { damages = append(damages, d) }, warn: func(string, ...any) {}}
		g := newFSM(testLogger(t))
		g.onDamage = func(d kv.Damage) { damages = append(damages, d) }
		g.snapshotName = c.lastOpened
		_, rc, err := c.Open("1-2-3")
		if err == nil {
			err = g.Restore(rc)
		}
		if err == nil || len(damages) == 0 || damages[0].File != "snapshots/1-2-3" {
			t.Fatalf("byte %d flipped: restore error %v, damages %+v; want a failed restore naming the snapshot", i, err, damages)
		}
		if len(g.data) != 0 {
			t.Fatalf("byte %d flipped: data was restored: %v", i, g.data)
		}
	}
}

// TestSnapshotV1StillReads restores a snapshot written by an older
// hraftd: no header, no trailer.
func TestSnapshotV1StillReads(t *testing.T) {
	v1 := []byte("HKVS\x01")
	v1 = append(v1, 7)                                               // applied index
	v1 = append(v1, 1, 5, 'n', 'o', 'd', 'e', '1', 3, 'h', ':', '1') // members
	v1 = append(v1, 1, 2, 'w', '1')                                  // write IDs
	v1 = append(v1, 2, 1, 'a', 1, '1', 1, 'b', 0)                    // data
	var warned bool
	c := &checkedSnapshots{SnapshotStore: &fixedSnapshots{meta: raft.SnapshotMeta{ID: "old", Index: 7, Term: 1}, data: v1},
		damage: func(d kv.Damage) { t.Errorf("damage for a v1 snapshot: %+v", d) }, warn: func(string, ...any) { warned = true }}
	g := newFSM(testLogger(t))
	_, rc, err := c.Open("old")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Restore(rc); err != nil {
		t.Fatalf("restore v1: %v", err)
	}
	if want := map[string]string{"a": "1", "b": ""}; !maps.Equal(g.data, want) || g.member("node1") != "h:1" || g.appliedIndex() != 7 {
		t.Errorf("restored v1 as %v (applied %d), want %v", g.data, g.appliedIndex(), want)
	}
	if !warned {
		t.Error("no warning that the snapshot has no checksum")
	}
}

func TestTrailerCheckAnyReadSizes(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 50)
	sum := crcOf(body)
	stream := append(append(bytes.Clone(body), trailerMagic...), le32(sum)...)
	for _, chunk := range []int{1, 3, 7, 8, 9, 64, 1000} {
		tc := &trailerCheck{r: &chunked{b: stream, n: chunk}, onBad: func(p string) { t.Errorf("chunk %d: %s", chunk, p) }}
		if _, err := io.ReadAll(tc); err != nil {
			t.Errorf("chunk %d: %v", chunk, err)
		}
	}
	stream[3] ^= 1
	tc := &trailerCheck{r: bytes.NewReader(stream), onBad: func(string) {}}
	if _, err := io.ReadAll(tc); !errors.Is(err, kv.ErrDamaged) {
		t.Errorf("a flipped byte read through: %v", err)
	}
}

type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[n:]
	return n, nil
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, crcTable) }

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
