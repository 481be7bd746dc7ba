package store

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

// TestFSMHaltsOnChecksumMismatch applies an entry damaged after encoding:
// the state machine must report it (with its index and term), apply
// neither it nor anything after it, and refuse to snapshot.
func TestFSMHaltsOnChecksumMismatch(t *testing.T) {
	f := newFSM(testLogger(t))
	var got []kv.Damage
	f.onDamage = func(d kv.Damage) { got = append(got, d) }
	applyCmd(t, f, 1, &Command{Writes: []Write{set("a", "1")}})

	bad := (&Command{Writes: []Write{set("a", "2")}}).Encode()
	bad[len(bad)-crcSize-1] ^= 0x04 // the value's one byte
	r := f.Apply(&raft.Log{Index: 2, Term: 3, Type: raft.LogCommand, Data: bad}).(applyResult)
	if !errors.Is(r.err, kv.ErrDamaged) {
		t.Fatalf("Apply of a damaged entry returned %v, want ErrDamaged", r.err)
	}
	if len(got) != 1 || got[0].Index != 2 || got[0].Term != 3 || got[0].File != "raft log" {
		t.Fatalf("damage reported = %+v, want one for the raft log at index 2, term 3", got)
	}
	applyCmd(t, f, 3, &Command{Writes: []Write{set("b", "1")}})
	f.StoreConfiguration(4, raft.Configuration{})
	if v, _, idx := f.get("a"); v != "1" || idx != 1 {
		t.Errorf("after the damage a=%q at index %d, want the state before it (a=1 at 1)", v, idx)
	}
	if _, ok, _ := f.get("b"); ok {
		t.Error("an entry after the damaged one was applied")
	}
	if _, err := f.Snapshot(); !errors.Is(err, kv.ErrDamaged) {
		t.Errorf("Snapshot of a halted FSM = %v, want ErrDamaged", err)
	}
}

// TestDamagedNodeNeitherServesNorVotes damages a follower of a three-node
// group: it must refuse every read and write with ErrDamaged, say so in
// Status and Ready, stop raft, and leave the other two serving.
func TestDamagedNodeNeitherServesNorVotes(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	if _, err := leader.Set(ctxT(t), map[string]string{"k": "v"}, ""); err != nil {
		t.Fatal(err)
	}
	var victim *testNode
	for _, n := range nodes {
		if n != leader {
			victim = n
			break
		}
	}
	waitForValue(t, victim, "k", "v")
	victim.damage(kv.Damage{File: "raft log", Index: 5, Term: 2, Problem: "checksum mismatch"})

	for _, level := range []kv.ReadLevel{kv.ReadNone, kv.ReadWeak, kv.ReadLinearizable} {
		if _, _, _, err := victim.Get(ctxT(t), "k", level); !errors.Is(err, kv.ErrDamaged) {
			t.Errorf("Get at level %s on the damaged node: %v, want ErrDamaged", level, err)
		}
	}
	if _, err := victim.Set(ctxT(t), map[string]string{"k": "w"}, ""); !errors.Is(err, kv.ErrDamaged) {
		t.Errorf("Set on the damaged node: %v, want ErrDamaged", err)
	}
	if err := victim.Ready(); !errors.Is(err, kv.ErrDamaged) || !strings.Contains(err.Error(), "-join") {
		t.Errorf("Ready = %v, want ErrDamaged with the fix", err)
	}
	st, err := victim.Status()
	if err != nil || st.State != stateDamaged || st.Damage == nil || st.Damage.Index != 5 || st.Damage.Fix == "" {
		t.Errorf("Status = %+v, %v; want state Damaged with the damage and its fix", st, err)
	}
	poll(t, 10*time.Second, "raft on the damaged node to stop", func() error {
		if s := victim.raft.State(); s != raft.Shutdown {
			return errors.New(s.String())
		}
		return nil
	})
	victim.damage(kv.Damage{File: "other", Problem: "second"})
	if d := victim.Damaged(); d.File != "raft log" {
		t.Errorf("the first damage was replaced by %+v", d)
	}

	var rest []*testNode
	for _, n := range nodes {
		if n != victim {
			rest = append(rest, n)
		}
	}
	l := waitForLeader(t, rest)
	if _, err := l.Set(ctxT(t), map[string]string{"after": "yes"}, ""); err != nil {
		t.Fatalf("the group stopped serving after one node was damaged: %v", err)
	}
	if v, _, _, err := l.Get(ctxT(t), "after", kv.ReadLinearizable); err != nil || v != "yes" {
		t.Fatalf("linearizable read on the healthy pair: %q, %v", v, err)
	}
	if err := victim.Close(); err != nil {
		t.Errorf("Close of a damaged store: %v", err)
	}
}

// TestRestartOnDamagedSnapshotStaysDamaged restarts a node whose newest
// snapshot's meta.json claims another index: Open must neither fail nor
// fall back to an older snapshot, but come up in damaged mode without
// raft, naming the snapshot.
func TestRestartOnDamagedSnapshotStaysDamaged(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	n := startNode(t, "node0", dir, addr, true)
	waitForLeader(t, []*testNode{n})
	for i := range 3 {
		if _, err := n.Set(ctxT(t), map[string]string{"k": strings.Repeat("v", i+1)}, ""); err != nil {
			t.Fatal(err)
		}
		if err := n.raft.Snapshot().Error(); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	list, err := snaps.List()
	if err != nil || len(list) < 2 {
		t.Fatalf("snapshots: %v, %v; want two", list, err)
	}
	x := &snapFixture{dir: dir}
	x.editMeta(t, list[0].ID, func(m map[string]any) { m["Index"] = list[0].Index + 100 })

	m := startNode(t, "node0", dir, addr, true)
	d := m.Damaged()
	if d == nil || d.File != "snapshots/"+list[0].ID {
		t.Fatalf("after restart damage = %+v, want one naming snapshots/%s", d, list[0].ID)
	}
	if m.raft != nil {
		t.Error("raft was started on a damaged snapshot")
	}
	if _, _, _, err := m.Get(ctxT(t), "k", kv.ReadNone); !errors.Is(err, kv.ErrDamaged) {
		t.Errorf("Get on the damaged node: %v, want ErrDamaged", err)
	}
	if st, err := m.Status(); err != nil || st.State != stateDamaged {
		t.Errorf("Status = %+v, %v; want Damaged", st, err)
	}
}
