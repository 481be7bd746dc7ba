package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/cluster"
)

// Via says where clients send their requests.
const (
	// ViaDistributor sends every request to the distributor's seed API
	// (/set, /get, /delete), as users do.
	ViaDistributor = "distributor"
	// ViaNodes sends every request to a random node of the key's shard
	// (/key), which serves it or forwards it to its leader. It tests the
	// nodes without the distributor, and is how the broken-read
	// experiment reaches a follower.
	ViaNodes = "nodes"
)

// Client makes key-value calls against a cluster and classifies their
// outcomes. It is safe for concurrent use.
type Client struct {
	c       *cluster.Cluster
	via     string
	level   string
	timeout time.Duration
	http    *http.Client
}

// NewClient returns a client that reaches the cluster via ViaDistributor or
// ViaNodes, reads at level, and gives each call timeout.
func NewClient(c *cluster.Cluster, via, level string, timeout time.Duration) *Client {
	return &Client{
		c: c, via: via, level: level, timeout: timeout,
		http: &http.Client{
			Transport: &http.Transport{
				Proxy:               nil,
				DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
				MaxIdleConnsPerHost: 64,
				IdleConnTimeout:     30 * time.Second,
				TLSClientConfig:     c.TLSConfig(), // nil on a plain cluster
			},
			// A 307 must not be followed silently: the call's outcome
			// is what the first server answered.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Close releases idle connections.
func (cl *Client) Close() { cl.http.CloseIdleConnections() }

// Do makes one call and classifies it, retrying as a careful client
// would: a read until it gets an answer, a write until it gets a definite
// one, every attempt of a write carrying the same Idempotency-Key so that
// the store applies it at most once however many attempts reach it. The
// call is one operation, from its first attempt to its last, and that is
// how the history records it: retries make outcomes definite, they do not
// hide anything (a write applied twice would show up in the history as a
// value coming back after being overwritten). rng picks the node in
// ViaNodes mode.
func (cl *Client) Do(ctx context.Context, in Input, rng *rand.Rand) (Output, Outcome, string) {
	return cl.do(ctx, in, rng, true)
}

// DoOnce makes one call with a single attempt, as a careless client would:
// whatever goes wrong is final, so a write that fails after it was sent is
// Unknown. Mixing such clients in keeps unknown outcomes in the history,
// which exercises how they are modelled.
func (cl *Client) DoOnce(ctx context.Context, in Input, rng *rand.Rand) (Output, Outcome, string) {
	return cl.do(ctx, in, rng, false)
}

func (cl *Client) do(ctx context.Context, in Input, rng *rand.Rand, retries bool) (Output, Outcome, string) {
	ctx, cancel := context.WithTimeout(ctx, cl.timeout)
	defer cancel()
	// Retrying clients label each write so its resends apply at most once.
	// One-shot clients send none: a single attempt needs no label, and a
	// write without one is what the distributor coalesces with others into
	// one Raft entry, so every run also checks write coalescing.
	var id string
	if in.Op != OpGet && retries {
		id = newWriteID(rng)
	}
	maybeSent := false
	backoff := 20 * time.Millisecond
	var detail string
	for attempt := 1; ; attempt++ {
		out, oc, d, retry := cl.attempt(ctx, in, id, rng)
		if !retry {
			if attempt > 1 && oc == OK {
				d += fmt.Sprintf(" (attempt %d)", attempt)
			}
			return out, oc, d
		}
		maybeSent = maybeSent || oc == Unknown
		detail = d
		if !retries || !sleepCtx(ctx, nil, backoff) {
			break
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
	if in.Op != OpGet && maybeSent {
		return Output{}, Unknown, detail
	}
	return Output{}, Failed, detail
}

// newWriteID returns a random Idempotency-Key.
func newWriteID(rng *rand.Rand) string {
	return fmt.Sprintf("chaos-%016x%016x", rng.Uint64(), rng.Uint64())
}

// attempt makes one HTTP request. retry says the answer was not definite
// and another attempt could do better; then oc is Unknown if this attempt
// may have reached a server with a write.
func (cl *Client) attempt(ctx context.Context, in Input, id string, rng *rand.Rand) (out Output, oc Outcome, detail string, retry bool) {
	method, u, body := cl.request(in, rng)
	var r io.Reader = http.NoBody
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return Output{}, Failed, err.Error(), false
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if id != "" {
		req.Header.Set(api.HeaderWriteID, id)
	}
	// Whether any byte of the request may have left must be observed, not
	// inferred from the error: net/http replays a request that carries an
	// Idempotency-Key on a fresh connection when a reused one breaks, so
	// a write that reached the server on the first connection (a
	// distributor killed after applying it) can come back as "connection
	// refused" from the replay's dial. A connection obtained is a request
	// possibly sent.
	var gotConn atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	}))
	resp, err := cl.http.Do(req)
	if err != nil {
		if in.Op != OpGet && gotConn.Load() {
			return Output{}, Unknown, errorClass(err), true
		}
		return Output{}, Failed, errorClass(err), true
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	node := resp.Header.Get(api.HeaderNode)
	retryable := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTemporaryRedirect
	switch {
	case rerr != nil && in.Op != OpGet && resp.StatusCode == http.StatusOK:
		return Output{}, OK, node, false
	case rerr != nil && in.Op == OpGet:
		return Output{}, Failed, "body: " + errorClass(rerr), true
	case rerr != nil:
		// A broken body after an error status: we cannot tell what the
		// server decided about the write.
		return Output{}, Unknown, "body: " + errorClass(rerr), true
	case in.Op != OpGet && resp.StatusCode == http.StatusOK:
		return Output{}, OK, node, false
	case in.Op != OpGet:
		// No error answer to a write proves it was not applied (a 503
		// can follow a timeout at a leader that then commits it), so
		// even a final one is Unknown.
		return Output{}, Unknown, fmt.Sprintf("%d %s", resp.StatusCode, errorText(b)), retryable
	}
	out, oc, detail = cl.readAnswer(in.Key, resp, b, node)
	return out, oc, detail, oc != OK && retryable
}

// readAnswer interprets the answer to a read.
func (cl *Client) readAnswer(key string, resp *http.Response, b []byte, node string) (Output, Outcome, string) {
	found := resp.Header.Get(api.HeaderFound)
	switch {
	case resp.StatusCode == http.StatusNotFound && found == "false" && cl.via == ViaDistributor:
		return Output{Found: false}, OK, node
	case resp.StatusCode != http.StatusOK:
		return Output{}, Failed, fmt.Sprintf("%d %s", resp.StatusCode, errorText(b))
	}
	if cl.via == ViaDistributor {
		var a struct {
			Clave string  `json:"clave"`
			Valor *string `json:"valor"`
		}
		if err := json.Unmarshal(b, &a); err != nil || a.Valor == nil || a.Clave != key {
			return Output{}, Failed, fmt.Sprintf("unreadable answer %q", b)
		}
		return Output{Value: *a.Valor, Found: true}, OK, node
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return Output{}, Failed, fmt.Sprintf("unreadable answer %q", b)
	}
	v, ok := m[key]
	if !ok || (found != "true" && found != "false") {
		return Output{}, Failed, fmt.Sprintf("answer %q lacks the key or the %s header", b, api.HeaderFound)
	}
	return Output{Value: v, Found: found == "true"}, OK, node
}

func (cl *Client) request(in Input, rng *rand.Rand) (method, u string, body []byte) {
	esc := url.PathEscape(in.Key)
	if cl.via == ViaDistributor {
		base := cl.c.Dist.URL()
		switch in.Op {
		case OpPut:
			body, _ = json.Marshal(map[string]string{"clave": in.Key, "valor": in.Value})
			return http.MethodPost, base + "/set", body
		case OpDelete:
			return http.MethodDelete, base + "/delete/" + esc, nil
		}
		return http.MethodGet, base + "/get/" + esc + "?level=" + url.QueryEscape(cl.level), nil
	}
	nodes := cl.c.Shards[shardOf(in.Key, len(cl.c.Shards))]
	base := nodes[rng.IntN(len(nodes))].URL()
	switch in.Op {
	case OpPut:
		body, _ = json.Marshal(map[string]string{in.Key: in.Value})
		return http.MethodPost, base + "/key", body
	case OpDelete:
		return http.MethodDelete, base + "/key/" + esc, nil
	}
	return http.MethodGet, base + "/key/" + esc + "?level=" + url.QueryEscape(cl.level), nil
}

// shardOf is the distributor's routing rule, fnv32a(key) % shards, written
// out again here so that the checks test the distributor against an
// independent copy rather than against itself.
func shardOf(key string, shards int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(shards))
}

// errorClass shortens a transport error to a stable category, so the
// summary can count them.
func errorClass(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "client timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed (EOF)"
	}
	return err.Error()
}

// errorText is the "error" of a JSON error body, or the start of the body.
func errorText(b []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	s := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		s = e.Error
	}
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// workload runs concurrent clients on a small key set until stop is closed,
// recording every call.
type workload struct {
	cl        *Client
	keys      []string
	clients   int
	onceRatio float64 // share of calls that write a fresh write-once key
	think     time.Duration
	seed      uint64
	// oneShot clients (the last ones) make a single attempt per call
	// (Client.DoOnce); the others retry (Client.Do).
	oneShot int

	mu      sync.Mutex
	records []Record
	once    []Record // writes of write-once keys
}

func (w *workload) run(ctx context.Context, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for id := range w.clients {
		wg.Go(func() { w.client(ctx, stop, id) })
	}
	wg.Wait()
}

func (w *workload) client(ctx context.Context, stop <-chan struct{}, id int) {
	rng := rand.New(rand.NewPCG(w.seed, uint64(id)))
	var recs, once []Record
	defer func() {
		w.mu.Lock()
		w.records = append(w.records, recs...)
		w.once = append(w.once, once...)
		w.mu.Unlock()
	}()
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		var in Input
		val := fmt.Sprintf("c%d-%d", id, seq) // unique: a read names the write it saw
		p := rng.Float64()
		switch {
		case p < w.onceRatio:
			in = Input{Op: OpPut, Key: fmt.Sprintf("once/c%d/%d", id, seq), Value: val}
		case p < 0.45:
			in = Input{Op: OpPut, Key: w.keys[rng.IntN(len(w.keys))], Value: val}
		case p < 0.55:
			in = Input{Op: OpDelete, Key: w.keys[rng.IntN(len(w.keys))]}
		default:
			in = Input{Op: OpGet, Key: w.keys[rng.IntN(len(w.keys))]}
		}
		start := time.Now()
		call := w.cl.Do
		if id >= w.clients-w.oneShot {
			call = w.cl.DoOnce
		}
		out, oc, detail := call(ctx, in, rng)
		r := Record{Client: id, Input: in, Output: out, Outcome: oc, Start: start, End: time.Now(), Detail: detail}
		if strings.HasPrefix(in.Key, "once/") {
			once = append(once, r)
		} else {
			recs = append(recs, r)
		}
		// Pace the client, and back off after a failure so that a
		// refused connection (the distributor restarting) does not
		// become a busy loop.
		d := time.Duration(rng.Int64N(int64(w.think) + 1))
		if oc != OK {
			d += 50 * time.Millisecond
		}
		if !sleepCtx(ctx, stop, d) {
			return
		}
	}
}

// sleepCtx pauses for d, or less if ctx ends or stop closes; it reports
// whether to go on.
func sleepCtx(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}
