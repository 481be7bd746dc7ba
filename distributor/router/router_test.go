package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvraft/hraftd/kv"
)

// TestHashVectors pins the routing function: changing it would send existing
// keys to shards that do not hold them. The first three hashes are the
// published FNV-1a test vectors; all were computed independently of Go's
// hash/fnv.
func TestHashVectors(t *testing.T) {
	tests := []struct {
		key    string
		hash   uint32
		shard2 int
		shard3 int
	}{
		{"", 0x811c9dc5, 1, 1},
		{"a", 0xe40c292c, 0, 1},
		{"foobar", 0xbf9cf968, 0, 1},
		{"batman", 0xf99adadc, 0, 1},
		{"robin", 0xe81a69fb, 1, 2},
		{"user1", 0xa07d2cf9, 1, 2},
		{"user2", 0x9d7d2840, 0, 2},
		{"clave", 0xb54954b0, 0, 1},
		{"superman", 0xa3a1cb40, 0, 0},
		{"joker", 0xc98c2ddc, 0, 0},
		{"ñandú", 0xb48f3ccb, 1, 1},
		{"a/b", 0x3a8e75c1, 1, 0},
		{"hello world", 0xd58b3fa7, 1, 0},
		{"100%", 0x2f97df3b, 1, 0},
		{"0", 0x350ca8af, 1, 0},
		{"key-199", 0x0df7e6bc, 0, 0},
	}
	for _, tt := range tests {
		if got := Hash(tt.key); got != tt.hash {
			t.Errorf("Hash(%q) = %#x, want %#x", tt.key, got, tt.hash)
		}
		if got := ShardOf(tt.key, 2); got != tt.shard2 {
			t.Errorf("ShardOf(%q, 2) = %d, want %d", tt.key, got, tt.shard2)
		}
		if got := ShardOf(tt.key, 3); got != tt.shard3 {
			t.Errorf("ShardOf(%q, 3) = %d, want %d", tt.key, got, tt.shard3)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	if err := good.Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no shards", func(c *Config) { c.Shards = nil }, "no shards"},
		{"empty shard", func(c *Config) { c.Shards = [][]string{{"127.0.0.1:1"}, {}} }, "shard 1 has no nodes"},
		{"scheme", func(c *Config) { c.Shards = [][]string{{"http://127.0.0.1:1"}} }, "not host:port"},
		{"no port", func(c *Config) { c.Shards = [][]string{{"127.0.0.1"}} }, "not host:port"},
		{"bad port", func(c *Config) { c.Shards = [][]string{{"127.0.0.1:http"}} }, "not host:port"},
		{"duplicate", func(c *Config) { c.Shards = [][]string{{"127.0.0.1:1"}, {"127.0.0.1:1"}} }, "listed in shard 0 and again in shard 1"},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, "Timeout must be positive"},
		{"backoff", func(c *Config) { c.RetryMax = c.RetryMin / 2 }, "RetryMax"},
		{"conns", func(c *Config) { c.MaxIdleConnsPerNode = 0 }, "MaxIdleConnsPerNode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
			if _, err := New(c); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

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

func TestFollowsRedirectAfterLeaderChange(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	ctx := context.Background()
	if _, err := r.Set(ctx, map[string]string{"k1": "v1"}, ""); err != nil {
		t.Fatal(err)
	}
	// The group elects node 2; with polling off, the router still
	// believes node 0 leads, and node 0 answers 307.
	g.setLeader(2)
	res, err := r.Set(ctx, map[string]string{"k2": "v2"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Node != "n2" {
		t.Fatalf("served by %s, want n2", res[0].Node)
	}
	if c := r.Status().Counters; c.Redirects != 1 {
		t.Fatalf("redirects = %d, want 1", c.Redirects)
	}
	// The redirect taught the router the leader: the next write goes
	// straight there.
	before := g.nodes[0].writes.Load()
	if _, err := r.Set(ctx, map[string]string{"k3": "v3"}, ""); err != nil {
		t.Fatal(err)
	}
	if g.nodes[0].writes.Load() != before {
		t.Fatal("the router went back to the old leader after learning the new one")
	}
	if st := r.Shard(0); st.Leader == nil || st.Leader.HTTP != g.nodes[2].addr {
		t.Fatalf("shard view leader = %+v, want n2", st.Leader)
	}
}

func TestRetries503UntilALeaderIsElected(t *testing.T) {
	g := newFakeGroup(t, "n", 3, -1)
	r := startRouter(t, testConfig(t, g.addrs()))
	done := make(chan error, 1)
	go func() {
		_, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
		done <- err
	}()
	// Let the write find no leader a few times, then hold an election.
	waitFor(t, 5*time.Second, "the router to retry", func() bool { return r.Status().Counters.Refreshes >= 3 })
	g.setLeader(1)
	if err := <-done; err != nil {
		t.Fatalf("Set: %v", err)
	}
	if v, _ := g.value("k"); v != "v" {
		t.Fatal("the write was not applied")
	}
}

func TestFollowerAnswering503IsRetried(t *testing.T) {
	// The router believes node 0 leads, but node 0 has lost touch with
	// the group and answers 503, as a node does when leadership is lost
	// during a write; the others have elected node 1.
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	waitFor(t, 5*time.Second, "the first poll", func() bool { return r.Shard(0).Leader != nil })
	g.setLeader(1)
	g.mu.Lock()
	g.nodes[0].view = -1
	g.mu.Unlock()
	res, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Node != "n1" {
		t.Fatalf("served by %s, want n1", res[0].Node)
	}
}

func TestConnectionRefusedFailsOver(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	dead := deadAddr(t)
	// A shard whose first node never started: polls of it are refused.
	r := startRouter(t, testConfig(t, append([]string{dead}, g.addrs()...)))
	ctx := context.Background()
	if _, err := r.Set(ctx, map[string]string{"k1": "v1"}, ""); err != nil {
		t.Fatal(err)
	}
	// The leader dies (its port now refuses connections) and node 1 is
	// elected. The router's next write meets the refusal, refreshes at
	// once, and finds node 1.
	g.nodes[0].srv.Close()
	g.setLeader(1)
	res, err := r.Set(ctx, map[string]string{"k2": "v2"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Node != "n1" {
		t.Fatalf("served by %s, want n1", res[0].Node)
	}
	st := r.Shard(0)
	if st.Nodes[0].Reachable || !strings.Contains(st.Nodes[0].Problem, "refused") {
		t.Fatalf("never-started node shown as %+v", st.Nodes[0])
	}
	if st.Nodes[1].Reachable {
		t.Fatalf("dead leader still shown reachable: %+v", st.Nodes[1])
	}
	if !st.Nodes[2].Leader || st.Nodes[2].State != "Leader" || st.Nodes[2].ID != "n1" || st.Nodes[2].LastSeen == nil {
		t.Fatalf("new leader shown as %+v", st.Nodes[2])
	}
}

func TestAllNodesDownIs503AfterTheDeadline(t *testing.T) {
	cfg := testConfig(t, []string{deadAddr(t), deadAddr(t), deadAddr(t)})
	cfg.Timeout = 300 * time.Millisecond
	r := startRouter(t, cfg)
	start := time.Now()
	_, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	elapsed := time.Since(start)
	var se *ShardError
	if !errors.As(err, &se) || !errors.Is(err, ErrNoLeader) {
		t.Fatalf("Set: %v, want a ShardError wrapping ErrNoLeader", err)
	}
	if elapsed < cfg.Timeout || elapsed > cfg.Timeout+2*time.Second {
		t.Fatalf("gave up after %s, want just after the %s deadline", elapsed, cfg.Timeout)
	}
	if se.Shard != 0 || len(se.Nodes) != 3 || se.MaybeApplied {
		t.Fatalf("ShardError = %+v", se)
	}
	for _, n := range se.Nodes {
		if !strings.Contains(n.Problem, "refused") {
			t.Errorf("node %s problem %q, want connection refused", n.HTTP, n.Problem)
		}
	}
	if c := r.Status().Counters; c.Failed != 1 || c.Refreshes < 2 {
		t.Fatalf("counters = %+v: want one failure after several refreshes", c)
	}
}

func TestAmbiguousWriteIsResentWithTheSameID(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	// The leader applies the first write and then dies before answering:
	// the connection drops, the outcome is unknown to the router, and node
	// 1 takes over.
	var once sync.Once
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPost {
			return false
		}
		handled := false
		once.Do(func() {
			handled = true
			g.nodes[0].handleWrite(&discardWriter{h: http.Header{}}, req)
			g.setLeader(1)
			panic(http.ErrAbortHandler) // drop the connection without an answer
		})
		return handled
	})
	res, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Node != "n1" {
		t.Fatalf("served by %s, want n1", res[0].Node)
	}
	ids := g.writeIDs()
	if len(ids) != 2 || ids[0] == "" || ids[0] != ids[1] {
		t.Fatalf("write IDs sent = %q, want the same non-empty ID twice", ids)
	}
	if n := g.appliedCount(); n != 1 {
		t.Fatalf("applied %d times, want once", n)
	}
}

// discardWriter is a ResponseWriter that throws the answer away.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

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

func TestHungLeaderCostsOneAttempt(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	cfg := testConfig(t, g.addrs())
	cfg.AttemptTimeout = 200 * time.Millisecond
	r := startRouter(t, cfg)
	waitFor(t, 5*time.Second, "the first poll", func() bool { return r.Shard(0).Leader != nil })
	// Node 0 hangs on writes (it is cut off from its group); the rest
	// elect node 2.
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPost {
			return false
		}
		g.setLeader(2)
		g.hang(req)
		return true
	})
	start := time.Now()
	res, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Node != "n2" {
		t.Fatalf("served by %s, want n2", res[0].Node)
	}
	if el := time.Since(start); el > cfg.Timeout/2 {
		t.Fatalf("took %s: the hung node should cost about one %s attempt", el, cfg.AttemptTimeout)
	}
}

func TestHungLeaderUntilTheDeadlineIs504(t *testing.T) {
	g := newFakeGroup(t, "n", 1, 0)
	cfg := testConfig(t, g.addrs())
	cfg.Timeout = 300 * time.Millisecond
	r := startRouter(t, cfg)
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPost {
			return false
		}
		g.hang(req)
		return true
	})
	_, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	var se *ShardError
	if !errors.As(err, &se) || !errors.Is(err, ErrTimeout) || !se.MaybeApplied {
		t.Fatalf("Set: %v, want a ShardError wrapping ErrTimeout, maybe applied", err)
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

func TestNodeRefusalIsFinal(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPost {
			return false
		}
		writeJSONForTest(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "key of 2000 bytes is over the 1024-byte limit: too large"})
		return true
	})
	_, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	var ne *NodeError
	if !errors.As(err, &ne) || ne.Status != http.StatusRequestEntityTooLarge || ne.Node != "n0" || !strings.Contains(ne.Message, "1024-byte") {
		t.Fatalf("Set: %v, want the node's 413", err)
	}
	if c := r.Status().Counters; c.Retries != 0 {
		t.Fatalf("retried a definite refusal %d times", c.Retries)
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

// TestConcurrentWritesThroughLeaderChanges runs many writers while the
// leader moves around the group, some moves by a dying node: every write
// must succeed exactly once.
func TestConcurrentWritesThroughLeaderChanges(t *testing.T) {
	g0 := newFakeGroup(t, "a", 3, 0)
	g1 := newFakeGroup(t, "b", 3, 0)
	r := startRouter(t, testConfig(t, g0.addrs(), g1.addrs()))
	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	var done sync.WaitGroup
	done.Add(writers)
	for w := range writers {
		wg.Go(func() {
			defer done.Done()
			for i := range each {
				k := fmt.Sprintf("w%d-%d", w, i)
				if _, err := r.Set(context.Background(), map[string]string{k: k}, ""); err != nil {
					errs <- fmt.Errorf("Set(%q): %w", k, err)
				}
			}
		})
	}
	// Move the leaders as the writes progress (by count, not by time).
	total := func() int { return g0.pairsApplied() + g1.pairsApplied() }
	for step, leader := range []int{1, 2, 0, 1} {
		target := (step + 1) * writers * each / 5
		waitFor(t, 10*time.Second, fmt.Sprintf("%d writes", target), func() bool { return total() >= target })
		g0.setLeader(leader)
		g1.setLeader(2 - leader)
	}
	g0.nodes[2].srv.Close() // and one node dies for good
	g0.setLeader(1)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := total(); n != writers*each {
		t.Fatalf("%d writes applied, want %d (each exactly once)", n, writers*each)
	}
	for w := range writers {
		for i := range each {
			k := fmt.Sprintf("w%d-%d", w, i)
			if v, ok := []*fakeGroup{g0, g1}[ShardOf(k, 2)].value(k); !ok || v != k {
				t.Fatalf("%q missing from its shard", k)
			}
		}
	}
}

func TestPollingFindsTheLeaderWithoutTraffic(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 1)
	cfg := testConfig(t, g.addrs())
	cfg.PollInterval = 10 * time.Millisecond
	r := startRouter(t, cfg)
	waitFor(t, 5*time.Second, "n1 to be seen leading", func() bool {
		l := r.Shard(0).Leader
		return l != nil && l.ID == "n1"
	})
	g.setLeader(2)
	waitFor(t, 5*time.Second, "n2 to be seen leading", func() bool {
		l := r.Shard(0).Leader
		return l != nil && l.ID == "n2"
	})
	if c := r.Status().Counters; c.LeaderChanges != 1 {
		t.Fatalf("leader changes = %d, want 1", c.LeaderChanges)
	}
}

func TestClosedRouterFails(t *testing.T) {
	g := newFakeGroup(t, "n", 1, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	r.Close()
	r.Close() // idempotent
	_, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close: %v, want ErrClosed", err)
	}
}

func TestLeaderlessAfterAHungAttemptIs503(t *testing.T) {
	// The leader hangs on a write and then the group loses its leader
	// for good: the deadline passes with no leader known, which is a
	// 503 (no leader), not a 504, though the write may have landed.
	g := newFakeGroup(t, "n", 3, 0)
	cfg := testConfig(t, g.addrs())
	cfg.AttemptTimeout = 100 * time.Millisecond
	cfg.Timeout = 500 * time.Millisecond
	r := startRouter(t, cfg)
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodPost {
			return false
		}
		g.setLeader(-1)
		g.hang(req)
		return true
	})
	_, err := r.Set(context.Background(), map[string]string{"k": "v"}, "")
	var se *ShardError
	if !errors.As(err, &se) || !errors.Is(err, ErrNoLeader) || !se.MaybeApplied {
		t.Fatalf("Set: %v, want a ShardError wrapping ErrNoLeader, maybe applied", err)
	}
}

// TestLeaderSlowToAnswerStatusIsKept: a leader whose /status times out
// under load, while no other node claims to lead, stays the shard's
// leader; requests keep going to it without retries.
func TestLeaderSlowToAnswerStatusIsKept(t *testing.T) {
	g := newFakeGroup(t, "n", 3, 0)
	r := startRouter(t, testConfig(t, g.addrs()))
	if _, err := r.Set(context.Background(), map[string]string{"a": "1"}, ""); err != nil {
		t.Fatal(err)
	}
	g.setHook(0, func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path != "/status" {
			return false
		}
		g.hang(req)
		return true
	})
	r.refresh(context.Background(), r.shards[0])
	if st := r.Shard(0); st.Leader == nil || st.Leader.ID != "n0" {
		t.Fatalf("leader after a poll that timed out on it = %+v, want n0 kept", st.Leader)
	}
	retries := r.Status().Counters.Retries
	if _, err := r.Set(context.Background(), map[string]string{"b": "2"}, ""); err != nil {
		t.Fatal(err)
	}
	if got := r.Status().Counters.Retries; got != retries {
		t.Fatalf("%d retries, want none", got-retries)
	}
}
