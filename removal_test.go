package main

import (
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
