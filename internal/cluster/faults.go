package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// The partitions below use the nodes' own fault injection (hraftd
// -fault-injection, POST /debug/faults), which cuts Raft traffic between
// named peers inside the node's Raft stream layer (package raftnet), in
// both directions. Start the nodes with NodeArgs -fault-injection.

// setFaults blocks n's Raft traffic to the Raft addresses block, or heals
// all of it.
func (c *Cluster) setFaults(ctx context.Context, n *Node, block []string, heal bool) error {
	body, _ := json.Marshal(map[string]any{"block": block, "heal": heal})
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	code, b, err := c.Do(ctx, http.MethodPost, n.URL()+"/debug/faults", body)
	if err != nil {
		return fmt.Errorf("%s /debug/faults: %w", n.ID, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("%s /debug/faults answered %d: %s", n.ID, code, b)
	}
	return nil
}

// Cut cuts Raft traffic between every node of a and every node of b, on
// both ends of each link.
func (c *Cluster) Cut(ctx context.Context, a, b []*Node) error {
	raft := func(ns []*Node) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Raft)
		}
		return out
	}
	var errs []error
	for _, n := range a {
		errs = append(errs, c.setFaults(ctx, n, raft(b), false))
	}
	for _, n := range b {
		errs = append(errs, c.setFaults(ctx, n, raft(a), false))
	}
	return errors.Join(errs...)
}

// Heal restores all Raft traffic of the running nodes of shard s.
func (c *Cluster) Heal(ctx context.Context, s int) error {
	var errs []error
	for _, n := range c.Shards[s] {
		if n.Running() {
			errs = append(errs, c.setFaults(ctx, n, nil, true))
		}
	}
	return errors.Join(errs...)
}
