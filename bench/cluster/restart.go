package cluster

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/kvraft/hraftd/api"
)

// PID returns the node's process ID, or 0 if it is not running.
func (n *Node) PID() int { return n.proc.pid() }

// Restart stops nd as an operator would (SIGTERM, killed after grace),
// starts it again on the same addresses from its data directory, and
// returns how long the new process took from its start until its /readyz
// answered 200 (polled every 50 ms, so to within that).
func (c *Cluster) Restart(ctx context.Context, nd *Node, grace time.Duration) (time.Duration, error) {
	if nd.proc == nil {
		return 0, errors.New("cluster: node " + nd.ID + " was never started")
	}
	nd.proc.stop(grace)
	c.log.Info("stopped node", "node", nd.ID)
	// -join is ignored, but harmless, when the data dir holds state; give
	// the first node of the shard as the seed would.
	join := c.shard(nd.Shard)[0].HTTP
	if join == nd.HTTP {
		join = ""
	}
	start := time.Now()
	if err := c.startNode(nd, join); err != nil {
		return 0, err
	}
	if err := c.waitReady(ctx, nd); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// Status returns nd's GET /status.
func (c *Cluster) Status(ctx context.Context, nd *Node) (api.Status, error) {
	return c.status(ctx, nd)
}

// WaitApplied waits until nd has applied index, and returns how long that
// took.
func (c *Cluster) WaitApplied(ctx context.Context, nd *Node, index uint64) (time.Duration, error) {
	start := time.Now()
	err := c.poll(ctx, nd.ID+" to apply index "+strconv.FormatUint(index, 10), nd.proc, func() error {
		st, err := c.status(ctx, nd)
		if err != nil {
			return err
		}
		if st.AppliedIndex < index {
			return errors.New("applied index " + strconv.FormatUint(st.AppliedIndex, 10))
		}
		return nil
	})
	return time.Since(start), err
}
