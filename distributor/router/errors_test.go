package router

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestShardErrorSaysFirstThatNoNodeIsReachable: when no node of the shard
// answered at all, the message opens with that and with what to do, not
// with the election vocabulary; otherwise it names the nodes tried.
func TestShardErrorSaysFirstThatNoNodeIsReachable(t *testing.T) {
	down := []NodeProblem{
		{HTTP: "127.0.0.1:11100", Problem: "connection refused", Unreachable: true},
		{HTTP: "127.0.0.1:11101", Problem: "connection refused", Unreachable: true},
	}
	err := &ShardError{Shard: 1, Nodes: down, Elapsed: 10 * time.Second,
		Err: fmt.Errorf("%w (last error: no node reports itself leader)", ErrNoLeader)}
	want := "shard 1: none of its nodes is reachable (127.0.0.1:11100: connection refused, 127.0.0.1:11101: connection refused); " +
		"start them, or correct the distributor's -shard flags; no leader after 10s"
	if got := err.Error(); got != want {
		t.Errorf("all down:\n got %s\nwant %s", got, want)
	}

	mixed := append([]NodeProblem{{ID: "node3", HTTP: "127.0.0.1:11102", Problem: "Candidate in term 7, knows no leader"}}, down...)
	err.Nodes = mixed
	got := err.Error()
	if !strings.HasPrefix(got, "shard 1: no leader (last error: no node reports itself leader) after 10s; nodes tried: 127.0.0.1:11102 (Candidate") ||
		strings.Contains(got, "none of its nodes") {
		t.Errorf("some up: %s", got)
	}
}
