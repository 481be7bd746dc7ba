package diskfault

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/cluster"
)

// A follower's state changes behind the log's back (a memory fault, a
// bug): the leader's replica check finds its digest differs from the
// majority's at a checkpoint, the follower is marked damaged and stops
// serving, and the distributor never serves the wrong value; replaced as
// its message says, it copies the right state.
func TestReplicaCheckStopsADivergedFollower(t *testing.T) {
	c := igStart(t, "-fault-injection", "-replica-check", "500ms")
	var acked igAcked
	acked.writeMany(t, c, "k", 20)
	f := igFollower(t, c)
	leader := c.WaitLeader(30*time.Second, c.Shards[0]...)
	const key = "k-007"
	want := acked.vals[key]
	code, body, err := c.Do(t.Context(), http.MethodPost, f.URL()+"/debug/faults",
		[]byte(`{"corrupt":{"`+key+`":"a value no client wrote"}}`))
	if err != nil || code != http.StatusOK {
		t.Fatalf("corrupt %s: %d %s %v", f.ID, code, body, err)
	}
	st := igWantDamaged(t, c, f, "state machine", key)
	if !strings.Contains(st.Damage.Problem, "replica check") {
		t.Errorf("%s's damage does not name the replica check: %+v", f.ID, st.Damage)
	}
	log, err := os.ReadFile(leader.Proc.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "replica diverged") || !strings.Contains(string(log), "member="+f.ID) {
		t.Errorf("%s's log does not name %s as diverged:\n%s", leader.ID, f.ID, igTail(log, 10))
	}
	// Every read through the distributor sees the logged value.
	for range 20 {
		v, found, err := igGet(t.Context(), c.Dist.URL(), key, "linearizable")
		if err != nil || !found || v != want {
			t.Fatalf("distributor read %s = %q (found %v, %v), want %q", key, v, found, err, want)
		}
	}
	igReplace(t, c, f)
	// The replaced node agrees at the next checks.
	cluster.WaitFor(t, 20*time.Second, "a replica check in which all three agree", func() error {
		rc := c.Status(c.WaitLeader(30*time.Second, c.Shards[0]...)).ReplicaCheck
		if rc == nil || len(rc.Agreed) != 3 {
			return fmt.Errorf("last replica check %+v", rc)
		}
		return nil
	})
	acked.checkAll(t, c)
	igNoPanic(t, f.Proc)
}
