package router

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/kv"
)

func TestSetAndGetGoToEachShardsLeader(t *testing.T) {
	g0 := newFakeGroup(t, "a", 3, 1)
	g1 := newFakeGroup(t, "b", 3, 2)
	r := startRouter(t, testConfig(t, g0.addrs(), g1.addrs()))
	ctx := context.Background()
	groups := []*fakeGroup{g0, g1}
	leaders := []string{"a1", "b2"}
	leaderAddrs := []string{g0.nodes[1].addr, g1.nodes[2].addr}
	for i := range 20 {
		k := fmt.Sprintf("key-%d", i)
		s := ShardOf(k, 2)
		res, err := r.Set(ctx, map[string]string{k: "v" + k}, "")
		if err != nil {
			t.Fatalf("Set(%q): %v", k, err)
		}
		if len(res) != 1 || res[0].Shard != s || res[0].Node != leaders[s] || res[0].HTTP != leaderAddrs[s] {
			t.Fatalf("Set(%q) = %+v, want shard %d served by %s", k, res, s, leaders[s])
		}
		if _, ok := groups[1-s].value(k); ok {
			t.Fatalf("key %q (shard %d) was written to shard %d", k, s, 1-s)
		}
		got, err := r.Get(ctx, k, "linearizable")
		if err != nil {
			t.Fatalf("Get(%q): %v", k, err)
		}
		if !got.Found || got.Value != "v"+k || got.Node != leaders[s] || got.Shard != s {
			t.Fatalf("Get(%q) = %+v", k, got)
		}
	}
	got, err := r.Get(ctx, "missing", "linearizable")
	if err != nil || got.Found || got.Value != "" {
		t.Fatalf("Get(missing) = %+v, %v; want not found", got, err)
	}
	res, err := r.Delete(ctx, "key-1", "")
	if err != nil || res.Shard != ShardOf("key-1", 2) {
		t.Fatalf("Delete = %+v, %v", res, err)
	}
	if _, ok := groups[res.Shard].value("key-1"); ok {
		t.Fatal("key-1 still present after Delete")
	}
	if c := r.Status().Counters; c.Failed != 0 || c.Sets != 20 || c.Gets != 21 || c.Deletes != 1 {
		t.Fatalf("counters = %+v", c)
	}
}

func TestClientWriteIDIsKeptAndSplitPerShard(t *testing.T) {
	g0 := newFakeGroup(t, "a", 1, 0)
	g1 := newFakeGroup(t, "b", 1, 0)
	r := startRouter(t, testConfig(t, g0.addrs(), g1.addrs()))
	ctx := context.Background()
	k0, k1 := keyForShard("x", 0, 2), keyForShard("x", 1, 2)
	if _, err := r.Set(ctx, map[string]string{k0: "v"}, "client-1"); err != nil {
		t.Fatal(err)
	}
	if ids := g0.writeIDs(); len(ids) != 1 || ids[0] != "client-1" {
		t.Fatalf("single-shard write IDs = %q, want the client's", ids)
	}
	res, err := r.Set(ctx, map[string]string{k0: "v2", k1: "v2"}, "client-2")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Shard != 0 || res[1].Shard != 1 {
		t.Fatalf("results = %+v, want one per shard in order", res)
	}
	if a, b := g0.writeIDs()[1], g1.writeIDs()[0]; a == b || !strings.HasPrefix(a, "client-2") || !strings.HasPrefix(b, "client-2") {
		t.Fatalf("part write IDs %q and %q: want distinct IDs derived from the client's", a, b)
	}
	long := strings.Repeat("x", 128)
	if _, err := r.Set(ctx, map[string]string{k0: "v3", k1: "v3"}, long); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{g0.writeIDs()[2], g1.writeIDs()[1]} {
		if len(id) > 128 {
			t.Fatalf("derived write ID of %d bytes is over the node's limit", len(id))
		}
	}
	if _, err := r.Set(ctx, map[string]string{k0: "v"}, long+"x"); !errors.Is(err, kv.ErrInvalid) {
		t.Fatalf("129-byte write ID: %v, want ErrInvalid", err)
	}
}

func TestWriteSpanningShardsIsOnePostPerShard(t *testing.T) {
	g0 := newFakeGroup(t, "a", 3, 0)
	g1 := newFakeGroup(t, "b", 3, 0)
	r := startRouter(t, testConfig(t, g0.addrs(), g1.addrs()))
	pairs := map[string]string{}
	for i := range 10 {
		pairs[fmt.Sprintf("k%d", i)] = fmt.Sprintf("v%d", i)
	}
	if _, err := r.Set(context.Background(), pairs, ""); err != nil {
		t.Fatal(err)
	}
	for s, g := range []*fakeGroup{g0, g1} {
		if n := g.nodes[0].writes.Load(); n != 1 {
			t.Errorf("shard %d received %d POSTs, want 1", s, n)
		}
		for k, v := range pairs {
			got, ok := g.value(k)
			if want := ShardOf(k, 2) == s; ok != want || (ok && got != v) {
				t.Errorf("shard %d has %q=%q (present %v), want present %v", s, k, got, ok, want)
			}
		}
	}
}

func TestPartialFailureOfASplitWrite(t *testing.T) {
	g0 := newFakeGroup(t, "a", 1, 0)
	cfg := testConfig(t, g0.addrs(), []string{deadAddr(t)})
	cfg.Timeout = 200 * time.Millisecond
	r := startRouter(t, cfg)
	k0, k1 := keyForShard("p", 0, 2), keyForShard("p", 1, 2)
	res, err := r.Set(context.Background(), map[string]string{k0: "v", k1: "v"}, "")
	var se *ShardError
	if !errors.As(err, &se) || se.Shard != 1 {
		t.Fatalf("Set: %v, want a ShardError for shard 1", err)
	}
	if len(res) != 1 || res[0].Shard != 0 {
		t.Fatalf("results = %+v, want shard 0's part applied", res)
	}
}

func TestKeysAreEscapedExactly(t *testing.T) {
	g := newFakeGroup(t, "n", 1, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	ctx := context.Background()
	keys := []string{"a/b", "/lead", "trail/", "a//b", "a b", "100%", "%2F", ".", "..", "a/../b", "?x=1&y#z", "a+b", "ñandú 🦆", `q"uote\`, ";,=@:"}
	for _, k := range keys {
		if _, err := r.Set(ctx, map[string]string{k: "v:" + k}, ""); err != nil {
			t.Fatalf("Set(%q): %v", k, err)
		}
		if v, ok := g.value(k); !ok || v != "v:"+k {
			t.Fatalf("Set(%q) stored %q (present %v)", k, v, ok)
		}
		got, err := r.Get(ctx, k, "linearizable")
		if err != nil || !got.Found || got.Value != "v:"+k {
			t.Fatalf("Get(%q) = %+v, %v", k, got, err)
		}
		if _, err := r.Delete(ctx, k, ""); err != nil {
			t.Fatalf("Delete(%q): %v", k, err)
		}
		if _, ok := g.value(k); ok {
			t.Fatalf("Delete(%q) deleted another key", k)
		}
	}
}

func TestBadInputNeverReachesANode(t *testing.T) {
	g := newFakeGroup(t, "n", 1, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	ctx := context.Background()
	for name, err := range map[string]error{
		"empty key":      func() error { _, err := r.Set(ctx, map[string]string{"": "v"}, ""); return err }(),
		"no pairs":       func() error { _, err := r.Set(ctx, nil, ""); return err }(),
		"bad utf8 key":   func() error { _, err := r.Set(ctx, map[string]string{"\xff": "v"}, ""); return err }(),
		"bad utf8 value": func() error { _, err := r.Set(ctx, map[string]string{"k": "\xff"}, ""); return err }(),
		"get empty key":  func() error { _, err := r.Get(ctx, "", ""); return err }(),
		"get bad level":  func() error { _, err := r.Get(ctx, "k", "strong"); return err }(),
		"delete no key":  func() error { _, err := r.Delete(ctx, "", ""); return err }(),
		"delete long id": func() error { _, err := r.Delete(ctx, "k", strings.Repeat("i", 129)); return err }(),
	} {
		if !errors.Is(err, kv.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if n := g.nodes[0].writes.Load(); n != 0 {
		t.Fatalf("%d bad writes reached the node", n)
	}
}

func TestReadAtLevelNoneNeedsNoLeader(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	cfg := testConfig(t, g.addrs())
	cfg.Timeout = 300 * time.Millisecond
	r := startRouter(t, cfg)
	ctx := context.Background()
	if _, err := r.Set(ctx, map[string]string{"k": "v"}, ""); err != nil {
		t.Fatal(err)
	}
	g.nodes[0].srv.Close()
	g.setLeader(-1)
	got, err := r.Get(ctx, "k", "none")
	if err != nil || !got.Found || got.Value != "v" || got.Node == "n0" {
		t.Fatalf("Get at level none = %+v, %v; want v from a live follower", got, err)
	}
	if _, err := r.Get(ctx, "k", ""); err != nil {
		t.Fatalf("Get at the default level: %v", err)
	}
	if _, err := r.Get(ctx, "k", "linearizable"); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("linearizable Get without a leader: %v, want ErrNoLeader", err)
	}
}
