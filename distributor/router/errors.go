package router

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. Compare with errors.Is; the router wraps them with detail.
var (
	// ErrNoLeader means no node of the shard was found leading before the
	// request's deadline: the shard is electing, or a majority of it is down.
	ErrNoLeader = errors.New("no leader")
	// ErrTimeout means the deadline passed while a request was in flight at
	// a node; a write's outcome is unknown.
	ErrTimeout = errors.New("deadline exceeded")
	// ErrClosed means the router has been closed.
	ErrClosed = errors.New("router is closed")
)

// NodeProblem is what the router last saw of one node when it gave up on a
// shard: it lets an error answer say which nodes were tried and why each was
// of no use.
type NodeProblem struct {
	ID      string `json:"id,omitempty"`
	HTTP    string `json:"http"`
	Problem string `json:"problem"`
	// Unreachable is true when the node did not answer at all.
	Unreachable bool `json:"unreachable,omitempty"`
}

// ShardError is a request to one shard that did not succeed before its
// deadline. It wraps ErrNoLeader, ErrTimeout, ErrClosed or the context's
// error.
type ShardError struct {
	Shard int
	// Nodes reports every node of the shard, tried by a forward or by a
	// status poll, with what was wrong with it.
	Nodes []NodeProblem
	// Elapsed is how long the router tried.
	Elapsed time.Duration
	// MaybeApplied is true for a write that reached a node at least once
	// without a definite answer: it may have been applied. Resending it
	// with the same write ID is safe.
	MaybeApplied bool
	Err          error
}

func (e *ShardError) Error() string {
	var b strings.Builder
	if e.noneReachable() {
		// The commonest cause by far is a shard whose nodes were never
		// started: say so first, not after the election vocabulary.
		fmt.Fprintf(&b, "shard %d: none of its nodes is reachable (", e.Shard)
		for i, n := range e.Nodes {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s: %s", n.HTTP, n.Problem)
		}
		fmt.Fprintf(&b, "); start them, or correct the distributor's -shard flags; %s after %s",
			headline(e.Err), e.Elapsed.Round(time.Millisecond))
	} else {
		fmt.Fprintf(&b, "shard %d: %v after %s", e.Shard, e.Err, e.Elapsed.Round(time.Millisecond))
		if len(e.Nodes) > 0 {
			b.WriteString("; nodes tried:")
			for i, n := range e.Nodes {
				if i > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, " %s (%s)", n.HTTP, n.Problem)
			}
		}
	}
	if e.MaybeApplied {
		b.WriteString("; the write may or may not have been applied: resending it with the same Idempotency-Key is safe")
	}
	return b.String()
}

// noneReachable reports whether no node of the shard answered at all.
func (e *ShardError) noneReachable() bool {
	for _, n := range e.Nodes {
		if !n.Unreachable {
			return false
		}
	}
	return len(e.Nodes) > 0
}

// headline is err without the detail of the last attempt, which the list
// of unreachable nodes already gives.
func headline(err error) string {
	if errors.Is(err, ErrNoLeader) {
		return ErrNoLeader.Error()
	}
	return err.Error()
}

func (e *ShardError) Unwrap() error { return e.Err }

// NodeError is a definite answer from a node that retrying elsewhere would
// not change, such as 400 for a key the node refuses or 413 for one over its
// limit.
type NodeError struct {
	Shard int
	// Node is the node's ID if known, else its HTTP address.
	Node string
	// Status is the node's HTTP status code.
	Status int
	// Message is the node's "error" field, or its raw body.
	Message string
}

func (e *NodeError) Error() string {
	return fmt.Sprintf("shard %d: node %s answered %d: %s", e.Shard, e.Node, e.Status, e.Message)
}
