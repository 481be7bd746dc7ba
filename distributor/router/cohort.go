package router

import (
	"sync"
	"time"
)

// cohort lets a batcher hold its next batch until the clients of the batch
// that just returned have sent their next requests (see writebatch.go and
// readbatch.go). Its fields are guarded by the batcher's mutex.
type cohort struct {
	want int           // while waiting: how many queued requests end the wait
	wake chan struct{} // closed by the request that makes the queue that long
}

// arrived is called, with the batcher's mutex held, after a request joined
// a queue now queued long.
func (c *cohort) arrived(queued int) {
	if c.want > 0 && queued >= c.want {
		close(c.wake)
		c.want = 0
	}
}

// waitLocked waits, with mu held on entry and on return, until n requests
// are queued or d has passed.
func (c *cohort) waitLocked(mu *sync.Mutex, n int, d time.Duration) {
	c.want, c.wake = n, make(chan struct{})
	wake := c.wake
	mu.Unlock()
	t := time.NewTimer(d)
	select {
	case <-wake:
	case <-t.C:
	}
	t.Stop()
	mu.Lock()
	c.want = 0
}

// answerThenLinger answers a batch of n that has returned, then, if n > 1
// and d > 0, holds the next batch until queued() reaches what was queued
// before the answer plus share (the part of the n answered clients
// expected back on this shard), capped at limit, or until d has passed.
// The queue is measured before the answer so that no client is counted
// twice. mu guards the queue and c; it
// is held on return, for the caller to take the next batch.
func (c *cohort) answerThenLinger(mu *sync.Mutex, queued func() int, n, share, limit int, d time.Duration, answer func()) {
	mu.Lock()
	want := min(queued()+share, limit)
	mu.Unlock()
	answer()
	mu.Lock()
	if n > 1 && d > 0 && queued() < want {
		c.waitLocked(mu, want, d)
	}
}
