package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/kvraft/hraftd/kv"
	"github.com/kvraft/hraftd/store"
)

// compareReplicas runs the leader's replica comparison (store/compare.go)
// every interval while this node leads, asking members for their digests
// through their /status.
func compareReplicas(ctx context.Context, logger *slog.Logger, st *store.Store, interval time.Duration, p peers) {
	fetch := func(ctx context.Context, m kv.Member, index uint64) (kv.Digest, bool, error) {
		return checkpointDigest(ctx, p, m, index)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.Done():
			return
		case <-t.C:
		}
		if !st.IsLeader() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 3*interval)
		check, err := st.CompareReplicas(cctx, fetch)
		cancel()
		switch {
		case err != nil:
			logger.Debug("replica check not made", "error", err)
		case len(check.Diverged) > 0 || check.NoMajority:
			logger.Error("replica check: members diverged", "checkpoint", check.Index,
				"diverged", check.Diverged, "agreed", check.Agreed, "missing", check.Missing, "no_majority", check.NoMajority)
		case len(check.Missing) > 0:
			logger.Warn("replica check: members did not report", "checkpoint", check.Index, "missing", check.Missing)
		default:
			logger.Debug("replica check: all members agree", "checkpoint", check.Index, "hash", check.Hash)
		}
	}
}

// checkpointDigest reads member m's digest at the checkpoint at index from
// its /status.
func checkpointDigest(ctx context.Context, p peers, m kv.Member, index uint64) (kv.Digest, bool, error) {
	if m.HTTPAddr == "" {
		return kv.Digest{}, false, fmt.Errorf("%s: %w: no HTTP address known", m.ID, store.ErrNoDigest)
	}
	ps, err := p.status(ctx, m.HTTPAddr)
	if err != nil {
		return kv.Digest{}, false, err
	}
	c := ps.Checkpoint
	switch {
	case c == nil || c.AppliedIndex < index:
		return kv.Digest{}, false, nil
	case c.AppliedIndex > index:
		return kv.Digest{}, false, fmt.Errorf("%s: %w: it is at checkpoint %d", m.ID, store.ErrNoDigest, c.AppliedIndex)
	}
	h, err := strconv.ParseUint(c.Hash, 16, 64)
	if err != nil {
		return kv.Digest{}, false, fmt.Errorf("%s: checkpoint hash %q: %w", m.ID, c.Hash, err)
	}
	return kv.Digest{AppliedIndex: c.AppliedIndex, Keys: c.Keys, Hash: h}, true, nil
}
