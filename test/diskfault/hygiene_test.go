package diskfault

import (
	"fmt"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/cluster"
)

// A node whose group has no leader (both peers hung) stops within a few
// seconds of SIGTERM, and cleanly (exit 0).
func TestShutdownWhileLeaderlessIsBounded(t *testing.T) {
	c := igStart(t)
	var acked igAcked
	acked.writeMany(t, c, "before", 5)
	nodes := c.Shards[0]
	// Peers that are paused, not dead: connections to them open and then
	// hang, as with a host that stopped answering.
	for _, n := range nodes[1:] {
		if err := n.Pause(); err != nil {
			t.Fatal(err)
		}
	}
	// The survivor notices it has lost its group once its lease runs out.
	cluster.WaitFor(t, 15*time.Second, nodes[0].ID+" to be leaderless", func() error {
		st, err := c.Cluster.Status(t.Context(), nodes[0])
		if err != nil {
			return err
		}
		if st.Leader.ID != "" {
			return fmt.Errorf("%s still sees leader %q", nodes[0].ID, st.Leader.ID)
		}
		return nil
	})
	start := time.Now()
	c.Term(nodes[0].Proc, 8*time.Second)
	t.Logf("%s stopped %s after SIGTERM", nodes[0].ID, time.Since(start).Round(time.Millisecond))
	igNoPanic(t, nodes[0].Proc)
}
