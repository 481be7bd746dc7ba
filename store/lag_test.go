package store

import (
	"strings"
	"testing"
	"time"
)

// A follower far behind the commit index its leader reports is not ready,
// and its status shows the lag; once it is within the bound it is ready.
func TestFollowerLaggingItsLeaderIsNotReady(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	if _, err := leader.Set(ctxT(t), map[string]string{"a": "1"}, ""); err != nil {
		t.Fatal(err)
	}
	f := nodes[0]
	if f == leader {
		f = nodes[1]
	}
	waitForValue(t, f, "a", "1")
	poll(t, 10*time.Second, f.ID()+" ready", func() error { return f.Ready() })
	st, err := f.Status()
	if err != nil {
		t.Fatal(err)
	}
	f.NoteLeaderCommit(leader.ID(), st.AppliedIndex+f.cfg.ReadyMaxLag+1)
	if err := f.Ready(); err == nil || !strings.Contains(err.Error(), "lags its leader") {
		t.Fatalf("Ready = %v, want a lag error", err)
	}
	if st, _ := f.Status(); st.Lag != f.cfg.ReadyMaxLag+1 {
		t.Fatalf("status lag %d, want %d", st.Lag, f.cfg.ReadyMaxLag+1)
	}
	// A report about another node than the current leader is ignored.
	f.NoteLeaderCommit("someone-else", st.AppliedIndex+1_000_000)
	if err := f.Ready(); err != nil {
		t.Fatalf("Ready = %v after a report about another node", err)
	}
	f.NoteLeaderCommit(leader.ID(), st.AppliedIndex+f.cfg.ReadyMaxLag)
	if err := f.Ready(); err != nil {
		t.Fatalf("Ready = %v within the bound", err)
	}
}
