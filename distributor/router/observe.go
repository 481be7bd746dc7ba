package router

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// This file only reads the router's state: the detailed View the dashboard
// shows, and a Watcher that turns successive views into events (leader
// changes, nodes going down and coming back) and leader-discovery latencies.
// It deliberately does not hook into the request or poll paths, so it adds
// nothing to a request's latency and cannot change routing; the price is
// that events are only as fine-grained as the watcher's sampling.

// View is a snapshot of everything the router knows: Status plus the parts
// of each node's last /status answer that Status leaves out.
type View struct {
	// Time is when the snapshot was taken.
	Time     time.Time   `json:"time"`
	Shards   []ShardView `json:"shards"`
	Counters Counters    `json:"counters"`
	// Poll is the configured poll interval: how stale the view can be.
	Poll string `json:"poll"`
}

// ShardView is the router's detailed view of one shard.
type ShardView struct {
	Shard  int        `json:"shard"`
	Leader *LeaderRef `json:"leader"`
	Nodes  []NodeView `json:"nodes"`
}

// NodeView is NodeStatus plus what the node's last /status said about its
// log and its data.
type NodeView struct {
	NodeStatus
	// Keys is the node's key count at its last answer; it is kept when the
	// node goes down, as the last known value.
	Keys         int    `json:"keys"`
	LastLogIndex uint64 `json:"last_log_index"`
	// LastContact is how long ago a follower last heard from its leader,
	// as the node reported it.
	LastContact string `json:"last_contact,omitempty"`
}

// View returns the router's current detailed view. Like Status, it does not
// poll.
func (r *Router) View() View {
	v := View{Time: time.Now(), Counters: r.stats.snapshot(), Poll: r.cfg.PollInterval.String()}
	for i, sh := range r.shards {
		st := r.Shard(i)
		sv := ShardView{Shard: i, Leader: st.Leader, Nodes: make([]NodeView, 0, len(st.Nodes))}
		for j, ns := range st.Nodes {
			n := sh.nodes[j]
			n.mu.Lock()
			nv := NodeView{NodeStatus: ns, Keys: n.st.Digest.Keys, LastLogIndex: n.st.LastLogIndex, LastContact: n.st.LastContact}
			n.mu.Unlock()
			sv.Nodes = append(sv.Nodes, nv)
		}
		v.Shards = append(v.Shards, sv)
	}
	return v
}

// ViewSource is what a Watcher samples; *Router is one.
type ViewSource interface {
	View() View
}

var _ ViewSource = (*Router)(nil)

// Event kinds.
const (
	// EventLeader: the shard has a (new) leader the router routes to.
	EventLeader = "leader"
	// EventNoLeader: the router knows no leader for the shard.
	EventNoLeader = "no_leader"
	// EventNodeDown: a node stopped answering.
	EventNodeDown = "node_down"
	// EventNodeUp: a node answered (for the first time, or again).
	EventNodeUp = "node_up"
)

// Event is one change the watcher saw between two views.
type Event struct {
	// Seq numbers events from 1, so a client can ask only for new ones.
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Kind  string    `json:"kind"`
	Shard int       `json:"shard"`
	// Node is the node's Raft ID, or its address if it never answered.
	Node string `json:"node"`
	// Term is the leader's term for EventLeader; 0 otherwise.
	Term uint64 `json:"term,omitempty"`
	// Failover is true for an EventLeader that replaces a previous leader
	// (not the first leader seen, nor the same one found again).
	Failover bool `json:"failover,omitempty"`
	// Discovery is, for an EventLeader after leadership was lost, the time
	// from the last moment the router saw the old leader healthy to the
	// moment it knew the new one: what clients of the shard waited.
	Discovery time.Duration `json:"discovery_ns,omitempty"`
	// Message is a sentence for people.
	Message string `json:"message"`
}

// WatchConfig configures a Watcher.
type WatchConfig struct {
	// Interval is how often the view is sampled. Sampling reads memory
	// only; it bounds how late an event's time can be.
	Interval time.Duration
	// MaxEvents bounds the ring of recent events.
	MaxEvents int
	// Logger receives one line per event; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultWatchConfig samples 20 times a second and keeps 200 events.
func DefaultWatchConfig() WatchConfig {
	return WatchConfig{Interval: 50 * time.Millisecond, MaxEvents: 200}
}

// Watcher samples a ViewSource and derives events from the differences
// between successive views. Its methods are safe for concurrent use.
type Watcher struct {
	src    ViewSource
	cfg    WatchConfig
	logger *slog.Logger

	mu     sync.Mutex
	last   View
	events []Event // ring, oldest first once full
	seq    uint64
	shards []shardWatch
	subs   []func(Event)

	life            sync.Mutex // guards started and closed
	started, closed bool
	stop, done      chan struct{}
}

// shardWatch is what the watcher remembers about one shard between views.
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

// NewWatcher returns a Watcher of src; it samples nothing until Start.
func NewWatcher(src ViewSource, cfg WatchConfig) *Watcher {
	def := DefaultWatchConfig()
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

// View returns the latest sampled view (sampling now if none was taken).
func (w *Watcher) View() View {
	w.mu.Lock()
	v := w.last
	w.mu.Unlock()
	if v.Time.IsZero() {
		return w.src.View()
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

// Sample takes one view and records the events it implies. Start calls it
// periodically; tests call it directly.
func (w *Watcher) Sample() {
	v := w.src.View()
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

// diff compares v with what the watcher remembers; w.mu is held.
func (w *Watcher) diff(v View) []Event {
	var evs []Event
	for len(w.shards) < len(v.Shards) {
		w.shards = append(w.shards, shardWatch{nodes: map[string]nodeState{}})
	}
	for _, sv := range v.Shards {
		sw := &w.shards[sv.Shard]
		for _, n := range sv.Nodes {
			was := sw.nodes[n.HTTP]
			name := nodeName(n)
			switch {
			case n.Reachable && was != nodeUp:
				msg := name + " is up"
				if was == nodeDown {
					msg = name + " is back"
				}
				evs = append(evs, Event{Time: v.Time, Kind: EventNodeUp, Shard: sv.Shard, Node: name, Message: msg})
				sw.nodes[n.HTTP] = nodeUp
			case !n.Reachable && was == nodeUp:
				msg := name + " is down"
				if n.Problem != "" {
					msg += ": " + n.Problem
				}
				evs = append(evs, Event{Time: v.Time, Kind: EventNodeDown, Shard: sv.Shard, Node: name, Message: msg})
				sw.nodes[n.HTTP] = nodeDown
			}
			// A node that has never answered stays nodeUnknown: it was
			// not "down" in any sense a reader cares about, just not
			// polled yet (or never started).
		}

		if sv.Leader == nil {
			if sw.leader != "" && !sw.leaderless {
				sw.leaderless = true
				// The loss happened at the latest when the old leader last
				// answered a poll; counting from then, not from this
				// sample, is what a client of the shard experienced.
				sw.lostAt = v.Time
				if ls := lastSeen(sv, sw.leader); !ls.IsZero() && ls.Before(v.Time) {
					sw.lostAt = ls
				}
				evs = append(evs, Event{Time: v.Time, Kind: EventNoLeader, Shard: sv.Shard, Node: sw.leader,
					Message: "no leader known; " + sw.leader + " was leader"})
			}
			continue
		}
		id := sv.Leader.ID
		if id == "" {
			id = sv.Leader.HTTP
		}
		if id == sw.leader && !sw.leaderless {
			continue
		}
		e := Event{Time: v.Time, Kind: EventLeader, Shard: sv.Shard, Node: id, Term: leaderTerm(sv)}
		switch {
		case sw.leader == "":
			e.Message = id + " leads"
		case !sw.leaderless:
			// Moved straight to another node (a redirect or a poll named
			// it) without a sample in between: count from the old
			// leader's last healthy answer.
			e.Failover = true
			if ls := lastSeen(sv, sw.leader); !ls.IsZero() && ls.Before(v.Time) {
				e.Discovery = v.Time.Sub(ls)
			}
			e.Message = id + " leads, replacing " + sw.leader
		default:
			e.Failover = id != sw.leader
			e.Discovery = v.Time.Sub(sw.lostAt)
			if e.Failover {
				e.Message = id + " leads, replacing " + sw.leader
			} else {
				e.Message = id + " leads again"
			}
		}
		if e.Term != 0 {
			e.Message += " (term " + strconv.FormatUint(e.Term, 10) + ")"
		}
		if e.Discovery > 0 {
			e.Message += "; found after " + e.Discovery.Round(time.Millisecond).String()
		}
		evs = append(evs, e)
		sw.leader, sw.leaderless, sw.lostAt = id, false, time.Time{}
	}
	return evs
}

func nodeName(n NodeView) string {
	if n.ID != "" {
		return n.ID
	}
	return n.HTTP
}

// lastSeen is when the node named id (Raft ID or address) last answered.
func lastSeen(sv ShardView, id string) time.Time {
	for _, n := range sv.Nodes {
		if (n.ID == id || n.HTTP == id) && n.LastSeen != nil {
			return *n.LastSeen
		}
	}
	return time.Time{}
}

func leaderTerm(sv ShardView) uint64 {
	for _, n := range sv.Nodes {
		if n.Leader {
			return n.Term
		}
	}
	return 0
}
