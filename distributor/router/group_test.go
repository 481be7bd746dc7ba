package router

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
)

// setGroups gives the nodes of g the groups listed, in order.
func (g *fakeGroup) setGroups(groups ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, n := range g.nodes {
		n.group = groups[i]
	}
}

// impostor makes node i of g a node of another group that leads itself
// (a founder restarted on an empty directory), counting every request
// other than /status it receives.
func (g *fakeGroup) impostor(i int, group string) *atomic.Int64 {
	var got atomic.Int64
	g.mu.Lock()
	g.nodes[i].group = group
	g.nodes[i].view = i
	g.mu.Unlock()
	g.setHook(i, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/status" {
			return false
		}
		got.Add(1)
		writeJSONForTest(w, http.StatusOK, map[string]string{})
		return true
	})
	return &got
}

// A node of another group that claims to lead, at one of a shard's
// addresses, never gets a request; the shard is pinned to the group its
// majority reports, and status shows the impostor as foreign.
func TestForeignNodeNeverGetsRequests(t *testing.T) {
	g0 := newFakeGroup(t, "a", 3, 1)
	g1 := newFakeGroup(t, "b", 3, 0)
	g0.setGroups("g0", "g0", "g0")
	g1.setGroups("g1", "g1", "g1")
	hits := g0.impostor(0, "wiped")
	r := startRouter(t, testConfig(t, g0.addrs(), g1.addrs()))
	ctx := context.Background()
	for i := range 10 {
		k := keyForShard("k"+string(rune('a'+i)), 0, 2)
		res, err := r.Set(ctx, map[string]string{k: "v"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Node != "a1" {
			t.Fatalf("Set(%q) served by %s, want a1", k, res[0].Node)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the foreign node received %d requests", n)
	}
	st := r.Shard(0)
	if st.Group != "g0" || !st.Nodes[0].Foreign || !strings.Contains(st.Nodes[0].Problem, "foreign") {
		t.Fatalf("shard 0 status: group %q, node a0 %+v", st.Group, st.Nodes[0])
	}
	if st.Leader == nil || st.Leader.ID != "a1" {
		t.Fatalf("leader %+v, want a1", st.Leader)
	}
}

// Before a group is pinned, nodes that disagree about their group elect
// no leader: neither can be trusted to be the shard.
func TestDisagreeingGroupsWithoutMajorityGetNoLeader(t *testing.T) {
	g0 := newFakeGroup(t, "a", 2, 1)
	g1 := newFakeGroup(t, "b", 1, 0)
	g0.setGroups("g0", "g0")
	hits := g0.impostor(0, "other")
	g0.setGroups("other", "g0")
	cfg := testConfig(t, append(g0.addrs(), "127.0.0.1:1"), g1.addrs())
	cfg.Timeout = 300 * time.Millisecond
	r := startRouter(t, cfg)
	_, err := r.Set(context.Background(), map[string]string{keyForShard("x", 0, 2): "v"}, "")
	var se *ShardError
	if !errors.As(err, &se) {
		t.Fatalf("Set = %v, want a ShardError", err)
	}
	if hits.Load() != 0 || g0.appliedCount() != 0 {
		t.Fatalf("a write went through: impostor %d, real %d", hits.Load(), g0.appliedCount())
	}
}

// Requests carry the pinned group; a node that answers 421 (it belongs to
// another group) is dropped and the request goes to the real leader.
func TestMisdirectedAnswerMarksNodeForeign(t *testing.T) {
	g0 := newFakeGroup(t, "a", 3, 1)
	g1 := newFakeGroup(t, "b", 3, 0)
	g0.setGroups("g0", "g0", "g0")
	g1.setGroups("g1", "g1", "g1")
	r := startRouter(t, testConfig(t, g0.addrs(), g1.addrs()))
	ctx := context.Background()
	k := keyForShard("m", 0, 2)
	if _, err := r.Set(ctx, map[string]string{k: "1"}, ""); err != nil {
		t.Fatal(err)
	}
	var header atomic.Value
	g0.setHook(1, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/status" {
			return false
		}
		header.Store(r.Header.Get(api.HeaderGroup))
		writeJSONForTest(w, http.StatusMisdirectedRequest, api.Error{Error: "this node belongs to group zz"})
		return true
	})
	g0.mu.Lock()
	g0.nodes[1].group = "zz" // its next poll agrees
	g0.mu.Unlock()
	g0.setLeader(2)
	g0.mu.Lock()
	g0.nodes[1].view = 1
	g0.mu.Unlock()
	res, err := r.Set(ctx, map[string]string{k: "2"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Node != "a2" {
		t.Fatalf("served by %s, want a2", res[0].Node)
	}
	if h, _ := header.Load().(string); h != "g0" {
		t.Fatalf("the request named group %q, want g0", h)
	}
	if !r.Shard(0).Nodes[1].Foreign {
		t.Fatal("a1 is not shown as foreign after its 421")
	}
}

// A leader at an HTTP address -shard does not list, which the members of
// the shard's group report, gets the shard's requests; one of another
// group, or claimed by a node of another group, does not.
func TestLeaderOutsideShardListIsFollowed(t *testing.T) {
	g := newFakeGroup(t, "n", 4, 3)
	g.setGroups("aa", "aa", "aa", "aa")
	r := startRouter(t, testConfig(t, g.addrs()[:3]))
	r.refresh(context.Background(), r.shards[0])
	st := r.Shard(0)
	if st.Leader == nil || st.Leader.ID != "n3" || st.Leader.HTTP != g.nodes[3].addr {
		t.Fatalf("leader %+v, want n3 at %s", st.Leader, g.nodes[3].addr)
	}
	if last := st.Nodes[len(st.Nodes)-1]; !last.Discovered || last.ID != "n3" {
		t.Fatalf("nodes %+v: the discovered leader is not shown", st.Nodes)
	}
	if _, err := r.Set(context.Background(), map[string]string{"batman": "bruce"}, ""); err != nil {
		t.Fatalf("set through the discovered leader: %v", err)
	}
	if v, _ := g.value("batman"); v != "bruce" {
		t.Fatalf("batman=%q on the group", v)
	}

	// The node at that address now belongs to another group: not followed.
	g.setGroups("aa", "aa", "aa", "zz")
	r.refresh(context.Background(), r.shards[0])
	if st := r.Shard(0); st.Leader != nil {
		t.Fatalf("leader %+v of another group followed", st.Leader)
	}
}
