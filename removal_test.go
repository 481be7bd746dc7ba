package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/kv"
)

// Only a leader of the node's own group, at its term or later, that lists
// the node nowhere proves a removal.
func TestRemovedBy(t *testing.T) {
	me := kv.Status{Me: kv.Member{ID: "node1"}, Group: "g", Term: 5}
	leader := func(mod func(*api.Status)) api.Status {
		p := api.Status{Me: api.Server{ID: "node0"}, State: "Leader", Group: "g", Term: 5,
			Followers: []api.Server{{ID: "node2"}}}
		mod(&p)
		return p
	}
	cases := []struct {
		name string
		peer api.Status
		want bool
	}{
		{"leader without me", leader(func(*api.Status) {}), true},
		{"leader at a later term", leader(func(p *api.Status) { p.Term = 9 }), true},
		{"leader lists me", leader(func(p *api.Status) { p.Followers = append(p.Followers, api.Server{ID: "node1"}) }), false},
		{"stale leader", leader(func(p *api.Status) { p.Term = 4 }), false},
		{"follower", leader(func(p *api.Status) { p.State = "Follower" }), false},
		{"another group", leader(func(p *api.Status) { p.Group = "h" }), false},
		{"group unknown", leader(func(p *api.Status) { p.Group = "" }), false},
		{"myself", leader(func(p *api.Status) { p.Me.ID = "node1" }), false},
	}
	for _, tc := range cases {
		reason, got := removedBy(me, tc.peer)
		if got != tc.want {
			t.Errorf("%s: removed %v, want %v (%s)", tc.name, got, tc.want, reason)
		}
	}
}

// A leaderless node's report names what each member answered, and spots a
// leader that sends to an old Raft address of this node.
func TestLeaderlessReport(t *testing.T) {
	me := kv.Status{Me: kv.Member{ID: "node0", RaftAddr: "127.0.0.1:12010"}, Group: "g", Term: 3}
	moved := leaderlessReport(me, map[string]peerAnswer{
		"node1": {http: "127.0.0.1:11001", st: api.Status{Me: api.Server{ID: "node1"}, Leader: api.Server{ID: "node1"},
			State: "Leader", Group: "g", Term: 4, Followers: []api.Server{{ID: "node0", Address: "127.0.0.1:12000"}}}},
		"node2": {http: "127.0.0.1:11002", err: errors.New("connection refused")},
	})
	for _, want := range []string{"node1: Leader in term 4", "node2 (127.0.0.1:11002): connection refused",
		"sends to this node at 127.0.0.1:12000, but it listens at 127.0.0.1:12010", "-join 127.0.0.1:11001"} {
		if !strings.Contains(moved, want) {
			t.Errorf("report lacks %q:\n%s", want, moved)
		}
	}
	down := leaderlessReport(me, map[string]peerAnswer{"node1": {http: "a", err: errors.New("connection refused")}})
	if !strings.Contains(down, "a majority of its members are running") {
		t.Errorf("report for unreachable members: %s", down)
	}
}
