package store

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

// Damaged mode. When a check finds this node's data wrong (a log entry or a
// snapshot whose checksum does not match, a snapshot that does not belong
// to the index its metadata claims), the node must neither serve what it
// holds nor vote with a log it cannot trust: its state machine stops
// applying, raft is shut down, and every request is refused with a 503
// saying which file is bad and how to recover. The process stays up, so
// that /status, /readyz, /metrics and the dashboard show the problem until
// an operator replaces the node.

// damagedState is the store's damaged mode.
type damagedState struct {
	d  atomic.Pointer[kv.Damage]
	ch chan struct{} // closed at the first damage
	// last is the node's status just before raft was shut down, which
	// Status answers from in damaged mode.
	last atomic.Pointer[kv.Status]
}

func newDamagedState() damagedState { return damagedState{ch: make(chan struct{})} }

// fixText is what every damage tells the operator to do.
func (s *Store) fixText() string {
	dir := s.cfg.Dir
	if s.cfg.InMem {
		dir = "its data directory"
	}
	return fmt.Sprintf("stop this node, delete %s, and start it again with -join <a healthy member>; "+
		"it rejoins the group and copies the data from the others (CLUSTERING.md, Replacing a node that lost its disk)", dir)
}

// damage puts the store in damaged mode; only the first damage is kept.
// It may be called from any goroutine, raft's included: it never waits for
// raft, and raft is shut down by watchDamage.
func (s *Store) damage(d kv.Damage) {
	if d.Fix == "" {
		d.Fix = s.fixText()
	}
	d.Since = time.Now()
	if !s.dmg.d.CompareAndSwap(nil, &d) {
		s.logger.Warn("more damage found", "file", d.File, "index", d.Index, "term", d.Term, "problem", d.Problem)
		return
	}
	s.fsm.halt()
	s.logger.Error("data damaged: this node stops serving and voting",
		"file", d.File, "index", d.Index, "term", d.Term, "problem", d.Problem, "fix", d.Fix)
	close(s.dmg.ch)
}

// Damaged returns what is wrong with this node's data, or nil.
func (s *Store) Damaged() *kv.Damage { return s.dmg.d.Load() }

// damagedError is the error every refused request gets in damaged mode.
func (s *Store) damagedError() error {
	if d := s.dmg.d.Load(); d != nil {
		return fmt.Errorf("%w: %s", kv.ErrDamaged, d.Error())
	}
	return nil
}

// watchDamage shuts raft down at the first damage. It runs in a goroutine
// of its own because raft.Shutdown waits for raft's goroutines, and the
// damage is usually found on one of them (the FSM's).
func (s *Store) watchDamage() {
	defer s.bg.Done()
	select {
	case <-s.closed:
		return
	case <-s.dmg.ch:
	}
	if st, err := s.liveStatus(); err == nil {
		s.dmg.last.Store(&st)
	}
	if err := s.raft.Shutdown().Error(); err != nil {
		s.logger.Warn("raft shutdown after damage", "error", err)
	}
	s.logger.Info("raft stopped: this node neither votes nor serves until it is replaced")
}

// damagedStatus is Status in damaged mode, from the last live status (or,
// if raft never ran, from the configuration).
func (s *Store) damagedStatus(d *kv.Damage) kv.Status {
	var st kv.Status
	if last := s.dmg.last.Load(); last != nil {
		st = *last
		st.Members = append([]kv.Member(nil), last.Members...)
	} else {
		st.Me = kv.Member{ID: s.cfg.ID, RaftAddr: s.cfg.RaftAdvertise, HTTPAddr: s.cfg.HTTPAddr}
		st.Digest = s.fsm.digest()
		st.AppliedIndex = st.Digest.AppliedIndex
	}
	st.State = stateDamaged
	st.Group, st.Incarnation = s.Group(), s.Incarnation()
	st.Leader = kv.Member{}
	st.LastContact = 0
	st.Admitted = true
	dc := *d
	st.Damage = &dc
	return st
}

// stateDamaged is the state /status reports in damaged mode.
const stateDamaged = "Damaged"

// openDamaged ends an Open that found damage: raft (if it started) and the
// transport are stopped and the log store closed, so the node neither votes
// nor listens for Raft traffic, while its HTTP API can still say what is
// wrong. Open then succeeds, in damaged mode.
func (s *Store) openDamaged(ra *raft.Raft, trans raft.Transport) error {
	var err error
	if ra != nil {
		err = ra.Shutdown().Error()
	}
	if c, ok := trans.(raft.WithClose); ok {
		err = errors.Join(err, c.Close())
	}
	if s.disk != nil {
		err = errors.Join(err, s.disk.Close())
		s.disk = nil
	}
	if err != nil {
		s.logger.Warn("closing after damage", "error", err)
	}
	s.recovered = true // there is state; it is just not usable
	return nil
}

// checkSnapshots wraps raft's snapshot store in the checks of snapstore.go.
func (s *Store) checkSnapshots(inner raft.SnapshotStore) *checkedSnapshots {
	c := &checkedSnapshots{SnapshotStore: inner, damage: s.damage, warn: s.logger.Warn}
	s.fsm.snapshotName = c.lastOpened
	return c
}
