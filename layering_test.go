package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering holds the architecture the README's code map describes:
// the node's HTTP layer and metrics know kv's types but neither the store
// nor Raft, kv imports nothing of this module, and the distributor talks to
// nodes only over their HTTP API.
func TestLayering(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped with -short")
	}
	const mod = "github.com/kvraft/hraftd/"
	forbidden := []string{mod + "store", mod + "raftnet", "github.com/hashicorp/raft", "go.etcd.io/bbolt"}
	for _, tc := range []struct {
		pkgs   []string
		denied []string
	}{
		{[]string{"./http", "./metrics"}, forbidden},
		{[]string{"./distributor/..."}, forbidden},
		{[]string{"./kv"}, []string{mod}},
		{[]string{"./api"}, []string{mod}},
	} {
		args := append([]string{"list", "-deps"}, tc.pkgs...)
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		self := map[string]bool{}
		own, _ := exec.Command("go", append([]string{"list"}, tc.pkgs...)...).Output()
		for _, p := range strings.Fields(string(own)) {
			self[p] = true
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, d := range tc.denied {
				if !self[dep] && (dep == d || strings.HasPrefix(dep, d+"/") || (strings.HasSuffix(d, "/") && strings.HasPrefix(dep, d))) {
					t.Errorf("%v depends on %s", tc.pkgs, dep)
				}
			}
		}
	}
}
