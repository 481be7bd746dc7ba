package router

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/tlsconf"
	"github.com/kvraft/hraftd/kv"
)

// fakeGroup is a Raft group of fake nodes that share one map, as a group
// that replicates instantly would. A test moves its leader at will. The
// nodes answer like real ones: /status, POST /key, GET and DELETE /key/{k},
// 307 to the leader when asked with ?redirect, 503 when no leader is known.
type fakeGroup struct {
	t     *testing.T
	nodes []*fakeNode
	// quit is closed when the test ends, to release hooks that hang.
	quit chan struct{}

	mu      sync.Mutex
	term    uint64
	data    map[string]string
	seenIDs map[string]bool // write IDs applied, for idempotency
	applies int             // writes applied (duplicates excluded)
	pairs   int             // keys set or deleted by the writes applied
	bodies  [][]byte        // POST /key bodies received, duplicates included
	ids     []string        // write IDs received, duplicates included
	reads   [][]string      // keys of each POST /read served, in order
	gets    int             // GET /key/{k} requests served
	clients []string        // over TLS: the verified client identity of each request, "" for none

	scheme string // of the nodes' URLs (redirects): "http" or "https"
}

// fakeNode is one node of a fakeGroup.
type fakeNode struct {
	g    *fakeGroup
	id   string
	srv  *httptest.Server
	addr string

	// Guarded by g.mu.
	view int // index of the node this node believes leads; -1 for none
	// hook, if set, sees every request first and answers it by returning
	// true. It runs without g.mu held.
	hook func(w http.ResponseWriter, r *http.Request) bool

	writes atomic.Int64 // POST and DELETE /key requests received

	// group is the Raft group the node reports (guarded by g.mu).
	group string
}

// newFakeGroup starts n fake nodes, named prefix0..prefixN-1, on free
// 127.0.0.1 ports, with node leader leading (-1: none).
func newFakeGroup(t *testing.T, prefix string, n, leader int) *fakeGroup {
	t.Helper()
	return newFakeGroupServing(t, prefix, n, leader, nil)
}

// newFakeGroupServing is newFakeGroup with the nodes serving HTTPS with
// tlsCfg, if set.
func newFakeGroupServing(t *testing.T, prefix string, n, leader int, tlsCfg *tls.Config) *fakeGroup {
	t.Helper()
	g := &fakeGroup{t: t, data: map[string]string{}, seenIDs: map[string]bool{}, term: 1, quit: make(chan struct{}), scheme: "http"}
	if tlsCfg != nil {
		g.scheme = "https"
	}
	for i := range n {
		fn := &fakeNode{g: g, id: fmt.Sprintf("%s%d", prefix, i), view: leader}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /status", fn.handleStatus)
		mux.HandleFunc("POST /key", fn.handleWrite)
		mux.HandleFunc("DELETE /key/{key...}", fn.handleWrite)
		mux.HandleFunc("GET /key/{key...}", fn.handleGet)
		mux.HandleFunc("POST /read", fn.handleRead)
		fn.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			g.mu.Lock()
			hook := fn.hook
			if r.TLS != nil {
				id, err := tlsconf.PeerIdentity(r.TLS)
				client := ""
				if err == nil {
					client = id.Role + ":" + id.Name
				}
				g.clients = append(g.clients, client)
			}
			g.mu.Unlock()
			if hook != nil && hook(w, r) {
				return
			}
			mux.ServeHTTP(w, r)
		}))
		if tlsCfg != nil {
			fn.srv.TLS = tlsCfg
			fn.srv.StartTLS()
		} else {
			fn.srv.Start()
		}
		fn.addr = fn.srv.Listener.Addr().String()
		t.Cleanup(fn.srv.Close)
		g.nodes = append(g.nodes, fn)
	}
	// Registered last, so it runs before the servers close.
	t.Cleanup(func() { close(g.quit) })
	return g
}

// hang blocks like a node that never answers, until the client gives up or
// the test ends. It drains the body first: only then does the server notice
// the client going away.
func (g *fakeGroup) hang(r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-g.quit:
	}
}

// addrs returns the nodes' HTTP addresses, for a Config's Shards.
func (g *fakeGroup) addrs() []string {
	var a []string
	for _, n := range g.nodes {
		a = append(a, n.addr)
	}
	return a
}

// setLeader makes node i the leader in every node's view (-1: none) and
// starts a new term, as an election would.
func (g *fakeGroup) setLeader(i int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.term++
	for _, n := range g.nodes {
		n.view = i
	}
}

func (g *fakeGroup) setHook(i int, h func(w http.ResponseWriter, r *http.Request) bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.nodes[i].hook = h
}

func (g *fakeGroup) value(k string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v, ok := g.data[k]
	return v, ok
}

// pairsApplied returns how many keys the applied writes set or deleted:
// with coalescing, many callers' writes share one applied write.
func (g *fakeGroup) pairsApplied() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pairs
}

// postBodies returns the POST /key bodies received, in order.
func (g *fakeGroup) postBodies() [][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]byte(nil), g.bodies...)
}

func (g *fakeGroup) appliedCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.applies
}

func (g *fakeGroup) writeIDs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.ids...)
}

func (n *fakeNode) self() int {
	for i, m := range n.g.nodes {
		if m == n {
			return i
		}
	}
	return -1
}

func (n *fakeNode) server(i int) api.Server {
	m := n.g.nodes[i]
	return api.Server{ID: m.id, Address: "raft-" + m.id, HTTP: m.addr}
}

func (n *fakeNode) handleStatus(w http.ResponseWriter, _ *http.Request) {
	g := n.g
	g.mu.Lock()
	defer g.mu.Unlock()
	st := api.Status{Me: n.server(n.self()), Followers: []api.Server{}, State: "Follower", Term: g.term, Group: n.group}
	if n.view >= 0 {
		st.Leader = n.server(n.view)
		if n.view == n.self() {
			st.State = "Leader"
		}
	} else {
		st.State = "Candidate"
	}
	writeJSONForTest(w, http.StatusOK, st)
}

// notLeader answers a request this node cannot serve, as a real node does
// with ?redirect; it reports whether it answered.
func (n *fakeNode) notLeader(w http.ResponseWriter, r *http.Request) bool {
	g := n.g
	g.mu.Lock()
	view := n.view
	g.mu.Unlock()
	if view == n.self() {
		return false
	}
	if view < 0 {
		w.Header().Set("Retry-After", "1")
		writeJSONForTest(w, http.StatusServiceUnavailable, api.Error{Error: "no leader known"})
		return true
	}
	leader := g.nodes[view].addr
	if _, ok := r.URL.Query()["redirect"]; !ok {
		n.g.t.Errorf("%s %s without ?redirect: the router must ask for redirects", r.Method, r.URL)
	}
	u := *r.URL
	u.Scheme, u.Host = g.scheme, leader
	w.Header().Set("Location", u.String())
	writeJSONForTest(w, http.StatusTemporaryRedirect, api.Error{Error: "not the leader", Leader: leader})
	return true
}

func (n *fakeNode) handleWrite(w http.ResponseWriter, r *http.Request) {
	n.writes.Add(1)
	if n.notLeader(w, r) {
		return
	}
	var body []byte
	if r.Method == http.MethodPost {
		body, _ = io.ReadAll(r.Body)
	}
	n.handleWriteBody(w, r, body)
}

// handleWriteBody is handleWrite for a request whose body, if a POST, has
// already been read.
func (n *fakeNode) handleWriteBody(w http.ResponseWriter, r *http.Request, body []byte) {
	var pairs map[string]string
	if r.Method == http.MethodPost {
		if err := json.Unmarshal(body, &pairs); err != nil || len(pairs) == 0 {
			writeJSONForTest(w, http.StatusBadRequest, api.Error{Error: "bad body"})
			return
		}
	}
	g := n.g
	g.mu.Lock()
	if r.Method == http.MethodPost {
		g.bodies = append(g.bodies, body)
	}
	id := r.Header.Get(api.HeaderWriteID)
	g.ids = append(g.ids, id)
	if id == "" || !g.seenIDs[id] {
		g.seenIDs[id] = true
		g.applies++
		g.pairs += max(len(pairs), 1)
		if pairs != nil {
			for k, v := range pairs {
				g.data[k] = v
			}
		} else {
			delete(g.data, r.PathValue("key"))
		}
	}
	idx := g.applies
	g.mu.Unlock()
	w.Header().Set(api.HeaderNode, n.id)
	w.Header().Set(api.HeaderIndex, strconv.Itoa(idx))
	w.WriteHeader(http.StatusOK)
}

func (n *fakeNode) handleGet(w http.ResponseWriter, r *http.Request) {
	level := r.URL.Query().Get("level")
	if level != "" && level != string(kv.ReadNone) && n.notLeader(w, r) {
		return
	}
	key := r.PathValue("key")
	n.g.mu.Lock()
	n.g.gets++
	n.g.mu.Unlock()
	v, ok := n.g.value(key)
	w.Header().Set(api.HeaderNode, n.id)
	w.Header().Set(api.HeaderFound, strconv.FormatBool(ok))
	writeJSONForTest(w, http.StatusOK, map[string]string{key: v})
}

// handleRead answers POST /read as a node does: every key from one state.
func (n *fakeNode) handleRead(w http.ResponseWriter, r *http.Request) {
	var req api.ReadRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Keys) == 0 {
		writeJSONForTest(w, http.StatusBadRequest, api.Error{Error: "bad body"})
		return
	}
	if req.Level != "" && req.Level != string(kv.ReadNone) && n.notLeader(w, r) {
		return
	}
	ans := api.ReadResponse{Values: map[string]string{}, Found: map[string]bool{}}
	g := n.g
	g.mu.Lock()
	g.reads = append(g.reads, req.Keys)
	for _, k := range req.Keys {
		v, ok := g.data[k]
		ans.Found[k] = ok
		if ok {
			ans.Values[k] = v
		}
	}
	g.mu.Unlock()
	w.Header().Set(api.HeaderNode, n.id)
	writeJSONForTest(w, http.StatusOK, ans)
}

// readBatches returns the keys of every POST /read served, and how many
// GET /key/{k} were served.
func (g *fakeGroup) readBatches() ([][]string, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]string(nil), g.reads...), g.gets
}

func writeJSONForTest(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// deadAddr returns a 127.0.0.1 address nothing listens on: connecting to it
// is refused.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// testConfig is a Config with short timings for tests. Periodic polling is
// effectively off (an hour), so that tests exercise the refresh a failure
// triggers; tests that want polling set PollInterval.
func testConfig(t *testing.T, shards ...[]string) Config {
	cfg := DefaultConfig()
	cfg.Shards = shards
	cfg.Timeout = 5 * time.Second
	cfg.AttemptTimeout = time.Second
	cfg.PollInterval = time.Hour
	cfg.StatusTimeout = 500 * time.Millisecond
	cfg.RetryMin = 5 * time.Millisecond
	cfg.RetryMax = 50 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	return cfg
}

// startRouter builds and starts a Router, closed at the test's end.
func startRouter(t *testing.T, cfg Config) *Router {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(r.Close)
	return r
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// keyForShard returns a key, made from prefix, that hashes to shard s of n.
func keyForShard(prefix string, s, n int) string {
	for i := 0; ; i++ {
		k := fmt.Sprintf("%s-%d", prefix, i)
		if ShardOf(k, n) == s {
			return k
		}
	}
}
