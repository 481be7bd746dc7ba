package diskfault

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/cluster"
)

// TestIntegrityBitFlipInCommittedEntry flips a bit inside a committed
// command in a follower's raft.db. The follower must come back damaged
// (raft never started: it neither votes nor serves), say so in /status,
// /readyz and /metrics, and never serve the flipped value; the other two
// keep serving and lose nothing.
func TestIntegrityBitFlipInCommittedEntry(t *testing.T) {
	c := igStart(t)
	var acked igAcked
	acked.writeMany(t, c, "before", 20)
	marker := "flip-me-0123456789abcdef"
	acked.write(t, c, "target", marker)
	for _, n := range c.Shards[0] {
		if err := c.WaitKey(t.Context(), n, "target"); err != nil {
			t.Fatal(err)
		}
	}
	f := igFollower(t, c)
	c.Kill(f.Proc)
	if n := igFlipAll(t, filepath.Join(f.Dir, "raft.db"), marker); n == 0 {
		t.Fatal("the value is not in raft.db")
	}
	c.Restart(f.Proc)
	st := igWantDamaged(t, c, f, "raft.db", "target", "before-000")
	if st.Damage.Index == 0 {
		t.Errorf("the damage does not name the entry: %+v", st.Damage)
	}

	acked.writeMany(t, c, "after", 20)
	acked.checkAll(t, c)
	if st := c.Status(f); st.State != "Damaged" {
		t.Errorf("%s is %s after the group went on, want still Damaged", f.ID, st.State)
	}
	for _, n := range c.Shards[0] {
		igNoPanic(t, n.Proc)
	}
	igReplace(t, c, f)
	acked.checkAll(t, c)
}

// TestIntegrityTruncatedRaftDB restarts a follower on a raft.db cut in
// half: one line naming raft.db and what to do, exit 1, no fault.
func TestIntegrityTruncatedRaftDB(t *testing.T) {
	c := igStart(t)
	var acked igAcked
	acked.writeMany(t, c, "k", 50)
	f := igFollower(t, c)
	c.Kill(f.Proc)
	p := filepath.Join(f.Dir, "raft.db")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	code, took, out := igRunExpectingExit(t, f, 30*time.Second)
	igWantCleanExit(t, code, took, out, "raft.db")
	if !strings.Contains(out, "truncated") {
		t.Errorf("the message does not say the file is truncated:\n%s", out)
	}
	acked.checkAll(t, c)
	igReplace(t, c, f)
	acked.checkAll(t, c)
}

// TestIntegrityDeletedSnapshotsFolder restarts a follower whose snapshots
// folder is gone while its log was compacted past the snapshot: one line
// naming snapshots/, exit 1, instead of "panic: log not found".
func TestIntegrityDeletedSnapshotsFolder(t *testing.T) {
	c := igStart(t, igSnapArgs...)
	var acked igAcked
	acked.writeMany(t, c, "k", 60)
	f := igFollower(t, c)
	// Raft compacts the log just after it writes a snapshot: a newer
	// snapshot than the first one seen means that compaction is done, and
	// the log no longer reaches back to index 1.
	first := igSnapIndex(t, igNewestSnapshot(t, f, 40))
	acked.writeMany(t, c, "more", 25)
	igNewestSnapshot(t, f, first+1)
	c.Kill(f.Proc)
	if err := os.RemoveAll(filepath.Join(f.Dir, "snapshots")); err != nil {
		t.Fatal(err)
	}
	code, took, out := igRunExpectingExit(t, f, 30*time.Second)
	igWantCleanExit(t, code, took, out, "snapshots/")
	acked.checkAll(t, c)
	igReplace(t, c, f)
	acked.checkAll(t, c)
}

// TestIntegritySnapshotDamage damages a follower's newest snapshot, its
// data (a flipped bit in state.bin) or its metadata (meta.json claiming a
// longer log): the follower must come back damaged, naming the snapshot,
// and never restore an older one or lead with stale state.
func TestIntegritySnapshotDamage(t *testing.T) {
	cases := map[string]func(t *testing.T, dir string){
		"state.bin bit flip": func(t *testing.T, dir string) {
			p := filepath.Join(dir, "state.bin")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x08
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		"meta.json index": func(t *testing.T, dir string) {
			p := filepath.Join(dir, "meta.json")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			m["Index"] = m["Index"].(float64) + 1000
			if b, err = json.Marshal(m); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			c := igStart(t, igSnapArgs...)
			var acked igAcked
			acked.writeMany(t, c, "k", 60)
			f := igFollower(t, c)
			dir := igNewestSnapshot(t, f, 40)
			c.Kill(f.Proc)
			damage(t, dir)
			c.Restart(f.Proc)
			igWantDamaged(t, c, f, "snapshots/"+filepath.Base(dir), "k-000")
			acked.writeMany(t, c, "after", 10)
			acked.checkAll(t, c)
			var rest []*cluster.Node
			for _, n := range c.Shards[0] {
				if n != f {
					rest = append(rest, n)
				}
			}
			c.WaitLeader(30*time.Second, rest...)
			for _, n := range c.Shards[0] {
				igNoPanic(t, n.Proc)
			}
			igReplace(t, c, f)
			acked.checkAll(t, c)
		})
	}
}
