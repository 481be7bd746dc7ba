package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvraft/hraftd/kv"
)

// openWith opens a single-node store on dir with the given log engine.
func openWith(t *testing.T, dir, addr, logStore string) (*Store, error) {
	t.Helper()
	cfg := testConfig(t, "node0", dir, addr, true)
	cfg.LogStore = logStore
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, s.Open()
}

// A node on raft-wal keeps its writes across a restart, and a data
// directory keeps the engine it was made with whatever the flag says.
func TestWALKeepsWritesAndDirectoryKeepsItsEngine(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	s, err := openWith(t, dir, addr, LogWAL)
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{Store: s, dir: dir, raftAddr: addr}
	waitForLeader(t, []*testNode{n})
	if _, err := s.Set(ctxT(t), map[string]string{"batman": "bruce"}, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "raft.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("raft.db exists on a raft-wal node: %v", err)
	}
	// Reopened asking for bolt: it still uses wal/.
	s, err = openWith(t, dir, addr, LogBolt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	n = &testNode{Store: s, dir: dir, raftAddr: addr}
	waitForLeader(t, []*testNode{n})
	if s.logKind != LogWAL {
		t.Fatalf("reopened with %s", s.logKind)
	}
	if v, _, _, err := s.Get(context.Background(), "batman", kv.ReadLinearizable); err != nil || v != "bruce" {
		t.Fatalf("batman=%q (%v) after a restart on raft-wal", v, err)
	}
	// A second store on the same directory fails at once.
	_, err = openWith(t, dir, freeAddr(t), LogWAL)
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second open: %v, want a lock error", err)
	}
}

// A directory with both logs is refused, naming the directory.
func TestBothLogsAreRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "wal"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "raft.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := openWith(t, dir, freeAddr(t), LogBolt)
	var oe *OpenError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "both raft.db and wal/") {
		t.Fatalf("open: %v, want an OpenError about both logs", err)
	}
}

// raft-wal checks a CRC only over the batch at the tail of its log, on
// recovery; a byte flipped in an older entry is read back as it is. The
// command's own checksum finds it, so the node starts damaged naming wal.
func TestWALFlippedEntryIsDamaged(t *testing.T) {
	marker := "unique-value-5d1e08"
	cfg := closedNode(t, func(c *Config) { c.LogStore = LogWAL }, func(n *testNode) {
		writeKeys(t, n, 3, "v")
		if _, err := n.Set(ctxT(t), map[string]string{"target": marker}, ""); err != nil {
			t.Fatal(err)
		}
		writeKeys(t, n, 3, "w") // the marker's entry is not the tail batch
	})
	segs, err := filepath.Glob(filepath.Join(cfg.Dir, "wal", "*.wal"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segment files: %v", err)
	}
	flipped := 0
	for _, p := range segs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if j := bytes.Index(b, []byte(marker)); j >= 0 {
			b[j+3] ^= 0x01
			flipped++
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if flipped == 0 {
		t.Fatal("marker not found in the segment files")
	}
	s, err := reopen(t, cfg)
	if err != nil {
		t.Fatalf("Open = %v, want damaged mode", err)
	}
	d := s.Damaged()
	if d == nil || d.File != "wal" || d.Index == 0 || !strings.Contains(d.Problem, "checksum") {
		t.Fatalf("damage = %+v, want wal with the entry's index", d)
	}
	if _, _, _, err := s.Get(ctxT(t), "target", kv.ReadNone); !errors.Is(err, kv.ErrDamaged) {
		t.Errorf("Get = %v, want ErrDamaged", err)
	}
}
