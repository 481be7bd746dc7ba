package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/distributor/router"
)

// fakeRouter implements Router with one func field per method; a nil field
// fails the test if called, so each test states what it expects to reach
// the router.
type fakeRouter struct {
	t        *testing.T
	calls    atomic.Int64
	setFn    func(ctx context.Context, pairs map[string]string, writeID string) ([]router.Result, error)
	getFn    func(ctx context.Context, key, level string) (router.GetResult, error)
	deleteFn func(ctx context.Context, key, writeID string) (router.Result, error)
}

func (f *fakeRouter) Shards() int            { return 2 }
func (f *fakeRouter) ShardOf(key string) int { return router.ShardOf(key, 2) }

func (f *fakeRouter) Set(ctx context.Context, pairs map[string]string, writeID string) ([]router.Result, error) {
	f.calls.Add(1)
	if f.setFn == nil {
		f.t.Errorf("unexpected Set(%v)", pairs)
		return nil, errors.New("unexpected")
	}
	return f.setFn(ctx, pairs, writeID)
}

func (f *fakeRouter) Get(ctx context.Context, key, level string) (router.GetResult, error) {
	f.calls.Add(1)
	if f.getFn == nil {
		f.t.Errorf("unexpected Get(%q, %q)", key, level)
		return router.GetResult{}, errors.New("unexpected")
	}
	return f.getFn(ctx, key, level)
}

func (f *fakeRouter) Delete(ctx context.Context, key, writeID string) (router.Result, error) {
	f.calls.Add(1)
	if f.deleteFn == nil {
		f.t.Errorf("unexpected Delete(%q)", key)
		return router.Result{}, errors.New("unexpected")
	}
	return f.deleteFn(ctx, key, writeID)
}

func (f *fakeRouter) Shard(i int) router.ShardStatus {
	return router.ShardStatus{Shard: i, Leader: &router.LeaderRef{ID: fmt.Sprintf("node%d", 3*i), HTTP: "127.0.0.1:1"},
		Nodes: []router.NodeStatus{{ID: fmt.Sprintf("node%d", 3*i), HTTP: "127.0.0.1:1", Leader: true}}}
}

func (f *fakeRouter) Status() router.Status {
	return router.Status{Shards: []router.ShardStatus{f.Shard(0), f.Shard(1)}}
}

func newTestServer(t *testing.T, rt Router) *Server {
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 1024
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	return New(cfg, rt)
}

// do sends a request to h and returns the answer.
func do(t *testing.T, h http.Handler, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// decodeError checks that w is a JSON error answer and returns its body.
func decodeError(t *testing.T, w *httptest.ResponseRecorder) errorBody {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json; body %s", ct, w.Body)
	}
	var e errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Fatalf("body %q is not a JSON error: %v", w.Body, err)
	}
	return e
}

func TestBadInputIsRejectedBeforeTheRouter(t *testing.T) {
	big := `{"clave":"k","valor":"` + strings.Repeat("x", 2000) + `"}`
	tests := []struct {
		name, method, target, body string
		hdr                        []string
		status                     int
		msg                        string
	}{
		{"set: empty body", "POST", "/set", "", nil, 400, "empty"},
		{"set: not JSON", "POST", "/set", "clave=batman", nil, 400, "JSON object"},
		{"set: malformed JSON", "POST", "/set", `{"clave":"batman",`, nil, 400, "malformed"},
		{"set: array", "POST", "/set", `[{"clave":"batman"}]`, nil, 400, "JSON object"},
		{"set: trailing data", "POST", "/set", `{"clave":"a","valor":"b"} {}`, nil, 400, "after the JSON object"},
		{"set: missing clave", "POST", "/set", `{"valor":"bruce"}`, nil, 400, `"clave" is missing`},
		{"set: empty clave", "POST", "/set", `{"clave":"","valor":"bruce"}`, nil, 400, `"clave" is empty`},
		{"set: numeric clave", "POST", "/set", `{"clave":7,"valor":"bruce"}`, nil, 400, `"clave" must be a JSON string, not a number`},
		{"set: null clave", "POST", "/set", `{"clave":null,"valor":"bruce"}`, nil, 400, `"clave" must be a JSON string, not null`},
		{"set: missing valor", "POST", "/set", `{"clave":"batman"}`, nil, 400, `"valor" is missing`},
		{"set: numeric valor", "POST", "/set", `{"clave":"batman","valor":1}`, nil, 400, `"valor" must be a JSON string, not a number`},
		{"set: object valor", "POST", "/set", `{"clave":"batman","valor":{}}`, nil, 400, `not an object`},
		{"set: unknown field", "POST", "/set", `{"clave":"batman","value":"bruce"}`, nil, 400, `unknown field "value"`},
		{"set: invalid UTF-8", "POST", "/set", "{\"clave\":\"\xff\",\"valor\":\"b\"}", nil, 400, "UTF-8"},
		{"set: non-JSON whitespace", "POST", "/set", "\v{\"clave\":\"a\",\"valor\":\"b\"}", nil, 400, "JSON object"},
		{"set: trailing non-breaking space", "POST", "/set", "{\"clave\":\"a\",\"valor\":\"b\"}\u00a0", nil, 400, "after the JSON object"},
		{"set: oversized", "POST", "/set", big, nil, 413, "1024-byte limit"},
		{"set: long idempotency key", "POST", "/set", `{"clave":"a","valor":"b"}`, []string{api.HeaderWriteID, strings.Repeat("i", 129)}, 400, "Idempotency-Key"},
		{"get: empty key", "GET", "/get/", "", nil, 400, "key is empty"},
		{"get: invalid UTF-8 key", "GET", "/get/%ff", "", nil, 400, "UTF-8"},
		{"get: bad level", "GET", "/get/batman?level=strong", "", nil, 400, "unknown read level"},
		{"delete: empty key", "DELETE", "/delete/", "", nil, 400, "key is empty"},
		{"delete: long idempotency key", "DELETE", "/delete/k", "", []string{api.HeaderWriteID, strings.Repeat("i", 129)}, 400, "Idempotency-Key"},
		{"key set: empty object", "POST", "/key", `{}`, nil, 400, "no key-value pairs"},
		{"key set: non-string value", "POST", "/key", `{"a":1}`, nil, 400, `value of "a" must be a JSON string, not a number`},
		{"key set: null value", "POST", "/key", `{"a":null}`, nil, 400, `not null`},
		{"key set: invalid UTF-8", "POST", "/key", "{\"a\":\"\xff\"}", nil, 400, "UTF-8"},
		{"key set: empty key", "POST", "/key", `{"":"v"}`, nil, 400, "key is empty"},
		{"key set: not an object", "POST", "/key", `"a"`, nil, 400, "JSON object"},
		{"key set: non-JSON whitespace", "POST", "/key", "\f{\"a\":\"b\"}", nil, 400, "JSON object"},
		{"key set: oversized", "POST", "/key", big, nil, 413, "limit"},
		{"key get: empty key", "GET", "/key/", "", nil, 400, "key is empty"},
		{"key get: bad level", "GET", "/key/a?level=LINEARIZABLE", "", nil, 400, "unknown read level"},
		{"key delete: empty key", "DELETE", "/key/", "", nil, 400, "key is empty"},
		{"shard: empty key", "GET", "/shard/", "", nil, 400, "key is empty"},
		{"get: unencoded ..", "GET", "/get/../status", "", nil, 400, "not canonical"},
		{"delete: unencoded ..", "DELETE", "/delete/a/../b", "", nil, 400, "not canonical"},
		{"set: double slash", "POST", "//set", `{"clave":"a","valor":"b"}`, nil, 400, "not canonical"},
		{"set: another API's fields", "POST", "/set", `{"key":"batman","value":"bruce"}`, nil, 400,
			`unknown fields "key" and "value"; /set takes exactly {"clave":"...","valor":"..."}`},
		{"set: form-encoded", "POST", "/set", "clave=batman&valor=bruce", []string{"Content-Type", "application/x-www-form-urlencoded"}, 400,
			"looks form-encoded: send raw JSON with Content-Type: application/json"},
		{"key set: form-encoded", "POST", "/key", "batman=bruce", nil, 400, "looks form-encoded"},
		{"get: no clave", "GET", "/get", "", nil, 400, "a clave is needed in the path; use GET /get/{clave}, e.g. GET /get/batman"},
		{"delete: no clave", "DELETE", "/delete", "", nil, 400, "use DELETE /delete/{clave}"},
		{"key get: no key", "GET", "/key", "", nil, 400, "use GET /key/{key}"},
		{"key delete: no key", "DELETE", "/key", "", nil, 400, "use DELETE /key/{key}"},
		{"shard: no clave", "GET", "/shard", "", nil, 400, "use GET /shard/{clave}"},
		{"unknown path", "GET", "/nope", "", nil, 404, "no such endpoint"},
		{"wrong method on set", "GET", "/set", "", nil, 405, "allowed: POST"},
		{"wrong method on get", "POST", "/get/k", "", nil, 405, "not allowed"},
		{"wrong method on status", "DELETE", "/status", "", nil, 405, "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := &fakeRouter{t: t}
			w := do(t, newTestServer(t, rt), tt.method, tt.target, tt.body, tt.hdr...)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if e := decodeError(t, w); !strings.Contains(e.Error, tt.msg) {
				t.Fatalf("error %q does not mention %q", e.Error, tt.msg)
			}
			if rt.calls.Load() != 0 {
				t.Fatal("bad input reached the router")
			}
			if tt.status == 405 && w.Header().Get("Allow") == "" {
				t.Fatal("405 without an Allow header")
			}
		})
	}
}

func TestSetAnswersWhereTheKeyWent(t *testing.T) {
	var gotPairs map[string]string
	var gotID string
	rt := &fakeRouter{t: t, setFn: func(_ context.Context, pairs map[string]string, id string) ([]router.Result, error) {
		gotPairs, gotID = pairs, id
		return []router.Result{{Shard: 0, Node: "node1", HTTP: "127.0.0.1:11001", Index: 42}}, nil
	}}
	w := do(t, newTestServer(t, rt), "POST", "/set", `{"clave":"batman","valor":"bruce"}`, api.HeaderWriteID, "req-1")
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if !reflect.DeepEqual(gotPairs, map[string]string{"batman": "bruce"}) || gotID != "req-1" {
		t.Fatalf("Set(%v, %q)", gotPairs, gotID)
	}
	if got, want := strings.TrimSpace(w.Body.String()), `{"clave":"batman","valor":"bruce","shard":0,"node":"node1"}`; got != want {
		t.Fatalf("body %s, want %s", got, want)
	}
	if w.Header().Get(api.HeaderIndex) != "42" || w.Header().Get(api.HeaderNode) != "node1" || w.Header().Get(HeaderShard) != "0" {
		t.Fatalf("headers %v", w.Header())
	}
	// An empty value is a value.
	w = do(t, newTestServer(t, rt), "POST", "/set", `{"valor":"","clave":"batman"}`)
	if w.Code != 200 || gotPairs["batman"] != "" {
		t.Fatalf("empty valor: status %d: %s", w.Code, w.Body)
	}
}

func TestGetDefaultsToLinearizableAndPassesLevelThrough(t *testing.T) {
	var gotKey, gotLevel string
	rt := &fakeRouter{t: t, getFn: func(_ context.Context, key, level string) (router.GetResult, error) {
		gotKey, gotLevel = key, level
		return router.GetResult{Result: router.Result{Shard: 1, Node: "node4"}, Value: "v", Found: true}, nil
	}}
	s := newTestServer(t, rt)
	for _, tt := range []struct{ target, key, level string }{
		{"/get/batman", "batman", "linearizable"},
		{"/get/batman?level=none", "batman", "none"},
		{"/get/a%2Fb", "a/b", "linearizable"},
		{"/get/a/b", "a/b", "linearizable"},
		{"/get/a%20b%25", "a b%", "linearizable"},
		{"/key/batman", "batman", ""},
		{"/key/batman?level=weak", "batman", "weak"},
	} {
		w := do(t, s, "GET", tt.target, "")
		if w.Code != 200 || gotKey != tt.key || gotLevel != tt.level {
			t.Errorf("GET %s: %d, Get(%q, %q); want Get(%q, %q)", tt.target, w.Code, gotKey, gotLevel, tt.key, tt.level)
		}
	}
	w := do(t, s, "GET", "/get/a%2Fb", "")
	if got := strings.TrimSpace(w.Body.String()); got != `{"clave":"a/b","valor":"v","shard":1,"node":"node4"}` {
		t.Fatalf("body %s", got)
	}
	w = do(t, s, "GET", "/key/a%2Fb", "")
	if got := strings.TrimSpace(w.Body.String()); got != `{"a/b":"v"}` || w.Header().Get(api.HeaderFound) != "true" {
		t.Fatalf("hraftd-style body %s, found %q", got, w.Header().Get(api.HeaderFound))
	}
}

func TestMissingKey(t *testing.T) {
	rt := &fakeRouter{t: t, getFn: func(context.Context, string, string) (router.GetResult, error) {
		return router.GetResult{Result: router.Result{Shard: 0, Node: "node0"}}, nil
	}}
	s := newTestServer(t, rt)
	w := do(t, s, "GET", "/get/nadie", "")
	if w.Code != 404 {
		t.Fatalf("/get of a missing key: %d, want 404", w.Code)
	}
	if e := decodeError(t, w); e.Clave != "nadie" || e.Shard == nil || *e.Shard != 0 {
		t.Fatalf("404 body %+v", e)
	}
	// hraftd's API answers {"k":""} and says so in a header.
	w = do(t, s, "GET", "/key/nadie", "")
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"nadie":""}` || w.Header().Get(api.HeaderFound) != "false" {
		t.Fatalf("/key of a missing key: %d %s found=%q", w.Code, w.Body, w.Header().Get(api.HeaderFound))
	}
}

func TestDeletes(t *testing.T) {
	var deleted []string
	rt := &fakeRouter{t: t, deleteFn: func(_ context.Context, key, _ string) (router.Result, error) {
		deleted = append(deleted, key)
		return router.Result{Shard: 1, Node: "node3"}, nil
	}}
	s := newTestServer(t, rt)
	w := do(t, s, "DELETE", "/delete/a%2Fb", "")
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"clave":"a/b","shard":1,"node":"node3"}` {
		t.Fatalf("/delete: %d %s", w.Code, w.Body)
	}
	w = do(t, s, "DELETE", "/key/c", "")
	if w.Code != 200 || w.Body.Len() != 0 {
		t.Fatalf("/key delete: %d %q, want an empty 200", w.Code, w.Body)
	}
	if !reflect.DeepEqual(deleted, []string{"a/b", "c"}) {
		t.Fatalf("deleted %q", deleted)
	}
}

func TestKeyPostIsAnEmpty200(t *testing.T) {
	rt := &fakeRouter{t: t, setFn: func(_ context.Context, pairs map[string]string, _ string) ([]router.Result, error) {
		return []router.Result{{Shard: 0}, {Shard: 1}}, nil
	}}
	w := do(t, newTestServer(t, rt), "POST", "/key", `{"user1":"batman","user2":"robin"}`)
	if w.Code != 200 || w.Body.Len() != 0 {
		t.Fatalf("%d %q", w.Code, w.Body)
	}
}

// TestKeyPostWithASetBodyHints: {"clave":..,"valor":..} sent to POST /key
// stores the keys "clave" and "valor", which are legal keys, so the write
// succeeds; the answer says what happened and what was probably meant.
func TestKeyPostWithASetBodyHints(t *testing.T) {
	var got map[string]string
	rt := &fakeRouter{t: t, setFn: func(_ context.Context, pairs map[string]string, _ string) ([]router.Result, error) {
		got = pairs
		return []router.Result{{Shard: 0, Node: "node0"}}, nil
	}}
	s := newTestServer(t, rt)
	for _, tc := range []struct{ body, hint string }{
		{`{"clave":"batman","valor":"bruce"}`, `this stored two keys, "clave" and "valor"`},
		{`{"clave":"batman"}`, `this stored the key "clave"`},
		{`{"clave":"batman","valor":"bruce","x":"y"}`, ""},
		{`{"valor":"bruce"}`, ""},
	} {
		w := do(t, s, "POST", "/key", tc.body)
		if w.Code != 200 || len(got) == 0 {
			t.Fatalf("%s: %d %s; stored %v", tc.body, w.Code, w.Body, got)
		}
		if tc.hint == "" {
			if w.Body.Len() != 0 {
				t.Errorf("%s: body %q, want hraftd's empty 200", tc.body, w.Body)
			}
			continue
		}
		var a struct{ Hint string }
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || w.Header().Get("Content-Type") != "application/json" ||
			!strings.Contains(a.Hint, tc.hint) || !strings.Contains(a.Hint, "POST /set") {
			t.Errorf("%s: answer %q (%v), want a JSON hint saying %q and pointing at POST /set", tc.body, w.Body, err, tc.hint)
		}
	}
}

func TestPprofIsServedOnlyWhenAsked(t *testing.T) {
	if w := do(t, newTestServer(t, &fakeRouter{t: t}), "GET", "/debug/pprof/", ""); w.Code != 404 {
		t.Errorf("without Pprof: %d", w.Code)
	} else {
		decodeError(t, w)
	}
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	cfg.Pprof = true
	if w := do(t, New(cfg, &fakeRouter{t: t}), "GET", "/debug/pprof/", ""); w.Code != 200 || !strings.Contains(w.Body.String(), "goroutine") {
		t.Errorf("with Pprof: %d", w.Code)
	}
}

func TestErrorTranslation(t *testing.T) {
	zero, one := 0, 1
	shardErr := func(err error) error {
		return &router.ShardError{Shard: 1, Err: err, Nodes: []router.NodeProblem{{HTTP: "127.0.0.1:11100", Problem: "connection refused"}}}
	}
	tests := []struct {
		name       string
		err        error
		applied    []router.Result
		status     int
		retryAfter bool
		want       errorBody
	}{
		{"no leader", shardErr(router.ErrNoLeader), nil, 503, true,
			errorBody{Shard: &one, Nodes: []router.NodeProblem{{HTTP: "127.0.0.1:11100", Problem: "connection refused"}}}},
		{"timeout", shardErr(router.ErrTimeout), nil, 504, false,
			errorBody{Shard: &one, Nodes: []router.NodeProblem{{HTTP: "127.0.0.1:11100", Problem: "connection refused"}}}},
		{"closed", shardErr(router.ErrClosed), nil, 503, true,
			errorBody{Shard: &one, Nodes: []router.NodeProblem{{HTTP: "127.0.0.1:11100", Problem: "connection refused"}}}},
		{"node 413", &router.NodeError{Shard: 0, Node: "node0", Status: 413, Message: "too large"}, nil, 413, false,
			errorBody{Shard: &zero, Node: "node0"}},
		{"node 400", &router.NodeError{Shard: 0, Node: "node0", Status: 400, Message: "bad"}, nil, 400, false,
			errorBody{Shard: &zero, Node: "node0"}},
		{"node 500", &router.NodeError{Shard: 0, Node: "node0", Status: 500, Message: "boom"}, nil, 502, false,
			errorBody{Shard: &zero, Node: "node0"}},
		{"partial split write", errors.Join(shardErr(router.ErrNoLeader)), []router.Result{{Shard: 0}}, 503, true,
			errorBody{Shard: &one, Nodes: []router.NodeProblem{{HTTP: "127.0.0.1:11100", Problem: "connection refused"}}, AppliedShards: []int{0}}},
		{"unexpected", errors.New("boom"), nil, 500, false, errorBody{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := &fakeRouter{t: t, setFn: func(context.Context, map[string]string, string) ([]router.Result, error) {
				return tt.applied, tt.err
			}}
			w := do(t, newTestServer(t, rt), "POST", "/key", `{"a":"b","c":"d"}`)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			if got := w.Header().Get("Retry-After") != ""; got != tt.retryAfter {
				t.Fatalf("Retry-After present %v, want %v", got, tt.retryAfter)
			}
			got := decodeError(t, w)
			tt.want.Error = tt.err.Error()
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("body (-want +got):\n- %+v\n+ %+v", tt.want, got)
			}
		})
	}
}

func TestShardExplainsRouting(t *testing.T) {
	w := do(t, newTestServer(t, &fakeRouter{t: t}), "GET", "/shard/batman", "")
	var got shardAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	if got.Clave != "batman" || got.Hash != 0xf99adadc || got.Shard != 0 || got.Shards != 2 ||
		got.Leader == nil || got.Leader.ID != "node0" || !strings.Contains(got.Rule, "4187675356 % 2 = 0") {
		t.Fatalf("answer %+v", got)
	}
}

func TestStatusCountsAnswers(t *testing.T) {
	s := newTestServer(t, &fakeRouter{t: t})
	do(t, s, "GET", "/nope", "")
	do(t, s, "POST", "/set", "{}")
	w := do(t, s, "GET", "/status", "")
	var got statusAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	if len(got.Shards) != 2 || got.HTTP.Requests != 3 || got.HTTP.ClientErrors != 2 {
		t.Fatalf("status %+v", got)
	}
}

// TestNoLeaderEndToEnd drives the real router behind the server at nodes
// that refuse connections: the client gets a 503 naming the shard and every
// node tried, just after the deadline.
func TestNoLeaderEndToEnd(t *testing.T) {
	var dead []string
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, ln.Addr().String())
		ln.Close()
	}
	cfg := router.DefaultConfig()
	cfg.Shards = [][]string{dead}
	cfg.Timeout = 250 * time.Millisecond
	cfg.RetryMin, cfg.RetryMax = 5*time.Millisecond, 50*time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	rt, err := router.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rt.Start()
	t.Cleanup(rt.Close)
	srv := httptest.NewServer(newTestServer(t, rt))
	t.Cleanup(srv.Close)

	start := time.Now()
	resp, err := http.Post(srv.URL+"/set", "application/json", strings.NewReader(`{"clave":"batman","valor":"bruce"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if el := time.Since(start); el < cfg.Timeout {
		t.Fatalf("answered after %s, before the %s deadline", el, cfg.Timeout)
	}
	var e errorBody
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || e.Shard == nil || *e.Shard != 0 || len(e.Nodes) != 3 ||
		!strings.Contains(e.Error, "no leader") {
		t.Fatalf("%d %+v", resp.StatusCode, e)
	}
	for i, n := range e.Nodes {
		if n.HTTP != dead[i] || !strings.Contains(n.Problem, "refused") {
			t.Fatalf("node %d reported as %+v", i, n)
		}
	}
}
