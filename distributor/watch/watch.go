// Package watch turns the router's successive status snapshots into the
// dashboard's events (leader changes, nodes going down and coming back) and
// leader-discovery latencies.
//
// It only reads the router's state, sampling it on a timer: it adds nothing
// to a request's latency and cannot change routing; the price is that
// events are only as fine-grained as the sampling.
package watch

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/kvraft/hraftd/distributor/router"
)

// Source is what a Watcher samples; *router.Router is one.
type Source interface {
	Status() router.Status
}

var _ Source = (*router.Router)(nil)

// Config configures a Watcher.
type Config struct {
	// Interval is how often the router is sampled. Sampling reads memory
	// only; it bounds how late an event's time can be.
	Interval time.Duration
	// MaxEvents bounds the ring of recent events.
	MaxEvents int
	// Logger receives one line per event; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig samples 20 times a second and keeps 200 events.
func DefaultConfig() Config {
	return Config{Interval: 50 * time.Millisecond, MaxEvents: 200}
}

// Watcher samples a Source and derives events from the differences
// between successive samples. Its methods are safe for concurrent use.
type Watcher struct {
	src    Source
	cfg    Config
	logger *slog.Logger

	mu     sync.Mutex
	last   router.Status
	events []Event // ring, oldest first once full
	seq    uint64
	shards []shardWatch
	subs   []func(Event)

	life            sync.Mutex // guards started and closed
	started, closed bool
	stop, done      chan struct{}
}

// shardWatch is what the watcher remembers about one shard between samples.
type shardWatch struct {
	leader     string    // the leader's ID (or address); "" before the first
	lostAt     time.Time // when leadership was lost; zero while a leader is known
	leaderless bool
	nodes      map[string]nodeState // by configured address
}

// nodeState is a node's reachability as the watcher last recorded it.
type nodeState int

const (
	nodeUnknown nodeState = iota // never answered
	nodeUp
	nodeDown // answered once, not now
)

// New returns a Watcher of src; it samples nothing until Start.
func New(src Source, cfg Config) *Watcher {
	def := DefaultConfig()
	if cfg.Interval <= 0 {
		cfg.Interval = def.Interval
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = def.MaxEvents
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Watcher{src: src, cfg: cfg, logger: logger.With("component", "watcher"),
		stop: make(chan struct{}), done: make(chan struct{})}
}

// Subscribe calls f for every later event, on the watcher's goroutine; f
// must not block. Subscribe before Start to see every event.
func (w *Watcher) Subscribe(f func(Event)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.subs = append(w.subs, f)
}

// Start samples once at once, then every Interval until Close.
func (w *Watcher) Start() {
	w.life.Lock()
	defer w.life.Unlock()
	if w.started || w.closed {
		return
	}
	w.started = true
	w.Sample()
	go func() {
		defer close(w.done)
		t := time.NewTicker(w.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.Sample()
			}
		}
	}()
}

// Close stops sampling and waits for the sampler to exit.
func (w *Watcher) Close() {
	w.life.Lock()
	defer w.life.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	close(w.stop)
	if w.started {
		<-w.done
	}
}

// Status returns the latest sampled status (asking the source now if
// nothing was sampled yet).
func (w *Watcher) Status() router.Status {
	w.mu.Lock()
	v := w.last
	w.mu.Unlock()
	if v.Time.IsZero() {
		return w.src.Status()
	}
	return v
}

// Events returns the retained events with Seq > after, oldest first.
func (w *Watcher) Events(after uint64) []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := []Event{}
	for _, e := range w.events {
		if e.Seq > after {
			out = append(out, e)
		}
	}
	return out
}

// Sample takes one status and records the events it implies. Start calls it
// periodically; tests call it directly.
func (w *Watcher) Sample() {
	v := w.src.Status()
	w.mu.Lock()
	evs := w.diff(v)
	w.last = v
	for i := range evs {
		w.seq++
		evs[i].Seq = w.seq
		w.events = append(w.events, evs[i])
	}
	if over := len(w.events) - w.cfg.MaxEvents; over > 0 {
		// Copy rather than reslice so the ring's backing array does not
		// grow without bound.
		w.events = append([]Event(nil), w.events[over:]...)
	}
	subs := w.subs
	w.mu.Unlock()
	for _, e := range evs {
		// The router itself logs leader changes; a node going down or
		// coming back is news only the watcher has.
		level := slog.LevelDebug
		switch e.Kind {
		case EventNodeDown:
			level = slog.LevelWarn
		case EventNodeUp:
			level = slog.LevelInfo
		}
		w.logger.Log(context.Background(), level, "event", "kind", e.Kind, "shard", e.Shard, "node", e.Node, "message", e.Message)
		for _, f := range subs {
			f(e)
		}
	}
}
