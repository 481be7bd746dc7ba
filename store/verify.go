package store

import (
	"context"
	"sync"

	"github.com/hashicorp/raft"
)

// leaderVerifier confirms leadership with a quorum on behalf of many
// concurrent readers at once: every reader that arrives while a round is in
// flight waits for the next round, and one round then answers all of them.
// Under load that turns N heartbeat rounds into about one per round trip,
// which is what lets linearizable reads scale with concurrency.
//
// A reader must not share a round that started before it arrived: the
// round has to happen after the reader noted its read index. Joining only
// the not-yet-started round guarantees that.
type leaderVerifier struct {
	raft *raft.Raft

	mu      sync.Mutex
	next    *verifyRound // round that has not started; nil if none waiting
	running bool         // a goroutine is running rounds
}

type verifyRound struct {
	done chan struct{}
	err  error
}

func newLeaderVerifier(r *raft.Raft) *leaderVerifier { return &leaderVerifier{raft: r} }

// verify returns nil once a quorum round that began after the call confirms
// this node is leader.
func (v *leaderVerifier) verify(ctx context.Context) error {
	v.mu.Lock()
	if v.next == nil {
		v.next = &verifyRound{done: make(chan struct{})}
	}
	r := v.next
	if !v.running {
		v.running = true
		go v.loop()
	}
	v.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loop runs rounds while readers are waiting for one.
func (v *leaderVerifier) loop() {
	for {
		v.mu.Lock()
		r := v.next
		v.next = nil
		if r == nil {
			v.running = false
			v.mu.Unlock()
			return
		}
		v.mu.Unlock()
		r.err = v.raft.VerifyLeader().Error()
		close(r.done)
	}
}
