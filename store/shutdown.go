package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Stopping is bounded whatever the group's state. raft.Shutdown waits for
// raft's goroutines, and one of them can sit in an RPC to a peer that
// accepted the connection and then stopped answering (a paused or hung
// host) until the transport's timeout, again for each retry: over a minute
// in practice. So each step gets a deadline, and when raft is still busy
// at the end of its own, the stream layer closes every connection, which
// makes those calls fail at once.
const (
	// transferTimeout bounds the leadership hand-over a leader tries first.
	transferTimeout = time.Second
	// shutdownTimeout bounds raft.Shutdown before connections are cut,
	// and again after.
	shutdownTimeout = 2 * time.Second
)

// errShutdownTimeout is returned by Close when raft did not stop in time;
// the process may exit anyway: what raft has on disk is consistent.
var errShutdownTimeout = errors.New("raft did not stop in time")

// within runs f and waits at most d for it; it reports whether f returned.
func within(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() {
		f()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// shutdownRaft stops raft within about transferTimeout + 2×shutdownTimeout.
// A leader first hands leadership to a follower, so the group elects a
// new leader at once instead of after a timeout.
func (s *Store) shutdownRaft() error {
	if s.raft.State() == raft.Leader && s.voters() > 1 {
		var terr error
		if !within(transferTimeout, func() { terr = s.raft.LeadershipTransfer().Error() }) {
			terr = fmt.Errorf("no answer within %s", transferTimeout)
		}
		if terr != nil {
			s.logger.Warn("leadership transfer before shutdown failed", "error", terr)
		}
	}
	var err error
	f := s.raft.Shutdown()
	if within(shutdownTimeout, func() { err = f.Error() }) {
		return err
	}
	s.logger.Warn("raft is still stopping; closing its connections to peers", "waited", shutdownTimeout)
	s.layer.CloseConns()
	if within(shutdownTimeout, func() { err = f.Error() }) {
		return err
	}
	s.logger.Error("raft did not stop; exiting without waiting for it (its files on disk are consistent)", "waited", 2*shutdownTimeout)
	return errShutdownTimeout
}
