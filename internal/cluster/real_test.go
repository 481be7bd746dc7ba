package cluster

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// TestOneShardOfOne starts the real binaries, one node and a distributor,
// and takes them through what the launcher offers: a pause, a clean stop
// and a restart on the same data, a crash of the distributor and its
// restart, and the logs of every run.
func TestOneShardOfOne(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
	cfg := DefaultConfig()
	cfg.Shards, cfg.PerShard = 1, 1
	c := NewTest(t, cfg)
	n := c.Shards[0][0]
	if l := c.WaitLeader(10*time.Second, n); l != n {
		t.Fatalf("leader %v, want %s", l, n.ID)
	}

	if err := n.Pause(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	_, err := c.Cluster.Status(ctx, n)
	cancel()
	if err == nil {
		t.Error("a paused node answered /status")
	}
	if err := n.Resume(); err != nil {
		t.Fatal(err)
	}

	c.Term(n.Proc, 10*time.Second)
	if err := n.WaitExit(t.Context()); err != nil || n.Running() {
		t.Fatalf("after Term: running %v, %v", n.Running(), err)
	}
	c.Restart(n.Proc)
	c.WaitLeader(10*time.Second, n)
	c.WaitReady(10*time.Second, n)

	c.Kill(c.Dist.Proc)
	c.Restart(c.Dist.Proc)
	if l := c.Leader(t.Context(), 0); l != n {
		t.Errorf("Leader = %v, want %s", l, n.ID)
	}

	logs := c.LogTails(1000)
	for _, want := range []string{"node0.log", "distributor.log", "exit: signal: killed", "exit: exit status 0"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs do not mention %q:\n%s", want, logs)
		}
	}
}
