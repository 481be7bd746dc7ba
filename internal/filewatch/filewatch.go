// Package filewatch tells cheaply whether a few files changed since they
// were last read, for programs that re-read their TLS material or users
// file without a restart. It polls rather than subscribes: a stat of a
// few files at most once per interval, on the request path, needs no
// goroutine, no OS-specific API, and sees a file replaced by a rename or a
// symlink swap (as configuration managers and Kubernetes secrets do) the
// same way as one rewritten in place.
package filewatch

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Watch watches a fixed set of files. It is safe for concurrent use.
type Watch struct {
	names    []string
	interval time.Duration

	// next is the UnixNano time before which Check does not stat.
	next atomic.Int64
	// mu serialises checks, so one reload runs at a time.
	mu   sync.Mutex
	seen []stamp
}

// stamp identifies a version of a file cheaply: a rewrite changes the
// modification time (nanoseconds on the filesystems in use) or the size.
type stamp struct {
	mod  int64 // UnixNano
	size int64
}

// New watches names (empty names are skipped), checking at most once per
// interval. Call Check(true, ...) once to read the files initially.
func New(interval time.Duration, names ...string) *Watch {
	w := &Watch{interval: interval}
	for _, n := range names {
		if n != "" {
			w.names = append(w.names, n)
		}
	}
	return w
}

// Due reports, without locking, whether the interval has passed since the
// last check: the fast path of every request.
func (w *Watch) Due() bool { return time.Now().UnixNano() >= w.next.Load() }

// Check stats the files if a check is due (or force is set) and calls
// reload if any changed since the last check (or force is set). It
// returns reload's error, or the error of a file that cannot be stat'ed.
// The stamps are recorded before reload runs, so a reload that fails (a
// half-written file) is retried when the files change again, not on every
// request; the caller keeps its old state meanwhile.
func (w *Watch) Check(force bool, reload func() error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !force && !w.Due() {
		return nil // another request checked meanwhile
	}
	w.next.Store(time.Now().Add(w.interval).UnixNano())
	st := make([]stamp, len(w.names))
	for i, n := range w.names {
		fi, err := os.Stat(n)
		if err != nil {
			return fmt.Errorf("filewatch: %w", err)
		}
		st[i] = stamp{fi.ModTime().UnixNano(), fi.Size()}
	}
	if !force && slices.Equal(st, w.seen) {
		return nil
	}
	w.seen = st
	return reload()
}
