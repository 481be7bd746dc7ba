package hostile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/internal/cluster"
)

func TestMain(m *testing.M) { cluster.Main(m) }

// request is one raw HTTP/1.1 request.
type request struct {
	method string
	path   string // sent as is: no escaping, no cleaning
	body   []byte
	header map[string]string
	// host, if set, is the Host header sent instead of addr.
	host string
	// declared, if larger than len(body), is the Content-Length sent: the
	// body is cut short and the write side closed.
	declared int
}

// do sends r to addr over a fresh connection and reads the answer.
func do(addr string, r request) (*http.Response, []byte, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	var b bytes.Buffer
	host := addr
	if r.host != "" {
		host = r.host
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", r.method, r.path, host)
	n := len(r.body)
	if r.declared > n {
		n = r.declared
	}
	if r.body != nil || n > 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", n)
	}
	for k, v := range r.header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	b.Write(r.body)
	// Write while reading: a server may answer (413) before it has read
	// a large body, and then stop reading it.
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(b.Bytes())
		if err == nil && r.declared > len(r.body) {
			err = conn.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer: %w (write: %v)", err, <-werr)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}

// hostileCase is one request and what must come back.
type hostileCase struct {
	name   string
	target string // "leader" or "follower" of shard 0, or "dist"
	req    request
	// want is the exact status expected. For a 4xx the body must be JSON
	// with a non-empty "error". cleaned (-1) is for unnormalised paths:
	// see cleanedOK.
	want int
	// key, for a read of a strange but valid key, is the key the answer
	// must be about: the path named a key, not another endpoint.
	key string
}

func jsonBody(s string) []byte { return []byte(s) }

// cleaned marks a request whose path has unencoded dot segments or double
// slashes. Go's ServeMux would answer those with an HTML redirect to the
// cleaned path; the node and the distributor refuse them before routing
// with a JSON 400 (internal/cleanpath), so the request is never served as
// written: nothing is read, written or deleted. cleanedOK checks the
// answer; the state is checked as for every case.
const cleaned = -1

// cases are the hostile requests; a long table, one line per case.
func cases(c *cluster.Cluster) []hostileCase {
	huge := strings.Repeat("k", 2000)                        // over the 1024-byte key limit
	overBody := bytes.Repeat([]byte("x"), 1<<20+1)           // over the 1 MiB body limit
	bigValue := `{"k":"` + strings.Repeat("v", 1<<20) + `"}` // a value that makes the body too large
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	deepValue := `{"k":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`
	node1 := c.Shards[0][1]
	dupJoin, _ := json.Marshal(api.JoinRequest{ID: node1.ID, Addr: node1.Raft, HTTPAddr: node1.HTTP})
	longID := strings.Repeat("i", 200)

	post := func(path, body string) request { return request{method: "POST", path: path, body: []byte(body)} }
	get := func(path string) request { return request{method: "GET", path: path} }

	cs := []hostileCase{
		// Node: POST /key bodies.
		{"malformed JSON", "leader", post("/key", `{"a":}`), 400, ""},
		{"truncated JSON", "leader", post("/key", `{"a":"b"`), 400, ""},
		{"body shorter than its Content-Length", "leader", request{method: "POST", path: "/key", body: jsonBody(`{"a":"b"}`), declared: 100}, 400, ""},
		{"array instead of object", "leader", post("/key", `["a","b"]`), 400, ""},
		{"number instead of object", "leader", post("/key", `42`), 400, ""},
		{"string instead of object", "leader", post("/key", `"a"`), 400, ""},
		{"null body", "leader", post("/key", `null`), 400, ""},
		{"number value", "leader", post("/key", `{"a":1}`), 400, ""},
		{"object value", "leader", post("/key", `{"a":{"b":"c"}}`), 400, ""},
		{"null value", "leader", post("/key", `{"a":null}`), 400, ""},
		{"boolean value", "leader", post("/key", `{"a":true}`), 400, ""},
		{"empty object", "leader", post("/key", `{}`), 400, ""},
		{"empty body", "leader", post("/key", ``), 400, ""},
		{"whitespace body", "leader", post("/key", " \n\t "), 400, ""},
		{"empty key", "leader", post("/key", `{"":"v"}`), 400, ""},
		{"key over the limit", "leader", post("/key", `{"`+huge+`":"v"}`), 413, ""},
		{"body over the limit", "leader", request{method: "POST", path: "/key", body: overBody}, 413, ""},
		{"value making the body too large", "leader", post("/key", bigValue), 413, ""},
		{"invalid UTF-8 value", "leader", post("/key", "{\"a\":\"\xff\xfe\"}"), 400, ""},
		{"invalid UTF-8 key", "leader", post("/key", "{\"\xc3\x28\":\"v\"}"), 400, ""},
		{"lone surrogate in a key", "leader", post("/key", `{"a\ud800":"v"}`), 400, ""},
		{"byte order mark", "leader", post("/key", "\xef\xbb\xbf{\"a\":\"b\"}"), 400, ""},
		{"trailing garbage", "leader", post("/key", `{"a":"b"} x`), 400, ""},
		{"two objects", "leader", post("/key", `{"a":"b"}{"c":"d"}`), 400, ""},
		{"deeply nested array", "leader", post("/key", deep), 400, ""},
		{"deeply nested value", "leader", post("/key", deepValue), 400, ""},
		{"Idempotency-Key over 128 bytes", "leader", request{method: "POST", path: "/key", body: jsonBody(`{"a":"b"}`), header: map[string]string{api.HeaderWriteID: longID}}, 400, ""},
		{"bad JSON to a follower is not forwarded", "follower", post("/key", `{"a":`), 400, ""},
		{"non-string value to a follower", "follower", post("/key", `{"a":[1]}`), 400, ""},

		// Node: keys in the path.
		{"invalid UTF-8 key in path", "leader", get("/key/%ff"), 400, ""},
		{"invalid UTF-8 key in path on a follower", "follower", get("/key/%c3%28?level=linearizable"), 400, ""},
		{"key over the limit in path", "leader", get("/key/" + huge), 413, ""},
		{"empty key in path", "leader", get("/key/"), 400, ""},
		{"delete of an empty key", "leader", request{method: "DELETE", path: "/key/"}, 400, ""},
		{"delete of an invalid UTF-8 key", "leader", request{method: "DELETE", path: "/key/%80"}, 400, ""},
		{"unknown read level", "leader", get("/key/a?level=bogus"), 400, ""},
		{"unknown read level on a follower", "follower", get("/key/a?level=strong"), 400, ""},
		{"encoded ../ reads a key, not /status", "leader", get("/key/..%2F..%2Fstatus"), 200, "../../status"},
		{"encoded .. reads the key ..", "leader", get("/key/%2E%2E"), 200, ".."},
		{"encoded / reads a key with a slash", "leader", get("/key/a%2Fb"), 200, "a/b"},
		{"encoded query string is part of the key", "leader", get("/key/a%3Fb%3Dc"), 200, "a?b=c"},
		{"encoded NUL byte is a key", "leader", get("/key/%00"), 200, "\x00"},
		{"unencoded ../ does not reach /status", "leader", get("/key/../status"), cleaned, ""},
		{"unencoded ../ in a delete deletes nothing", "leader", request{method: "DELETE", path: "/key/seed0/../seed1"}, cleaned, ""},
		{"double slash in a delete deletes nothing", "leader", request{method: "DELETE", path: "/key//seed0"}, cleaned, ""},

		// Node: methods and routes.
		{"PUT /key", "leader", request{method: "PUT", path: "/key", body: jsonBody(`{"a":"b"}`)}, 405, ""},
		{"PATCH a key", "leader", request{method: "PATCH", path: "/key/a", body: jsonBody(`{}`)}, 405, ""},
		{"GET /join", "leader", get("/join"), 405, ""},
		{"POST /status", "leader", post("/status", `{}`), 405, ""},
		{"DELETE /status", "leader", request{method: "DELETE", path: "/status"}, 405, ""},
		{"unknown endpoint", "leader", get("/admin"), 404, ""},
		{"made-up method", "leader", request{method: "BREW", path: "/key/a"}, 405, ""},

		// Node: membership.
		{"garbage /join", "leader", post("/join", `garbage`), 400, ""},
		{"empty /join", "leader", post("/join", `{}`), 400, ""},
		{"/join without addr", "leader", post("/join", `{"id":"x"}`), 400, ""},
		{"/join with a bad addr", "leader", post("/join", `{"id":"x","addr":"not-a-host-port"}`), 400, ""},
		{"/join with a bad http_addr", "leader", post("/join", `{"id":"x","addr":"127.0.0.1:1","http_addr":"nope"}`), 400, ""},
		{"/join with numbers", "leader", post("/join", `{"id":1,"addr":2}`), 400, ""},
		{"/join with an array", "leader", post("/join", `[{"id":"x","addr":"127.0.0.1:1"}]`), 400, ""},
		{"garbage /join to a follower", "follower", post("/join", `{"id":`), 400, ""},
		// hraftd's rule: a join from an existing member with the same ID
		// and address changes nothing; it answers 200 (the end-of-test
		// digest check proves nothing changed).
		{"duplicate /join of a member", "leader", request{method: "POST", path: "/join", body: dupJoin}, 200, ""},
		{"duplicate /join of a member again", "follower", request{method: "POST", path: "/join", body: dupJoin}, 200, ""},
		{"garbage /remove", "leader", post("/remove", `]`), 400, ""},
		{"empty /remove", "leader", post("/remove", `{}`), 400, ""},
		{"/remove with a number", "leader", post("/remove", `{"id":7}`), 400, ""},
		{"/remove of a non-member", "leader", post("/remove", `{"id":"ghost"}`), 404, ""},
		{"duplicate /remove of a non-member", "leader", post("/remove", `{"id":"ghost"}`), 404, ""},
		{"/remove of a non-member via a follower", "follower", post("/remove", `{"id":"ghost"}`), 404, ""},
		{"garbage fault injection", "leader", post("/debug/faults", `{"block":`), 400, ""},
		{"fault injection with an empty peer", "leader", post("/debug/faults", `{"block":[""]}`), 400, ""},

		// Distributor: the seed's API.
		{"dist: malformed JSON", "dist", post("/set", `{"clave":}`), 400, ""},
		{"dist: truncated JSON", "dist", post("/set", `{"clave":"a","valor":"b"`), 400, ""},
		{"dist: body shorter than its Content-Length", "dist", request{method: "POST", path: "/set", body: jsonBody(`{"clave":"a"`), declared: 64}, 400, ""},
		{"dist: array", "dist", post("/set", `[{"clave":"a","valor":"b"}]`), 400, ""},
		{"dist: number", "dist", post("/set", `7`), 400, ""},
		{"dist: number clave", "dist", post("/set", `{"clave":1,"valor":"b"}`), 400, ""},
		{"dist: number valor", "dist", post("/set", `{"clave":"a","valor":1}`), 400, ""},
		{"dist: null valor", "dist", post("/set", `{"clave":"a","valor":null}`), 400, ""},
		{"dist: object valor", "dist", post("/set", `{"clave":"a","valor":{}}`), 400, ""},
		{"dist: missing valor", "dist", post("/set", `{"clave":"a"}`), 400, ""},
		{"dist: missing clave", "dist", post("/set", `{"valor":"b"}`), 400, ""},
		{"dist: empty clave", "dist", post("/set", `{"clave":"","valor":"b"}`), 400, ""},
		{"dist: unknown field", "dist", post("/set", `{"clave":"a","valor":"b","extra":1}`), 400, ""},
		{"dist: empty body", "dist", post("/set", ``), 400, ""},
		{"dist: invalid UTF-8 clave", "dist", post("/set", "{\"clave\":\"\xff\",\"valor\":\"b\"}"), 400, ""},
		{"dist: invalid UTF-8 valor", "dist", post("/set", "{\"clave\":\"a\",\"valor\":\"\xc0\xaf\"}"), 400, ""},
		{"dist: lone surrogate in clave", "dist", post("/set", `{"clave":"a\udc00","valor":"b"}`), 400, ""},
		{"dist: clave over the node's limit", "dist", post("/set", `{"clave":"`+huge+`","valor":"b"}`), 413, ""},
		{"dist: body over the limit", "dist", request{method: "POST", path: "/set", body: overBody}, 413, ""},
		{"dist: Idempotency-Key over 128 bytes", "dist", request{method: "POST", path: "/set", body: jsonBody(`{"clave":"a","valor":"b"}`), header: map[string]string{api.HeaderWriteID: longID}}, 400, ""},
		{"dist: hraftd API, bad JSON", "dist", post("/key", `{"a":1}`), 400, ""},
		{"dist: invalid UTF-8 clave in path", "dist", get("/get/%ff"), 400, ""},
		{"dist: empty clave in path", "dist", get("/get/"), 400, ""},
		{"dist: clave over the limit in path", "dist", get("/get/" + huge), 413, ""},
		{"dist: unknown read level", "dist", get("/get/a?level=bogus"), 400, ""},
		{"dist: delete of an invalid UTF-8 clave", "dist", request{method: "DELETE", path: "/delete/%ff"}, 400, ""},
		{"dist: encoded ../ reads a key, not /status", "dist", get("/get/..%2F..%2Fstatus"), 404, "../../status"},
		{"dist: encoded .. reads the key ..", "dist", get("/get/%2E%2E"), 404, ".."},
		{"dist: encoded query string is part of the key", "dist", get("/get/a%3Fb%3Dc"), 404, "a?b=c"},
		{"dist: unencoded ../ does not reach /status", "dist", get("/get/../status"), cleaned, ""},
		{"dist: unencoded ../ in a delete deletes nothing", "dist", request{method: "DELETE", path: "/delete/seed0/../seed1"}, cleaned, ""},
		{"dist: GET /set", "dist", get("/set"), 405, ""},
		{"dist: PUT /set", "dist", request{method: "PUT", path: "/set", body: jsonBody(`{"clave":"a","valor":"b"}`)}, 405, ""},
		{"dist: POST /get", "dist", post("/get/a", `{}`), 405, ""},
		{"dist: unknown endpoint", "dist", get("/admin"), 404, ""},
	}
	return cs
}

// TestHostileInput sends every case to the real processes and checks the
// answers, that every process stays up, and that no node's state changed.
func TestHostileInput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg := cluster.DefaultConfig()
	cfg.NodeArgs = []string{"-fault-injection"} // for the /debug/faults cases
	c := cluster.NewTest(t, cfg).Cluster

	seed(ctx, t, c)
	t.Run("distributor round trip of odd keys", func(t *testing.T) { roundTripOddKeys(ctx, t, c) })
	before := digests(ctx, t, c)
	terms := termsOf(ctx, t, c)

	leader := c.Leader(ctx, 0)
	var follower *cluster.Node
	for _, n := range c.Shards[0] {
		if n != leader {
			follower = n
			break
		}
	}
	cs := cases(c)
	if len(cs) < 30 {
		t.Fatalf("only %d cases; want at least 30", len(cs))
	}
	for _, tc := range cs {
		t.Run(tc.name, func(t *testing.T) {
			addr := map[string]string{"leader": leader.HTTP, "follower": follower.HTTP, "dist": c.Dist.Addr}[tc.target]
			resp, body, err := do(addr, tc.req)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.req.method, short(tc.req.path), err)
			}
			if tc.want == cleaned {
				cleanedOK(t, tc, resp, body)
				checkAlive(ctx, t, c, addr)
				return
			}
			if resp.StatusCode != tc.want {
				t.Errorf("%s %s: status %d, want %d; body %s", tc.req.method, short(tc.req.path), resp.StatusCode, tc.want, short(string(body)))
			}
			if resp.StatusCode >= 400 {
				var e struct {
					Error string `json:"error"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Errorf("%d answer is not a JSON error: %q", resp.StatusCode, short(string(body)))
				}
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type %q, want application/json", ct)
				}
			}
			if tc.key != "" {
				checkKeyAnswer(t, tc, body)
			}
			checkAlive(ctx, t, c, addr)
		})
	}

	checkUnchanged(ctx, t, c, before, terms)
}

// checkUnchanged fails the test if a node's state changed since before,
// or anything reached a log without a new term to explain it.
func checkUnchanged(ctx context.Context, t *testing.T, c *cluster.Cluster, before map[string]api.Digest, terms map[string]uint64) {
	t.Helper()
	after := digests(ctx, t, c)
	changedTerm := false
	for id, term := range termsOf(ctx, t, c) {
		changedTerm = changedTerm || term != terms[id]
	}
	for id, d := range before {
		a := after[id]
		if a.Keys != d.Keys || a.Hash != d.Hash {
			t.Errorf("%s: state changed: before %+v, after %+v", id, d, a)
		}
		// A new term commits an entry of its own (which moves the
		// applied index without touching the map); otherwise nothing
		// may have reached the log.
		if a.AppliedIndex != d.AppliedIndex && !changedTerm {
			t.Errorf("%s: applied index moved from %d to %d: something reached the log", id, d.AppliedIndex, a.AppliedIndex)
		}
	}
}

// seed writes some state to protect: a few keys in each shard, written on
// the leaders directly.
func seed(ctx context.Context, t *testing.T, c *cluster.Cluster) {
	t.Helper()
	for s := range c.Shards {
		leader := c.Leader(ctx, s)
		if leader == nil {
			t.Fatalf("shard %d has no leader", s)
		}
		pairs := map[string]string{}
		for i := 0; len(pairs) < 5; i++ {
			if k := fmt.Sprintf("seed%d", i); router.ShardOf(k, len(c.Shards)) == s {
				pairs[k] = "value-" + k
			}
		}
		body, _ := json.Marshal(pairs)
		resp, b, err := do(leader.HTTP, request{method: "POST", path: "/key", body: body})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("seeding shard %d: %v %v %s", s, err, resp, b)
		}
	}
}

// roundTripOddKeys checks that keys that need escaping round-trip through
// the distributor (the escaping a client does, url.PathEscape, plus %2E
// for the dot segments "." and "..", which PathEscape leaves alone). ".."
// itself is left for the hostile cases to read as a missing key.
func roundTripOddKeys(ctx context.Context, t *testing.T, c *cluster.Cluster) {
	for _, k := range []string{"a/b", "café", "100%", "sp ace", ".", "q?x=1&y", "#frag", "seed-dist"} {
		body, _ := json.Marshal(map[string]string{"clave": k, "valor": "v-" + k})
		code, b, err := c.Do(ctx, "POST", c.Dist.URL()+"/set", body)
		if err != nil || code != 200 {
			t.Errorf("set %q: %d %v %s", k, code, err, b)
			continue
		}
		esc := url.PathEscape(k)
		if k == "." {
			esc = "%2E"
		}
		code, b, err = c.Do(ctx, "GET", c.Dist.URL()+"/get/"+esc, nil)
		var a struct {
			Clave, Valor string
		}
		if err != nil || code != 200 || json.Unmarshal(b, &a) != nil || a.Clave != k || a.Valor != "v-"+k {
			t.Errorf("get %q after set: %d %v %s", k, code, err, b)
		}
	}
}

// cleanedOK checks the answer to an unnormalised path: a JSON 400 that
// says the path is not canonical (net/http's mux would have redirected to
// the cleaned path; the node and the distributor refuse it as bad input).
func cleanedOK(t *testing.T, tc hostileCase, resp *http.Response, body []byte) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "not canonical") {
		t.Errorf("%s %s: status %d, body %s; want a JSON 400 saying the path is not canonical",
			tc.req.method, tc.req.path, resp.StatusCode, short(string(body)))
	}
}

// checkKeyAnswer checks that a read of a strange key answered about that
// key: the node's {"key":""} or the distributor's 404 naming the clave.
func checkKeyAnswer(t *testing.T, tc hostileCase, body []byte) {
	t.Helper()
	if tc.target == "dist" {
		var a struct {
			Clave string `json:"clave"`
		}
		if err := json.Unmarshal(body, &a); err != nil || a.Clave != tc.key {
			t.Errorf("answer %s is not about the key %q", short(string(body)), tc.key)
		}
		return
	}
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil || len(m) != 1 {
		t.Errorf("answer %s is not {key: value}", short(string(body)))
		return
	}
	if _, ok := m[tc.key]; !ok {
		t.Errorf("answer %s is not about the key %q", short(string(body)), tc.key)
	}
}

// checkAlive fails the test if any process has exited or the target no
// longer answers /status.
func checkAlive(ctx context.Context, t *testing.T, c *cluster.Cluster, addr string) {
	t.Helper()
	for _, p := range c.Procs() {
		if !p.Running() {
			t.Fatalf("%s is down (%v); see %s", p.Name(), p.ExitErr(), p.LogPath())
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	code, _, err := c.Do(sctx, "GET", "http://"+addr+"/status", nil)
	if err != nil || code != 200 {
		t.Fatalf("%s /status after the request: %d %v", addr, code, err)
	}
}

// digests waits until each shard's nodes have applied the same index and
// returns every node's digest.
func digests(ctx context.Context, t *testing.T, c *cluster.Cluster) map[string]api.Digest {
	t.Helper()
	out := map[string]api.Digest{}
	for s := range c.Shards {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := c.WaitConverged(cctx, s)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range c.Shards[s] {
			st, err := c.Status(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			out[n.ID] = st.Digest
		}
	}
	return out
}

func termsOf(ctx context.Context, t *testing.T, c *cluster.Cluster) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, n := range c.Nodes() {
		st, err := c.Status(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		out[n.ID] = st.Term
	}
	return out
}

func short(s string) string {
	if len(s) > 120 {
		return s[:120] + "…(" + strconv.Itoa(len(s)) + " bytes)"
	}
	return s
}
