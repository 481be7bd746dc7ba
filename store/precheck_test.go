package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

// closedNode runs a one-node group in dir, lets write add data, and
// closes it, returning its config for a restart.
func closedNode(t *testing.T, tweak func(*Config), write func(n *testNode)) Config {
	t.Helper()
	cfg := testConfig(t, "node0", t.TempDir(), freeAddr(t), true)
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	n := &testNode{Store: s, dir: cfg.Dir, raftAddr: cfg.RaftBind}
	waitForLeader(t, []*testNode{n})
	write(n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func writeKeys(t *testing.T, n *testNode, count int, value string) {
	t.Helper()
	for i := range count {
		if _, err := n.Set(ctxT(t), map[string]string{fmt.Sprintf("k%03d", i): value}, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// reopen opens a new store on cfg and returns it with Open's error.
func reopen(t *testing.T, cfg Config) (*Store, error) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Open()
	t.Cleanup(func() { _ = s.Close() })
	return s, err
}

func wantOpenError(t *testing.T, err error, file, problem string) {
	t.Helper()
	var oe *OpenError
	if !errors.As(err, &oe) {
		t.Fatalf("Open = %v, want an *OpenError", err)
	}
	if !strings.Contains(oe.File, file) || !strings.Contains(oe.Problem, problem) || !strings.Contains(oe.Fix, "-join") {
		t.Errorf("OpenError = %q, want file %q, a problem mentioning %q and a fix with -join", oe.Error(), file, problem)
	}
}

func TestOpenTruncatedRaftDBIsOpenError(t *testing.T) {
	cfg := closedNode(t, nil, func(n *testNode) { writeKeys(t, n, 50, strings.Repeat("v", 2000)) })
	p := filepath.Join(cfg.Dir, "raft.db")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	_, err = reopen(t, cfg)
	wantOpenError(t, err, "raft.db", "truncated")
}

func TestCheckBoltFile(t *testing.T) {
	cfg := closedNode(t, nil, func(n *testNode) { writeKeys(t, n, 5, "v") })
	good, err := os.ReadFile(filepath.Join(cfg.Dir, "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	zeroMetas := bytes.Clone(good)
	clear(zeroMetas[:2*4096])
	for name, tc := range map[string]struct {
		data    []byte
		problem string
	}{
		"good":        {good, ""},
		"empty":       {[]byte{}, "empty"},
		"short":       {good[:100], "truncated"},
		"half":        {good[:len(good)/2], "truncated"},
		"zeroed meta": {zeroMetas, "invalid"},
		"garbage":     {bytes.Repeat([]byte{0xa5}, 3*4096), "invalid"},
	} {
		p := filepath.Join(t.TempDir(), "raft.db")
		if err := os.WriteFile(p, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		problem, err := checkBoltFile(p)
		if err != nil || (tc.problem == "") != (problem == "") || !strings.Contains(problem, tc.problem) {
			t.Errorf("%s: checkBoltFile = %q, %v; want a problem mentioning %q", name, problem, err, tc.problem)
		}
	}
	if problem, err := checkBoltFile(filepath.Join(t.TempDir(), "none")); problem != "" || err != nil {
		t.Errorf("a missing raft.db: %q, %v; want no problem (a new node)", problem, err)
	}
}

func TestOpenWithoutSnapshotsFolderIsOpenError(t *testing.T) {
	cfg := closedNode(t, func(c *Config) { c.TrailingLogs = 2 }, func(n *testNode) {
		writeKeys(t, n, 30, "v")
		if err := n.raft.Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
	})
	if err := os.RemoveAll(filepath.Join(cfg.Dir, "snapshots")); err != nil {
		t.Fatal(err)
	}
	_, err := reopen(t, cfg)
	wantOpenError(t, err, "snapshots", "the log starts at index")
}

func TestOpenWithUnreadableSnapshotMetaIsOpenError(t *testing.T) {
	cfg := closedNode(t, nil, func(n *testNode) {
		writeKeys(t, n, 3, "v")
		if err := n.raft.Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
	})
	metas, _ := filepath.Glob(filepath.Join(cfg.Dir, "snapshots", "*", "meta.json"))
	if len(metas) == 0 {
		t.Fatal("no snapshot")
	}
	if err := os.WriteFile(metas[0], []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := reopen(t, cfg)
	wantOpenError(t, err, "meta.json", "cannot be read")
}

// TestOpenWithFlippedEntryIsDamaged flips a bit in a committed command in
// raft.db: the node must open in damaged mode, naming raft.db and the
// entry, with raft never started.
func TestOpenWithFlippedEntryIsDamaged(t *testing.T) {
	marker := "unique-value-7f3a9c"
	cfg := closedNode(t, nil, func(n *testNode) {
		writeKeys(t, n, 3, "v")
		if _, err := n.Set(ctxT(t), map[string]string{"target": marker}, ""); err != nil {
			t.Fatal(err)
		}
	})
	p := filepath.Join(cfg.Dir, "raft.db")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// Flip every copy: bbolt may leave stale ones in free pages.
	flipped := 0
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(marker))
		if j < 0 {
			break
		}
		b[i+j+3] ^= 0x01
		i += j + len(marker)
		flipped++
	}
	if flipped == 0 {
		t.Fatal("marker not found in raft.db")
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := reopen(t, cfg)
	if err != nil {
		t.Fatalf("Open = %v, want damaged mode", err)
	}
	d := s.Damaged()
	if d == nil || d.File != "raft.db" || d.Index == 0 || !strings.Contains(d.Problem, "checksum") {
		t.Fatalf("damage = %+v, want raft.db with the entry's index", d)
	}
	if s.raft != nil {
		t.Error("raft started on a log with a damaged entry")
	}
	if _, _, _, err := s.Get(ctxT(t), "target", kv.ReadNone); !errors.Is(err, kv.ErrDamaged) {
		t.Errorf("Get = %v, want ErrDamaged", err)
	}
}

func TestScanLog(t *testing.T) {
	mem := raft.NewInmemStore()
	var logs []*raft.Log
	for i := uint64(1); i <= 5; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1 + i/3, Type: raft.LogCommand,
			Data: (&Command{Writes: []Write{set("k", fmt.Sprint(i))}}).Encode()})
	}
	logs = append(logs, &raft.Log{Index: 6, Term: 2, Type: raft.LogConfiguration,
		Data: raft.EncodeConfiguration(raft.Configuration{Servers: []raft.Server{{ID: "a", Address: "b"}}})})
	if err := mem.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if d := scanLog(mem, 1, 6, 2); d != nil {
		t.Fatalf("a good log: %+v", d)
	}
	if d := scanLog(mem, 1, 6, 1); d == nil || d.Index != 3 {
		t.Errorf("a term past the current one: %+v, want entry 3", d)
	}
	logs[3].Data[3] ^= 0x80
	logs[5].Data = []byte{0xc1}
	if d := scanLog(mem, 1, 6, 2); d == nil || d.Index != 4 || !strings.Contains(d.Problem, "checksum") {
		t.Errorf("a flipped command: %+v, want entry 4's checksum", d)
	}
	logs[3].Data[3] ^= 0x80
	if d := scanLog(mem, 1, 6, 2); d == nil || d.Index != 6 || !strings.Contains(d.Problem, "configuration") {
		t.Errorf("a bad configuration: %+v, want entry 6", d)
	}
}

// TestOpenRecoversFromAFaultInBolt points raft.db's free list past the end
// of the file, behind valid meta pages: bbolt then reads unmapped memory
// (a fault no check of precheck.go catches), which Open must turn into an
// OpenError naming raft.db instead of crashing.
func TestOpenRecoversFromAFaultInBolt(t *testing.T) {
	cfg := closedNode(t, nil, func(n *testNode) { writeKeys(t, n, 5, "v") })
	p := filepath.Join(cfg.Dir, "raft.db")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	ne := binary.NativeEndian
	for _, off := range []int{0, 4096} {
		m := b[off+boltPageHeader:]
		ne.PutUint64(m[32:], 1<<28) // the free list's page
		h := fnv.New64a()
		h.Write(m[:boltChecksumOff])
		ne.PutUint64(m[boltChecksumOff:], h.Sum64())
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if problem, err := checkBoltFile(p); problem != "" || err != nil {
		t.Fatalf("the fixture fails the precheck (%q, %v); it must get past it", problem, err)
	}
	_, err = reopen(t, cfg)
	var oe *OpenError
	if !errors.As(err, &oe) || !strings.HasSuffix(oe.File, "raft.db") {
		t.Fatalf("Open = %v, want an OpenError naming raft.db", err)
	}
	t.Log(oe)
}
