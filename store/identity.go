package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

// A node's identity has two parts, both kept in identity.json in its data
// directory:
//
//   - The group ID, made by the node that founds a group and replicated
//     through the log (OpSetGroup), so every member knows it. Members
//     refuse Raft connections from nodes of another group (see raftnet) and
//     the distributor never routes to one. A founder that lost its disk and
//     founds a new group by mistake thus gets a new ID that nobody accepts.
//   - The incarnation, made when a node first starts on an empty data
//     directory. The leader records each member's incarnation
//     (OpSetIncarnation). A node that comes back on an empty directory has
//     a new one, so the leader knows it forgot its log and votes: it is
//     taken back as a non-voter, and promoted once it has caught up.
//
// Until its incarnation is recorded and it is a voter again (admitted), a
// node started on an empty directory refuses to vote (see gate.go): Raft's
// safety assumes a voter never forgets its log or its vote.
type identity struct {
	Group       string `json:"group,omitempty"`
	Incarnation string `json:"incarnation"`
	Admitted    bool   `json:"admitted"`
}

// identityFile is the file's name in the data directory.
const identityFile = "identity.json"

// newID returns n random bytes in hex.
func newID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// identityState is the store's identity, guarded for concurrent readers.
type identityState struct {
	mu   sync.Mutex
	id   identity
	path string // "" with InMem: nothing is written
}

func (s *identityState) get() identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// update changes the identity with fn and saves it if it changed.
func (s *identityState) update(fn func(*identity)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.id
	fn(&next)
	if next == s.id {
		return nil
	}
	if err := writeIdentity(s.path, next); err != nil {
		return err
	}
	s.id = next
	return nil
}

// writeIdentity saves id atomically: a temporary file, synced, renamed.
func writeIdentity(path string, id identity) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// loadIdentity reads identity.json, or makes a new identity if there is
// none. hasState says whether the directory already holds Raft state: a
// directory from before identities existed is a member already (admitted),
// while an empty one is a new incarnation that must be admitted first.
func (s *Store) loadIdentity(hasState bool) error {
	if !s.cfg.InMem {
		s.ident.path = filepath.Join(s.cfg.Dir, identityFile)
	}
	if s.ident.path != "" {
		b, err := os.ReadFile(s.ident.path)
		switch {
		case err == nil:
			var id identity
			if err := json.Unmarshal(b, &id); err != nil || id.Incarnation == "" {
				return s.openError(s.ident.path, "it is not a valid identity file", err)
			}
			s.ident.id = id
			return nil
		case !errors.Is(err, os.ErrNotExist):
			return s.openError(s.ident.path, "cannot read it: "+err.Error(), err)
		}
	}
	id := identity{Incarnation: newID(8), Admitted: hasState}
	if err := writeIdentity(s.ident.path, id); err != nil {
		return err
	}
	s.ident.id = id
	return nil
}

// Group returns the ID of this node's group, "" until it is known.
func (s *Store) Group() string { return s.ident.get().Group }

// Incarnation returns the ID of this node's data directory.
func (s *Store) Incarnation() string { return s.ident.get().Incarnation }

// Admitted reports whether this node may vote: its group has taken this
// incarnation of it back as a voter (always true for a founder and for a
// node whose data survived).
func (s *Store) Admitted() bool { return s.ident.get().Admitted }

// AdoptGroup records the group this node joined, as the join's answer
// names it, before the log brings it.
func (s *Store) AdoptGroup(group string) error {
	if group == "" {
		return nil
	}
	cur := s.Group()
	if cur != "" && cur != group {
		return fmt.Errorf("%w: this node belongs to group %s, the join answered %s", kv.ErrForeign, cur, group)
	}
	if err := s.ident.update(func(id *identity) { id.Group = group }); err != nil {
		return err
	}
	if s.layer != nil { // nil in damaged mode, where raft never started
		s.layer.SetGroup(group)
	}
	return nil
}

// identityCheckInterval is how often watchIdentity looks at the replicated
// state. Admission and adoption are rare events; a tenth of a second is
// quick enough for both and costs nothing.
const identityCheckInterval = 100 * time.Millisecond

// watchIdentity keeps identity.json in step with the replicated state: it
// adopts the group the log names, marks this incarnation admitted once the
// leader recorded it and made it a voter, and halts the node if the log
// names another group than the one its directory belongs to.
func (s *Store) watchIdentity() {
	defer s.bg.Done()
	t := time.NewTicker(identityCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		if s.Damaged() != nil {
			return
		}
		s.checkRemoved()
		if err := s.syncIdentity(); err != nil {
			s.logger.Error("cannot save this node's identity", "error", err)
		}
	}
}

// syncIdentity is one round of watchIdentity.
func (s *Store) syncIdentity() error {
	id := s.ident.get()
	group, inc := s.fsm.identity(s.cfg.ID)
	if group != "" && id.Group != "" && group != id.Group {
		s.damage(kv.Damage{File: s.ident.path, Problem: fmt.Sprintf(
			"this data directory belongs to group %s, but the log it received is group %s's", id.Group, group)})
		return nil
	}
	if group != "" && id.Group == "" {
		if err := s.AdoptGroup(group); err != nil {
			return err
		}
		s.logger.Info("group recorded", "group", group)
	}
	if !id.Admitted && inc == id.Incarnation && s.isVoter() {
		if err := s.ident.update(func(id *identity) { id.Admitted = true }); err != nil {
			return err
		}
		s.logger.Info("admitted: this node votes again", "incarnation", id.Incarnation)
	}
	return nil
}

// isVoter reports whether this node is a voter in the latest configuration.
func (s *Store) isVoter() bool {
	in, voter := s.selfInConfiguration()
	return in && voter
}

// selfInConfiguration reports whether this node is in the latest
// configuration raft knows, and whether as a voter.
func (s *Store) selfInConfiguration() (in, voter bool) {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return false, false
	}
	for _, srv := range f.Configuration().Servers {
		if srv.ID == raft.ServerID(s.cfg.ID) {
			return true, srv.Suffrage == raft.Voter
		}
	}
	return false, false
}
