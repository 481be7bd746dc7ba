package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/kv"
)

// dedupCapacity is how many recent write IDs the state machine remembers.
// Eviction is by count, in apply order, so every replica evicts the same IDs
// at the same index. It must cover the writes that can commit while a
// client is still retrying one: the distributor retries for at most its
// request deadline (10 s by default), so this is sized for that window at a
// busy group's write rate, at a bounded cost in memory.
const dedupCapacity = 200_000

// applyResult is what fsm.Apply returns for a command entry; it reaches the
// caller of raft.Apply through the future's Response.
type applyResult struct {
	// err is set when the entry could not be decoded (see Apply).
	err error
}

// fsm is the state machine: a map of keys to values, the members' HTTP
// addresses, and the IDs of recent writes. Raft calls Apply, Snapshot,
// Restore and StoreConfiguration from one goroutine; readers call the other
// methods concurrently, so everything is guarded by mu.
type fsm struct {
	logger *slog.Logger

	mu      sync.RWMutex
	data    map[string]string
	members map[string]string // Raft server ID -> HTTP API address
	group   string            // the group's ID; see identity.go
	incs    map[string]string // Raft server ID -> incarnation
	hash    uint64            // XOR of pairHash over data; see Digest
	applied uint64            // index of the last entry the state reflects
	dedup   dedupTable
	checks  checkpointRing // digests recorded at checkpoint entries

	// halted is set in damaged mode: Apply, Restore and Snapshot then do
	// nothing, so the state stays what it was before the damage.
	halted atomic.Bool
	// onDamage is called when Apply finds a damaged entry; the store
	// sets it to its damage method.
	onDamage func(kv.Damage)
	// onDiverged is called, outside the lock, for each OpDiverged applied:
	// the member ID, the op's value and the entry's index.
	onDiverged func(id, value string, index uint64)
	// snapshotName names the snapshot being restored, for the damage a
	// failed Restore reports.
	snapshotName func() string

	// Counters for metrics, readable without the lock.
	appliedEntries   atomic.Uint64
	appliedBytes     atomic.Uint64 // size of the entries applied, for Config.SnapshotBytes
	snapshots        atomic.Uint64
	snapshotNanos    atomic.Uint64
	snapshotFailures atomic.Uint64

	// waiters are readers blocked in waitApplied, woken in Apply.
	waitMu  sync.Mutex
	waiters map[chan struct{}]uint64
}

func newFSM(logger *slog.Logger) *fsm {
	return &fsm{
		logger:  logger,
		data:    make(map[string]string),
		members: make(map[string]string),
		incs:    make(map[string]string),
		dedup:   newDedupTable(dedupCapacity),
		waiters: make(map[chan struct{}]uint64),
	}
}

// Apply applies one committed command entry.
//
// An entry whose checksum does not match was damaged after its proposer
// encoded it (on this node's disk, most likely): applying it could serve a
// wrong value, and skipping it would silently drop a write that the others
// apply, so the state machine halts instead and the store goes into
// damaged mode (see damage.go); the entry and everything after it stay
// unapplied.
//
// An entry that does not decode for any other reason is skipped, and the
// skip is logged as an error and returned to the proposer. Input is
// validated before it is proposed, so such an entry means a bug or a newer
// node version wrote it. Skipping is deterministic (every replica decodes
// the same bytes the same way), so replicas stay identical; panicking, as
// hraftd does, would instead crash every replica of the group on the same
// entry, forever, on every restart.
func (f *fsm) Apply(l *raft.Log) any {
	if f.halted.Load() {
		return applyResult{err: kv.ErrDamaged}
	}
	cmd, err := DecodeCommand(l.Data)
	if errors.Is(err, errChecksum) {
		f.halt()
		if f.onDamage != nil {
			f.onDamage(kv.Damage{File: "raft log", Index: l.Index, Term: l.Term,
				Problem: fmt.Sprintf("the command of entry %d (term %d) does not match its checksum: %v", l.Index, l.Term, err)})
		}
		return applyResult{err: fmt.Errorf("%w: %v", kv.ErrDamaged, err)}
	}
	if err != nil {
		f.logger.Error("skipping undecodable log entry", "index", l.Index, "error", err)
	}
	var diverged []Op
	f.mu.Lock()
	if cmd != nil {
		for _, w := range cmd.Writes {
			if w.ID != "" && !f.dedup.add(w.ID) {
				continue // already applied: a resent write
			}
			for _, op := range w.Ops {
				if op.Type == OpCheckpoint {
					f.checks.add(kv.Digest{AppliedIndex: l.Index, Keys: len(f.data), Hash: f.hash})
					continue
				}
				if op.Type == OpDiverged {
					diverged = append(diverged, op)
					continue
				}
				f.applyOp(op)
			}
		}
	}
	f.applied = l.Index
	f.mu.Unlock()
	for _, op := range diverged {
		if f.onDiverged != nil {
			f.onDiverged(op.Key, op.Value, l.Index)
		}
	}
	f.appliedEntries.Add(1)
	f.appliedBytes.Add(uint64(len(l.Data)))
	f.notify(l.Index)
	return applyResult{err: err}
}

// halt stops the state machine for good (damaged mode).
func (f *fsm) halt() { f.halted.Store(true) }

// errHalted is what Snapshot and Restore return in damaged mode.
var errHalted = fmt.Errorf("%w: the state machine is halted", kv.ErrDamaged)

// applyOp changes the state for one operation; f.mu must be held.
func (f *fsm) applyOp(op Op) {
	switch op.Type {
	case OpSet:
		if old, ok := f.data[op.Key]; ok {
			f.hash ^= pairHash(op.Key, old)
		}
		f.data[op.Key] = op.Value
		f.hash ^= pairHash(op.Key, op.Value)
	case OpDelete:
		if old, ok := f.data[op.Key]; ok {
			f.hash ^= pairHash(op.Key, old)
			delete(f.data, op.Key)
		}
	case OpSetMember:
		f.members[op.Key] = op.Value
	case OpDeleteMember:
		delete(f.members, op.Key)
		delete(f.incs, op.Key)
	case OpSetGroup:
		if f.group == "" {
			f.group = op.Value
		} else if f.group != op.Value {
			f.logger.Error("ignoring a second group ID", "group", f.group, "other", op.Value)
		}
	case OpSetIncarnation:
		f.incs[op.Key] = op.Value
	}
}

// StoreConfiguration makes the FSM a raft.ConfigurationStore. The store does
// not need the configuration itself, but raft then routes configuration
// entries through the FSM, so the applied index counts them too. Together
// with the command each new leader commits at the start of its term (see
// Store.ensureTermCommitted) that means every committed entry a linearizable
// read can wait for advances the applied index; only the no-op raft appends
// at the start of a term does not, and it is always followed by a command.
func (f *fsm) StoreConfiguration(index uint64, _ raft.Configuration) {
	if f.halted.Load() {
		return
	}
	f.mu.Lock()
	f.applied = max(f.applied, index)
	f.mu.Unlock()
	f.notify(index)
}

// get reads a key from the local state.
func (f *fsm) get(key string) (string, bool, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	v, ok := f.data[key]
	return v, ok, f.applied
}

// getMany reads keys from the local state under one lock, so that they
// reflect one applied index; a missing key is absent from values.
func (f *fsm) getMany(keys []string) (map[string]string, uint64) {
	values := make(map[string]string, len(keys))
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, k := range keys {
		if v, ok := f.data[k]; ok {
			values[k] = v
		}
	}
	return values, f.applied
}

// member returns the HTTP address recorded for a Raft server ID.
func (f *fsm) member(id string) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.members[id]
}

// memberAddrs returns a copy of the members' HTTP addresses.
func (f *fsm) memberAddrs() map[string]string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return maps.Clone(f.members)
}

// appliedIndex returns the index of the last entry applied.
func (f *fsm) appliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied
}

// identity returns the group's ID and the incarnation recorded for the
// member with this ID ("" for either if none is).
func (f *fsm) identity(id string) (group, incarnation string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.group, f.incs[id]
}

func (f *fsm) digest() kv.Digest {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return kv.Digest{AppliedIndex: f.applied, Keys: len(f.data), Hash: f.hash}
}

// pairHash hashes one key/value pair. FNV-1a alone mixes its last bytes
// weakly, so a finalizer (from SplitMix64) spreads them before the XOR.
func pairHash(k, v string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(k))
	h.Write([]byte{0})
	h.Write([]byte(v))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// waitApplied blocks until the state reflects index idx or ctx ends.
func (f *fsm) waitApplied(ctx context.Context, idx uint64) error {
	if f.appliedIndex() >= idx {
		return nil
	}
	ch := make(chan struct{})
	f.waitMu.Lock()
	f.waiters[ch] = idx
	f.waitMu.Unlock()
	// Re-check: Apply may have run between the first check and the
	// registration, and would not have seen this waiter.
	if f.appliedIndex() >= idx {
		f.dropWaiter(ch)
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		f.dropWaiter(ch)
		return ctx.Err()
	}
}

func (f *fsm) dropWaiter(ch chan struct{}) {
	f.waitMu.Lock()
	delete(f.waiters, ch)
	f.waitMu.Unlock()
}

// notify wakes the waiters whose index has been reached.
func (f *fsm) notify(idx uint64) {
	f.waitMu.Lock()
	defer f.waitMu.Unlock()
	for ch, want := range f.waiters {
		if want <= idx {
			close(ch)
			delete(f.waiters, ch)
		}
	}
}

// Snapshot captures the state for raft. It clones the maps under the lock
// (a clone of a map of strings copies string headers, not the bytes, so it
// is quick even for a million keys); Persist then writes the clone out
// while Apply goes on.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if f.halted.Load() {
		return nil, errHalted
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &fsmSnapshot{
		fsm:     f,
		start:   time.Now(),
		applied: f.applied,
		data:    maps.Clone(f.data),
		members: maps.Clone(f.members),
		group:   f.group,
		incs:    maps.Clone(f.incs),
		dedup:   f.dedup.ids(),
	}, nil
}

// restoreState replaces the whole state, under the lock readers take
// (hraftd swaps its map without one).
func (f *fsm) restoreState(s *snapshotState) {
	var h uint64
	for k, v := range s.data {
		h ^= pairHash(k, v)
	}
	dd := newDedupTable(dedupCapacity)
	for _, id := range s.dedup {
		dd.add(id)
	}
	f.mu.Lock()
	f.data, f.members, f.hash, f.dedup = s.data, s.members, h, dd
	f.group, f.incs = s.group, s.incs
	f.applied = max(f.applied, s.applied)
	idx := f.applied
	f.mu.Unlock()
	f.notify(idx)
}

// dedupTable remembers the last capacity write IDs, oldest evicted first.
type dedupTable struct {
	seen  map[string]struct{}
	order []string // ring buffer of IDs in insertion order
	next  int      // where the next ID goes in order
	full  bool
}

func newDedupTable(capacity int) dedupTable {
	return dedupTable{seen: make(map[string]struct{}), order: make([]string, capacity)}
}

// add records id and reports whether it was new.
func (d *dedupTable) add(id string) bool {
	if _, ok := d.seen[id]; ok {
		return false
	}
	if d.full {
		delete(d.seen, d.order[d.next])
	}
	d.order[d.next] = id
	d.seen[id] = struct{}{}
	d.next++
	if d.next == len(d.order) {
		d.next, d.full = 0, true
	}
	return true
}

// ids returns the remembered IDs, oldest first.
func (d *dedupTable) ids() []string {
	if !d.full {
		return append([]string(nil), d.order[:d.next]...)
	}
	out := make([]string, 0, len(d.order))
	out = append(out, d.order[d.next:]...)
	return append(out, d.order[:d.next]...)
}
