package store

import (
	"sync"

	"github.com/hashicorp/raft"
)

// A node removed from its group has nothing left to do. A leader that
// applies its own removal shuts raft down; a follower is never told (see
// removal.go in package main, which asks the group's leader). Rather than
// sit in state Shutdown or wait for a leader for good, the store reports
// it through Done, and hraftd exits saying why.

// doneState is set once when raft stops while the store is open.
type doneState struct {
	once   sync.Once
	ch     chan struct{}
	reason string
}

// Done is closed when the node can no longer take part in its group
// (removed from it); DoneReason then says why.
func (s *Store) Done() <-chan struct{} { return s.done.ch }

// DoneReason says why Done was closed.
func (s *Store) DoneReason() string {
	select {
	case <-s.done.ch:
		return s.done.reason
	default:
		return ""
	}
}

// rejoinHint says how a removed node becomes a member again.
const rejoinHint = "; to make it a member again, delete its data directory and start it with -join <a member's HTTP address>"

// checkRemoved closes Done if raft has stopped by itself while the store
// is open: a leader that applies its own removal shuts raft down.
func (s *Store) checkRemoved() {
	if s.raft.State() != raft.Shutdown {
		return
	}
	select {
	case <-s.closed:
		return // Close stopped it
	default:
	}
	if in, _ := s.selfInConfiguration(); in {
		s.finish("raft stopped although this node is still in its group's configuration")
		return
	}
	s.finish("this node was removed from its group" + rejoinHint)
}

// MarkRemoved closes Done with reason: the caller learnt from the group's
// leader that this node is no longer a member.
func (s *Store) MarkRemoved(reason string) { s.finish(reason + rejoinHint) }

// finish closes Done once, with the first reason given.
func (s *Store) finish(reason string) {
	s.done.once.Do(func() {
		s.done.reason = reason
		close(s.done.ch)
	})
}

// memberScanLimit bounds how many log entries MemberHTTPAddrs reads.
const memberScanLimit = 100000

// MemberHTTPAddrs returns the HTTP address of every member this node knows
// of, by Raft server ID. A node that has just restarted has not re-applied
// its log yet (raft replays it once a leader says what is committed), so
// the addresses its log records, newest first, are added to those its
// state machine holds. Only for finding peers to ask: nothing here is
// known to be committed.
func (s *Store) MemberHTTPAddrs() map[string]string {
	addrs := s.fsm.memberAddrs()
	if s.logs == nil {
		return addrs
	}
	first, err1 := s.logs.FirstIndex()
	last, err2 := s.logs.LastIndex()
	if err1 != nil || err2 != nil || last == 0 {
		return addrs
	}
	seen := make(map[string]bool)
	var l raft.Log
	for i := last; i >= first && i > 0 && last-i < memberScanLimit; i-- {
		if s.logs.GetLog(i, &l) != nil || l.Type != raft.LogCommand {
			continue
		}
		c, err := DecodeCommand(l.Data)
		if err != nil {
			continue
		}
		for _, w := range c.Writes {
			for j := len(w.Ops) - 1; j >= 0; j-- {
				op := w.Ops[j]
				if seen[op.Key] || (op.Type != OpSetMember && op.Type != OpDeleteMember) {
					continue
				}
				seen[op.Key] = true
				if op.Type == OpSetMember {
					addrs[op.Key] = op.Value
				} else {
					delete(addrs, op.Key)
				}
			}
		}
	}
	return addrs
}
