package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/kv"
)

type fakeSource struct {
	status kv.Status
	err    error
}

func (f fakeSource) Status() (kv.Status, error) { return f.status, f.err }
func (f fakeSource) Counters() kv.Counters {
	return kv.Counters{LeaderChanges: 3, AppliedEntries: 42, Snapshots: 2, SnapshotSeconds: 0.5}
}

func scrape(t *testing.T, n *Node) string {
	t.Helper()
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestNodeMetricsExposeRaftAndRequests(t *testing.T) {
	n := NewNode(fakeSource{status: kv.Status{
		State: "Leader", Term: 7, LastLogIndex: 12, CommitIndex: 11, AppliedIndex: 10,
		Leader:  kv.Member{ID: "node0"},
		Members: make([]kv.Member, 3),
		Digest:  kv.Digest{Keys: 5},
	}})
	// Three of one (route, code): the second and third take the cached
	// series, and must count as the first did.
	for range 3 {
		n.ObserveRequest("POST /key", 200, 3*time.Millisecond)
	}
	n.ObserveRequest("POST /key", 503, time.Millisecond)
	out := scrape(t, n)
	for _, want := range []string{
		`hraftd_raft_state{state="Leader"} 1`,
		`hraftd_raft_state{state="Follower"} 0`,
		"hraftd_raft_term 7",
		"hraftd_raft_last_log_index 12",
		"hraftd_raft_commit_index 11",
		"hraftd_raft_applied_index 10",
		"hraftd_keys 5",
		"hraftd_raft_has_leader 1",
		"hraftd_raft_members 3",
		"hraftd_raft_leader_changes_total 3",
		"hraftd_fsm_applied_entries_total 42",
		`hraftd_snapshots_total{result="ok"} 2`,
		"hraftd_snapshot_duration_seconds_total 0.5",
		"hraftd_damaged 0",
		"hraftd_replica_check_diverged 0",
		`hraftd_http_requests_total{code="200",route="POST /key"} 3`,
		`hraftd_http_requests_total{code="503",route="POST /key"} 1`,
		`hraftd_http_request_duration_seconds_count{route="POST /key"} 4`,
		"go_goroutines",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestNodeMetricsWhenStoreIsClosed(t *testing.T) {
	out := scrape(t, NewNode(fakeSource{err: errors.New("closed")}))
	if !strings.Contains(out, `hraftd_raft_state{state="Shutdown"} 1`) {
		t.Errorf("a closed store is not reported as Shutdown:\n%s", out)
	}
}

func TestNodeMetricsWhenDamaged(t *testing.T) {
	out := scrape(t, NewNode(fakeSource{status: kv.Status{State: "Damaged",
		Damage: &kv.Damage{File: "raft log", Index: 7, Term: 2, Problem: "checksum mismatch"}}}))
	for _, want := range []string{"hraftd_damaged 1", `hraftd_raft_state{state="Leader"} 0`} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics of a damaged node lack %q:\n%s", want, out)
		}
	}
}

func TestNodeMetricsAfterAReplicaCheck(t *testing.T) {
	out := scrape(t, NewNode(fakeSource{status: kv.Status{State: "Leader",
		ReplicaCheck: &kv.ReplicaCheck{Index: 40, Agreed: []string{"node0", "node1"}, Diverged: []string{"node2"}}}}))
	for _, want := range []string{"hraftd_replica_check_diverged 1", "hraftd_replica_check_missing 0", "hraftd_replica_check_index 40"} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
}
