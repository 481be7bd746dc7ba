package store

import (
	"fmt"
	"sync"
	"time"
)

// A follower's own commit index only reaches as far as the entries it has
// received, so a follower that falls behind (a slow disk, a busy host)
// looks caught up to itself. Its leader's commit index, which the caller
// reads from the leader's /status and reports with NoteLeaderCommit, is
// what the follower's progress is measured against.

// leaderCommitFresh is how long a reported leader commit index is used.
const leaderCommitFresh = 10 * time.Second

// leaderCommit is the last commit index reported for this node's leader.
type leaderCommit struct {
	mu     sync.Mutex
	leader string
	index  uint64
	at     time.Time
}

// NoteLeaderCommit records that leader (a Raft ID) had committed index.
func (s *Store) NoteLeaderCommit(leader string, index uint64) {
	s.lc.mu.Lock()
	s.lc.leader, s.lc.index, s.lc.at = leader, index, time.Now()
	s.lc.mu.Unlock()
}

// leaderLag is how many entries this node's applied index is behind the
// commit index last reported for its current leader, if that report is
// fresh.
func (s *Store) leaderLag(leader string, applied uint64) (uint64, bool) {
	s.lc.mu.Lock()
	defer s.lc.mu.Unlock()
	if s.lc.leader != leader || leader == "" || time.Since(s.lc.at) > leaderCommitFresh || s.lc.index <= applied {
		return 0, false
	}
	return s.lc.index - applied, true
}

// checkLeaderLag is Ready's check of this node against its leader.
func (s *Store) checkLeaderLag(leader string, applied uint64) error {
	if s.cfg.ReadyMaxLag == 0 {
		return nil
	}
	if lag, ok := s.leaderLag(leader, applied); ok && lag > s.cfg.ReadyMaxLag {
		return fmt.Errorf("lags its leader %s by %d entries (more than -ready-max-lag %d)", leader, lag, s.cfg.ReadyMaxLag)
	}
	return nil
}
