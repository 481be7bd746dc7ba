package store

import "errors"

// Sentinel errors. Callers compare with errors.Is; the store wraps them with
// detail using %w.
var (
	// ErrNotLeader means this node is not the leader and another node is
	// known to be; the request was not applied and can be sent there.
	ErrNotLeader = errors.New("not the leader")
	// ErrNoLeader means no leader is known right now (an election is in
	// progress, or this node is cut off); nothing was applied.
	ErrNoLeader = errors.New("no leader known")
	// ErrLeadershipLost means leadership was lost while a write was being
	// committed: it may or may not have been applied. Resending it with
	// the same write ID is safe.
	ErrLeadershipLost = errors.New("leadership lost while committing; the write may or may not have been applied")
	// ErrTimeout means the deadline passed; for a write, its outcome is
	// unknown (resend it with the same write ID).
	ErrTimeout = errors.New("deadline exceeded")
	// ErrNotFound means a named member does not exist.
	ErrNotFound = errors.New("not found")
	// ErrClosed means the store has been closed.
	ErrClosed = errors.New("store is closed")
	// ErrInvalid means the request is malformed; it was not applied.
	ErrInvalid = errors.New("invalid request")
	// ErrTooLarge means a key or value is over its size limit.
	ErrTooLarge = errors.New("too large")
)
