package store

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

// ValidateKey checks a key against the store's rules.
func (s *Store) ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: key is empty", kv.ErrInvalid)
	case len(key) > s.cfg.MaxKeyBytes:
		return fmt.Errorf("key of %d bytes is over the %d-byte limit: %w", len(key), s.cfg.MaxKeyBytes, kv.ErrTooLarge)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: key is not valid UTF-8", kv.ErrInvalid)
	}
	return nil
}

// Set sets every pair in one Raft entry: all or none are applied. A
// non-empty writeID makes the write idempotent (see Write). It returns the
// entry's log index.
func (s *Store) Set(ctx context.Context, pairs map[string]string, writeID string) (uint64, error) {
	if len(pairs) == 0 {
		return 0, fmt.Errorf("%w: no key-value pairs", kv.ErrInvalid)
	}
	w := Write{ID: writeID, Ops: make([]Op, 0, len(pairs))}
	for k, v := range pairs {
		w.Ops = append(w.Ops, Op{Type: OpSet, Key: k, Value: v})
	}
	return s.Execute(ctx, []Write{w})
}

// Delete removes key in one Raft entry; deleting a missing key succeeds.
func (s *Store) Delete(ctx context.Context, key, writeID string) (uint64, error) {
	return s.Execute(ctx, []Write{{ID: writeID, Ops: []Op{{Type: OpDelete, Key: key}}}})
}

// Execute validates the writes and applies them together in one Raft
// entry; each write keeps its own idempotency. Only OpSet and OpDelete may
// be used: membership operations are the store's own business.
func (s *Store) Execute(ctx context.Context, writes []Write) (uint64, error) {
	if len(writes) == 0 {
		return 0, fmt.Errorf("%w: no writes", kv.ErrInvalid)
	}
	for _, w := range writes {
		if err := kv.CheckWriteID(w.ID); err != nil {
			return 0, err
		}
		if len(w.Ops) == 0 {
			return 0, fmt.Errorf("%w: a write has no operations", kv.ErrInvalid)
		}
		for _, op := range w.Ops {
			if op.Type != OpSet && op.Type != OpDelete {
				return 0, fmt.Errorf("%w: operation %s is not allowed", kv.ErrInvalid, op.Type)
			}
			if err := s.ValidateKey(op.Key); err != nil {
				return 0, err
			}
			if !utf8.ValidString(op.Value) {
				return 0, fmt.Errorf("%w: value for key %q is not valid UTF-8", kv.ErrInvalid, op.Key)
			}
		}
	}
	return s.apply(ctx, &Command{Writes: writes})
}

// apply proposes cmd and waits until it is committed and applied here.
func (s *Store) apply(ctx context.Context, cmd *Command) (uint64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if s.raft.State() != raft.Leader {
		return 0, s.notLeaderError()
	}
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	dl, _ := ctx.Deadline()
	f := s.raft.Apply(cmd.Encode(), time.Until(dl))

	// The future cannot be cancelled; wait for it in a goroutine so that
	// the caller's deadline is honoured. Raft resolves every future (on
	// commit, on losing leadership, or on shutdown), so it does not leak.
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return 0, s.mapApplyError(err)
		}
	case <-ctx.Done():
		return 0, fmt.Errorf("waiting for commit: %w (the write may or may not be applied)", kv.ErrTimeout)
	}
	if res, ok := f.Response().(applyResult); ok && res.err != nil {
		return 0, fmt.Errorf("apply: %w", res.err)
	}
	return f.Index(), nil
}
