package httpd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/kv"
)

// fakeStore is a Store whose every method calls the func field of the same
// name. A nil field means the test does not expect that call: the method
// panics, which the service turns into a 500 the test then sees.
type fakeStore struct {
	GetFn        func(ctx context.Context, key string, level kv.ReadLevel) (string, bool, uint64, error)
	GetManyFn    func(ctx context.Context, keys []string, level kv.ReadLevel) (map[string]string, uint64, error)
	SetFn        func(ctx context.Context, pairs map[string]string, writeID string) (uint64, error)
	DeleteFn     func(ctx context.Context, key, writeID string) (uint64, error)
	JoinFn       func(ctx context.Context, id, raftAddr, httpAddr string) error
	RemoveFn     func(ctx context.Context, id string) error
	StatusFn     func() (kv.Status, error)
	ReadyFn      func() error
	LeaderHTTPFn func() (id, httpAddr string)
	IDFn         func() string
}

var _ Store = (*fakeStore)(nil)

func (f *fakeStore) Get(ctx context.Context, key string, level kv.ReadLevel) (string, bool, uint64, error) {
	if f.GetFn == nil {
		panic("fakeStore: unexpected call to Get")
	}
	return f.GetFn(ctx, key, level)
}

func (f *fakeStore) GetMany(ctx context.Context, keys []string, level kv.ReadLevel) (map[string]string, uint64, error) {
	if f.GetManyFn == nil {
		panic("fakeStore: unexpected call to GetMany")
	}
	return f.GetManyFn(ctx, keys, level)
}

func (f *fakeStore) Set(ctx context.Context, pairs map[string]string, writeID string) (uint64, error) {
	if f.SetFn == nil {
		panic("fakeStore: unexpected call to Set")
	}
	return f.SetFn(ctx, pairs, writeID)
}

func (f *fakeStore) Delete(ctx context.Context, key, writeID string) (uint64, error) {
	if f.DeleteFn == nil {
		panic("fakeStore: unexpected call to Delete")
	}
	return f.DeleteFn(ctx, key, writeID)
}

func (f *fakeStore) Join(ctx context.Context, id, raftAddr, httpAddr string) error {
	if f.JoinFn == nil {
		panic("fakeStore: unexpected call to Join")
	}
	return f.JoinFn(ctx, id, raftAddr, httpAddr)
}

func (f *fakeStore) Remove(ctx context.Context, id string) error {
	if f.RemoveFn == nil {
		panic("fakeStore: unexpected call to Remove")
	}
	return f.RemoveFn(ctx, id)
}

func (f *fakeStore) Status() (kv.Status, error) {
	if f.StatusFn == nil {
		panic("fakeStore: unexpected call to Status")
	}
	return f.StatusFn()
}

func (f *fakeStore) Ready() error {
	if f.ReadyFn == nil {
		panic("fakeStore: unexpected call to Ready")
	}
	return f.ReadyFn()
}

func (f *fakeStore) LeaderHTTP() (string, string) {
	if f.LeaderHTTPFn == nil {
		panic("fakeStore: unexpected call to LeaderHTTP")
	}
	return f.LeaderHTTPFn()
}

func (f *fakeStore) ID() string {
	if f.IDFn == nil {
		panic("fakeStore: unexpected call to ID")
	}
	return f.IDFn()
}

// newFake returns a fake for node "node1" that knows no leader and fails
// the test if any write method (Set, Delete, Join, Remove) is called; tests
// replace the fields they expect to be used.
func newFake(t *testing.T) *fakeStore {
	t.Helper()
	return &fakeStore{
		SetFn: func(context.Context, map[string]string, string) (uint64, error) {
			t.Error("unexpected call to Set")
			return 0, errors.New("unexpected Set")
		},
		DeleteFn: func(context.Context, string, string) (uint64, error) {
			t.Error("unexpected call to Delete")
			return 0, errors.New("unexpected Delete")
		},
		JoinFn: func(context.Context, string, string, string) error {
			t.Error("unexpected call to Join")
			return errors.New("unexpected Join")
		},
		RemoveFn: func(context.Context, string) error {
			t.Error("unexpected call to Remove")
			return errors.New("unexpected Remove")
		},
		LeaderHTTPFn: func() (string, string) { return "", "" },
		IDFn:         func() string { return "node1" },
	}
}

// testLogger sends the service's logs to the test's output, shown only on
// failure (or with -v).
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

// newService returns a Service over fs with a small body limit, so that
// 413 is cheap to provoke; edit adjusts the config further.
func newService(t *testing.T, fs Store, edit ...func(*Config)) *Service {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 256
	cfg.RequestTimeout = 5 * time.Second
	cfg.Logger = testLogger(t)
	for _, e := range edit {
		e(&cfg)
	}
	return New(cfg, fs)
}

// serve sends one request straight to h and returns the recorded answer.
// hdr is a list of header name, value pairs.
func serve(t *testing.T, h http.Handler, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkJSONError checks that rec is a JSON error answer with this status,
// and returns the decoded body.
func checkJSONError(t *testing.T, rec *httptest.ResponseRecorder, status int) api.Error {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d; body: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var fields map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &fields); err != nil {
		t.Fatalf("error body %q is not a JSON object: %v", rec.Body, err)
	}
	if msg, ok := fields["error"].(string); !ok || msg == "" {
		t.Errorf(`error body %s has no non-empty "error" string`, rec.Body)
	}
	var e api.Error
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	return e
}

// diffMaps reports how got differs from want as "(-want +got)" lines.
func diffMaps[V comparable](want, got map[string]V) string {
	var b strings.Builder
	keys := slices.Sorted(maps.Keys(want))
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		w, inW := want[k]
		g, inG := got[k]
		switch {
		case inW && !inG:
			fmt.Fprintf(&b, "-%q: %v\n", k, w)
		case !inW && inG:
			fmt.Fprintf(&b, "+%q: %v\n", k, g)
		case w != g:
			fmt.Fprintf(&b, "-%q: %v\n+%q: %v\n", k, w, k, g)
		}
	}
	return b.String()
}

func TestSetPassesPairsAsOneWrite(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		writeID     string
		wantPairs   map[string]string
		wantWriteID string
	}{
		{"hraftd body", `{"user1": "batman"}`, "", map[string]string{"user1": "batman"}, ""},
		{"several pairs", `{"a":"1","b":"2","c":""}`, "", map[string]string{"a": "1", "b": "2", "c": ""}, ""},
		{"idempotency key", `{"a":"1"}`, "w-42", map[string]string{"a": "1"}, "w-42"},
		{"unicode", `{"café":"☕","k\u00e9y":"v\n"}`, "", map[string]string{"café": "☕", "kéy": "v\n"}, ""},
		{"surrounding whitespace", " \r\n\t{\"a\":\"1\"}\n", "", map[string]string{"a": "1"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFake(t)
			calls := 0
			var gotPairs map[string]string
			var gotID string
			fs.SetFn = func(ctx context.Context, pairs map[string]string, writeID string) (uint64, error) {
				calls++
				gotPairs, gotID = pairs, writeID
				return 42, nil
			}
			var hdr []string
			if tc.writeID != "" {
				hdr = []string{api.HeaderWriteID, tc.writeID}
			}
			rec := serve(t, newService(t, fs), "POST", "/key", tc.body, hdr...)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body: %s", rec.Code, rec.Body)
			}
			if calls != 1 {
				t.Errorf("Set called %d times, want once (all pairs in one write)", calls)
			}
			if d := diffMaps(tc.wantPairs, gotPairs); d != "" {
				t.Errorf("pairs passed to Set (-want +got):\n%s", d)
			}
			if gotID != tc.wantWriteID {
				t.Errorf("writeID = %q, want %q", gotID, tc.wantWriteID)
			}
			if got := rec.Header().Get(api.HeaderIndex); got != "42" {
				t.Errorf("%s = %q, want 42", api.HeaderIndex, got)
			}
			if got := rec.Header().Get(api.HeaderNode); got != "node1" {
				t.Errorf("%s = %q, want node1", api.HeaderNode, got)
			}
			if rec.Body.Len() != 0 {
				t.Errorf("body = %q, want empty (as hraftd)", rec.Body)
			}
		})
	}
}

func TestGetKey(t *testing.T) {
	data := map[string]string{
		"user1":      "batman",
		"a/b":        "slash",
		"a//b":       "double slash",
		"with space": "space",
		"100%":       "percent",
		"%2F":        "escaped escape",
		"café":       "unicode",
		"empty":      "",
		"q?x=1#f":    "query chars",
		" lead":      "leading space",
	}
	tests := []struct {
		target    string
		wantKey   string
		wantValue string
		wantFound bool
	}{
		{"/key/user1", "user1", "batman", true},
		{"/key/missing", "missing", "", false},
		{"/key/empty", "empty", "", true},
		{"/key/a%2Fb", "a/b", "slash", true},
		{"/key/a%2fb", "a/b", "slash", true},
		{"/key/a/b", "a/b", "slash", true},
		{"/key/a%2F%2Fb", "a//b", "double slash", true},
		{"/key/with%20space", "with space", "space", true},
		{"/key/100%25", "100%", "percent", true},
		{"/key/%252F", "%2F", "escaped escape", true},
		{"/key/caf%C3%A9", "café", "unicode", true},
		{"/key/caf\u00e9", "café", "unicode", true},
		{"/key/q%3Fx=1%23f", "q?x=1#f", "query chars", true},
		{"/key/%20lead", " lead", "leading space", true},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			fs := newFake(t)
			var gotKey string
			var gotLevel kv.ReadLevel
			fs.GetFn = func(ctx context.Context, key string, level kv.ReadLevel) (string, bool, uint64, error) {
				gotKey, gotLevel = key, level
				v, ok := data[key]
				return v, ok, 7, nil
			}
			rec := serve(t, newService(t, fs), "GET", tc.target, "")
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body: %s", rec.Code, rec.Body)
			}
			if gotKey != tc.wantKey {
				t.Errorf("store got key %q, want %q", gotKey, tc.wantKey)
			}
			if gotLevel != kv.ReadNone {
				t.Errorf("store got level %q, want %q (the default)", gotLevel, kv.ReadNone)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if d := diffMaps(map[string]string{tc.wantKey: tc.wantValue}, body); d != "" {
				t.Errorf("body (-want +got):\n%s", d)
			}
			wantHdr := map[string]string{
				api.HeaderFound: fmt.Sprint(tc.wantFound),
				api.HeaderIndex: "7",
				api.HeaderNode:  "node1",
				"Content-Type":  "application/json",
			}
			gotHdr := map[string]string{}
			for k := range wantHdr {
				gotHdr[k] = rec.Header().Get(k)
			}
			if d := diffMaps(wantHdr, gotHdr); d != "" {
				t.Errorf("headers (-want +got):\n%s", d)
			}
		})
	}
}

func TestEmptyKeyIsRefusedByTheStore(t *testing.T) {
	fs := newFake(t)
	invalid := func(key string) error {
		if key == "" {
			return fmt.Errorf("%w: key is empty", kv.ErrInvalid)
		}
		return fmt.Errorf("test expected the empty key, got %q", key)
	}
	fs.GetFn = func(_ context.Context, key string, _ kv.ReadLevel) (string, bool, uint64, error) {
		return "", false, 0, invalid(key)
	}
	fs.DeleteFn = func(_ context.Context, key, _ string) (uint64, error) { return 0, invalid(key) }
	fs.SetFn = func(_ context.Context, pairs map[string]string, _ string) (uint64, error) {
		for k := range pairs {
			if err := invalid(k); err != nil {
				return 0, err
			}
		}
		return 1, nil
	}
	svc := newService(t, fs)
	for _, tc := range []struct{ method, target, body string }{
		{"GET", "/key/", ""},
		{"DELETE", "/key/", ""},
		{"POST", "/key", `{"":"x"}`},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			checkJSONError(t, serve(t, svc, tc.method, tc.target, tc.body), http.StatusBadRequest)
		})
	}
}

// TestKeyPathWithoutKey: GET and DELETE /key name no key; they answer a
// JSON 400 rather than the mux's plain-text redirect to /key/.
func TestKeyPathWithoutKey(t *testing.T) {
	svc := newService(t, newFake(t))
	for _, method := range []string{"GET", "DELETE"} {
		t.Run(method, func(t *testing.T) {
			checkJSONError(t, serve(t, svc, method, "/key", ""), http.StatusBadRequest)
		})
	}
}

func TestGetReadLevel(t *testing.T) {
	tests := []struct {
		query     string
		wantLevel kv.ReadLevel // "" means the store must not be called
		wantCode  int
	}{
		{"", kv.ReadNone, 200},
		{"?level=", kv.ReadNone, 200},
		{"?level=none", kv.ReadNone, 200},
		{"?level=weak", kv.ReadWeak, 200},
		{"?level=linearizable", kv.ReadLinearizable, 200},
		{"?level=strong", "", 400},
		{"?level=LINEARIZABLE", "", 400},
		{"?level=weak%00", "", 400},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			fs := newFake(t)
			var got kv.ReadLevel
			fs.GetFn = func(_ context.Context, _ string, level kv.ReadLevel) (string, bool, uint64, error) {
				got = level
				return "v", true, 1, nil
			}
			rec := serve(t, newService(t, fs), "GET", "/key/k"+tc.query, "")
			if tc.wantCode != 200 {
				checkJSONError(t, rec, tc.wantCode)
			} else if rec.Code != 200 {
				t.Errorf("status = %d, want 200; body: %s", rec.Code, rec.Body)
			}
			if got != tc.wantLevel {
				t.Errorf("store got level %q, want %q", got, tc.wantLevel)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	fs := newFake(t)
	var gotKey, gotID string
	calls := 0
	fs.DeleteFn = func(_ context.Context, key, writeID string) (uint64, error) {
		calls++
		gotKey, gotID = key, writeID
		return 9, nil
	}
	rec := serve(t, newService(t, fs), "DELETE", "/key/a%2Fb", "", api.HeaderWriteID, "del-1")
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body: %s", rec.Code, rec.Body)
	}
	if calls != 1 || gotKey != "a/b" || gotID != "del-1" {
		t.Errorf("Delete called %d times with (%q, %q), want once with (%q, %q)", calls, gotKey, gotID, "a/b", "del-1")
	}
	if got := rec.Header().Get(api.HeaderIndex); got != "9" {
		t.Errorf("%s = %q, want 9", api.HeaderIndex, got)
	}
	if got := rec.Header().Get(api.HeaderNode); got != "node1" {
		t.Errorf("%s = %q, want node1", api.HeaderNode, got)
	}
}

func TestJoin(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantCode int
		want     []string // id, addr, http addr passed to Join; nil: Join must not be called
	}{
		{"hraftd body", `{"id":"node1","addr":"localhost:12001"}`, 200, []string{"node1", "localhost:12001", ""}},
		{"with http_addr", `{"id":"n2","addr":"127.0.0.1:12002","http_addr":"127.0.0.1:11002"}`, 200, []string{"n2", "127.0.0.1:12002", "127.0.0.1:11002"}},
		{"unknown fields ignored", `{"id":"n2","addr":"[::1]:12002","extra":[1,2]}`, 200, []string{"n2", "[::1]:12002", ""}},
		{"empty addr host", `{"id":"n2","addr":":12002"}`, 200, []string{"n2", ":12002", ""}},
		{"no id", `{"addr":"localhost:12001"}`, 400, nil},
		{"no addr", `{"id":"node1"}`, 400, nil},
		{"empty object", `{}`, 400, nil},
		{"null id", `{"id":null,"addr":"localhost:12001"}`, 400, nil},
		{"numeric id", `{"id":1,"addr":"localhost:12001"}`, 400, nil},
		{"addr without port", `{"id":"n","addr":"localhost"}`, 400, nil},
		{"bad http_addr", `{"id":"n","addr":"localhost:1","http_addr":"nope"}`, 400, nil},
		{"array", `[{"id":"n","addr":"localhost:1"}]`, 400, nil},
		{"malformed", `{"id":"n",`, 400, nil},
		{"trailing data", `{"id":"n","addr":"localhost:1"} {}`, 400, nil},
		{"empty body", ``, 400, nil},
		{"invalid UTF-8", "{\"id\":\"n\xff\",\"addr\":\"localhost:1\"}", 400, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFake(t)
			var got []string
			if tc.want != nil {
				fs.JoinFn = func(_ context.Context, id, raftAddr, httpAddr string) error {
					got = []string{id, raftAddr, httpAddr}
					return nil
				}
			}
			rec := serve(t, newService(t, fs), "POST", "/join", tc.body)
			if tc.wantCode != 200 {
				checkJSONError(t, rec, tc.wantCode)
				return
			}
			if rec.Code != 200 {
				t.Fatalf("status = %d, want 200; body: %s", rec.Code, rec.Body)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Join got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		storeErr error
		wantCode int
		wantID   string // "" means Remove must not be called
	}{
		{"removes", `{"id":"node2"}`, nil, 200, "node2"},
		{"unknown member", `{"id":"node9"}`, fmt.Errorf("%w: no member with id %q", kv.ErrNotFound, "node9"), 404, "node9"},
		{"no id", `{}`, nil, 400, ""},
		{"empty id", `{"id":""}`, nil, 400, ""},
		{"numeric id", `{"id":2}`, nil, 400, ""},
		{"string body", `"node2"`, nil, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFake(t)
			var got string
			if tc.wantID != "" {
				fs.RemoveFn = func(_ context.Context, id string) error {
					got = id
					return tc.storeErr
				}
			}
			rec := serve(t, newService(t, fs), "POST", "/remove", tc.body)
			if tc.wantCode != 200 {
				checkJSONError(t, rec, tc.wantCode)
			} else if rec.Code != 200 {
				t.Errorf("status = %d, want 200; body: %s", rec.Code, rec.Body)
			}
			if got != tc.wantID {
				t.Errorf("Remove got id %q, want %q", got, tc.wantID)
			}
		})
	}
}

func TestStatusShape(t *testing.T) {
	n0 := kv.Member{ID: "node0", RaftAddr: "127.0.0.1:12000", HTTPAddr: "127.0.0.1:11000", Voter: true}
	n1 := kv.Member{ID: "node1", RaftAddr: "127.0.0.1:12001", HTTPAddr: "127.0.0.1:11001", Voter: true}
	n2 := kv.Member{ID: "node2", RaftAddr: "127.0.0.1:12002", HTTPAddr: "127.0.0.1:11002", Voter: true}
	srv := func(m kv.Member) api.Server { return api.Server{ID: m.ID, Address: m.RaftAddr, HTTP: m.HTTPAddr} }
	tests := []struct {
		name string
		st   kv.Status
		want api.Status
	}{
		{
			name: "follower of a three-node group",
			st: kv.Status{
				Me: n1, Leader: n0, Members: []kv.Member{n0, n1, n2},
				State: "Follower", Term: 3, LastLogIndex: 20, CommitIndex: 19, AppliedIndex: 18,
				LastContact: 1234567 * time.Microsecond,
				Digest:      kv.Digest{AppliedIndex: 18, Keys: 5, Hash: 0xdeadbeef},
			},
			want: api.Status{
				Me: srv(n1), Leader: srv(n0), Followers: []api.Server{srv(n1), srv(n2)},
				State: "Follower", Term: 3, LastLogIndex: 20, CommitIndex: 19, AppliedIndex: 18,
				LastContact: "1.235s",
				Digest:      api.Digest{AppliedIndex: 18, Keys: 5, Hash: "deadbeef"},
			},
		},
		{
			name: "no leader known",
			st: kv.Status{
				Me: n1, Members: []kv.Member{n0, n1},
				State: "Candidate", Term: 4,
			},
			want: api.Status{
				Me: srv(n1), Followers: []api.Server{srv(n0), srv(n1)},
				State: "Candidate", Term: 4, LastContact: "0s", Digest: api.Digest{Hash: "0"},
			},
		},
		{
			name: "single-node leader",
			st:   kv.Status{Me: n0, Leader: n0, Members: []kv.Member{n0}, State: "Leader", Term: 1},
			want: api.Status{
				Me: srv(n0), Leader: srv(n0), Followers: []api.Server{},
				State: "Leader", Term: 1, LastContact: "0s", Digest: api.Digest{Hash: "0"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFake(t)
			fs.StatusFn = func() (kv.Status, error) { return tc.st, nil }
			rec := serve(t, newService(t, fs), "GET", "/status", "")
			if rec.Code != 200 {
				t.Fatalf("status = %d, want 200; body: %s", rec.Code, rec.Body)
			}
			var got api.Status
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			wantJSON, _ := json.MarshalIndent(tc.want, "", "  ")
			gotJSON, _ := json.MarshalIndent(got, "", "  ")
			if !bytes.Equal(wantJSON, gotJSON) {
				t.Errorf("status:\nwant %s\ngot  %s", wantJSON, gotJSON)
			}

			// hraftd's clients read these names; they must not change,
			// and followers must be an array even when empty.
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"me", "leader", "followers"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("status has no %q field: %s", k, rec.Body)
				}
			}
			if f := string(raw["followers"]); !strings.HasPrefix(f, "[") {
				t.Errorf("followers = %s, want a JSON array", f)
			}
			var me map[string]any
			_ = json.Unmarshal(raw["me"], &me)
			if _, ok := me["id"]; !ok {
				t.Errorf(`me has no "id": %s`, raw["me"])
			}
			if _, ok := me["address"]; !ok {
				t.Errorf(`me has no "address": %s`, raw["me"])
			}
		})
	}
}

func TestStatusError(t *testing.T) {
	fs := newFake(t)
	fs.StatusFn = func() (kv.Status, error) { return kv.Status{}, kv.ErrClosed }
	checkJSONError(t, serve(t, newService(t, fs), "GET", "/status", ""), http.StatusServiceUnavailable)
}

func TestReadyz(t *testing.T) {
	fs := newFake(t)
	var readyErr error
	fs.ReadyFn = func() error { return readyErr }
	svc := newService(t, fs)

	rec := serve(t, svc, "GET", "/readyz", "")
	if rec.Code != 200 {
		t.Errorf("ready: status = %d, want 200; body: %s", rec.Code, rec.Body)
	}

	readyErr = fmt.Errorf("catching up: applied 3 of 9 committed entries")
	rec = serve(t, svc, "GET", "/readyz", "")
	e := checkJSONError(t, rec, http.StatusServiceUnavailable)
	if !strings.Contains(e.Error, "catching up") {
		t.Errorf("error %q does not give the reason", e.Error)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 from /readyz has no Retry-After")
	}

	readyErr = kv.ErrNoLeader
	checkJSONError(t, serve(t, svc, "GET", "/readyz", ""), http.StatusServiceUnavailable)
}

// badBodies are POST bodies that must be refused with 400 before reaching
// the store.
var badBodies = []struct{ name, body string }{
	{"empty", ""},
	{"whitespace", " \n\t "},
	{"malformed", `{user1: batman}`},
	{"single quotes", `{'a':'b'}`},
	{"truncated", `{"user1": "bat`},
	{"truncated after colon", `{"user1":`},
	{"unclosed object", `{"user1":"batman"`},
	{"array", `[{"user1":"batman"}]`},
	{"empty array", `[]`},
	{"number", `42`},
	{"string", `"user1"`},
	{"null", `null`},
	{"true", `true`},
	{"empty object", `{}`},
	{"number value", `{"user1":1}`},
	{"object value", `{"user1":{"name":"batman"}}`},
	{"array value", `{"user1":["batman"]}`},
	{"null value", `{"user1":null}`},
	{"bool value", `{"user1":true}`},
	{"one bad value among good", `{"a":"1","b":2,"c":"3"}`},
	{"null value among good", `{"a":"1","b":null}`},
	{"invalid UTF-8 in value", "{\"user1\":\"bat\xffman\"}"},
	{"invalid UTF-8 in key", "{\"us\xc3er1\":\"batman\"}"},
	{"invalid UTF-8 outside strings", "{\"user1\":\"batman\"}\xff"},
	{"trailing garbage", `{"user1":"batman"} x`},
	{"trailing object", `{"user1":"batman"}{"user2":"robin"}`},
	{"trailing comma", `{"user1":"batman"},`},
	{"trailing comma inside", `{"user1":"batman",}`},
	{"byte order mark", "\ufeff{\"user1\":\"batman\"}"},
	{"non-JSON whitespace before", "\u00a0{\"user1\":\"batman\"}"},
	{"non-JSON whitespace after", "{\"user1\":\"batman\"}\u0085"},
	{"form encoded", `user1=batman`},
}

func TestBadInputNeverReachesTheStore(t *testing.T) {
	for _, tc := range badBodies {
		t.Run("key/"+tc.name, func(t *testing.T) {
			rec := serve(t, newService(t, newFake(t)), "POST", "/key", tc.body, "Content-Type", "application/json")
			checkJSONError(t, rec, http.StatusBadRequest)
		})
	}
	// /join and /remove share the object decoding; the bodies that are
	// bad for them too must also stop before the store.
	for _, path := range []string{"/join", "/remove"} {
		for _, tc := range badBodies {
			if strings.Contains(tc.name, "value") {
				continue // values that are bad for /key are ignored fields here
			}
			t.Run(strings.TrimPrefix(path, "/")+"/"+tc.name, func(t *testing.T) {
				checkJSONError(t, serve(t, newService(t, newFake(t)), "POST", path, tc.body), http.StatusBadRequest)
			})
		}
	}
}

// Paths the mux would redirect to a cleaned form get a JSON 400 instead,
// before any handler (newFake's store fails the test if it is called).
func TestNonCanonicalPathIsRefused(t *testing.T) {
	for _, tc := range []struct{ method, target string }{
		{"GET", "/key/../status"},
		{"GET", "/key/a/./b?level=none"},
		{"DELETE", "/key/seed0/../seed1"},
		{"DELETE", "/key//a"},
		{"POST", "//key"},
		{"GET", "/status/.."},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			e := checkJSONError(t, serve(t, newService(t, newFake(t)), tc.method, tc.target, `{"a":"b"}`), http.StatusBadRequest)
			if !strings.Contains(e.Error, "not canonical") || !strings.Contains(e.Error, "%2F") {
				t.Errorf("error %q does not say the path is not canonical and how to encode", e.Error)
			}
		})
	}
}

func TestBodyOverTheLimit(t *testing.T) {
	const limit = 64
	small := func(c *Config) { c.MaxBodyBytes = limit }
	atLimit := `{"k":"` + strings.Repeat("v", limit-len(`{"k":""}`)) + `"}`
	if len(atLimit) != limit {
		t.Fatalf("test bug: body is %d bytes", len(atLimit))
	}
	overLimit := `{"k":"` + strings.Repeat("v", limit) + `"}`

	t.Run("at the limit", func(t *testing.T) {
		fs := newFake(t)
		fs.SetFn = func(context.Context, map[string]string, string) (uint64, error) { return 1, nil }
		if rec := serve(t, newService(t, fs, small), "POST", "/key", atLimit); rec.Code != 200 {
			t.Errorf("status = %d, want 200; body: %s", rec.Code, rec.Body)
		}
	})
	for _, path := range []string{"/key", "/join", "/remove"} {
		t.Run(path, func(t *testing.T) {
			rec := serve(t, newService(t, newFake(t), small), "POST", path, overLimit)
			checkJSONError(t, rec, http.StatusRequestEntityTooLarge)
		})
	}
	t.Run("over a real connection", func(t *testing.T) {
		// A client streaming a huge body must be cut off with 413, not
		// have it read to the end.
		ts := httptest.NewServer(newService(t, newFake(t), small))
		t.Cleanup(ts.Close)
		resp, err := http.Post(ts.URL+"/key", "application/json", strings.NewReader(`{"k":"`+strings.Repeat("v", 1<<20)+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status = %d, want 413", resp.StatusCode)
		}
	})
}

func TestUnknownRoute(t *testing.T) {
	svc := newService(t, newFake(t))
	for _, tc := range []struct{ method, target string }{
		{"GET", "/"},
		{"GET", "/nope"},
		{"POST", "/keys"},
		{"GET", "/statusz"},
		{"GET", "/debug/faults"}, // not served without Config.Faults
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			checkJSONError(t, serve(t, svc, tc.method, tc.target, ""), http.StatusNotFound)
		})
	}
}

func TestWrongMethod(t *testing.T) {
	svc := newService(t, newFake(t))
	for _, tc := range []struct {
		method, target string
		allow          []string
	}{
		{"GET", "/join", []string{"POST"}},
		{"PUT", "/key", []string{"DELETE", "GET", "HEAD", "POST"}},
		{"PUT", "/key/k", []string{"DELETE", "GET", "HEAD"}},
		{"POST", "/key/k", []string{"DELETE", "GET", "HEAD"}},
		{"DELETE", "/status", []string{"GET", "HEAD"}},
		{"POST", "/readyz", []string{"GET", "HEAD"}},
		{"GET", "/remove", []string{"POST"}},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			rec := serve(t, svc, tc.method, tc.target, `{"a":"b"}`)
			checkJSONError(t, rec, http.StatusMethodNotAllowed)
			var got []string
			for _, m := range strings.Split(rec.Header().Get("Allow"), ",") {
				if m = strings.TrimSpace(m); m != "" {
					got = append(got, m)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.allow) {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		leaderID   string
		leaderHTTP string
		wantCode   int
		retryAfter bool
	}{
		{"no leader", kv.ErrNoLeader, "", "", 503, true},
		{"not leader, no leader known", fmt.Errorf("%w: the leader is n0", kv.ErrNotLeader), "", "", 503, true},
		{"not leader, leader address unknown", fmt.Errorf("%w: the leader is n0", kv.ErrNotLeader), "node0", "", 503, true},
		{"not leader, but the store says we lead", kv.ErrNotLeader, "node1", "127.0.0.1:1", 503, true},
		{"leadership lost", fmt.Errorf("%w: raft said so", kv.ErrLeadershipLost), "", "", 503, true},
		{"closed", kv.ErrClosed, "", "", 503, true},
		{"timeout", fmt.Errorf("waiting for commit: %w", kv.ErrTimeout), "", "", 504, false},
		{"context deadline", fmt.Errorf("apply: %w", context.DeadlineExceeded), "", "", 504, false},
		{"too large", fmt.Errorf("key of 2000 bytes is over the limit: %w", kv.ErrTooLarge), "", "", 413, false},
		{"invalid", fmt.Errorf("%w: key is empty", kv.ErrInvalid), "", "", 400, false},
		{"not found", fmt.Errorf("%w: no such thing", kv.ErrNotFound), "", "", 404, false},
		{"unexpected", errors.New("disk on fire"), "", "", 500, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFake(t)
			fs.SetFn = func(context.Context, map[string]string, string) (uint64, error) { return 0, tc.err }
			fs.LeaderHTTPFn = func() (string, string) { return tc.leaderID, tc.leaderHTTP }
			rec := serve(t, newService(t, fs), "POST", "/key", `{"a":"b"}`)
			checkJSONError(t, rec, tc.wantCode)
			if got := rec.Header().Get("Retry-After") != ""; got != tc.retryAfter {
				t.Errorf("Retry-After present = %v, want %v", got, tc.retryAfter)
			}
		})
	}
}

// TestErrorMappingOnEveryEndpoint checks that each endpoint goes through
// the one translator: a sample of errors answers the same everywhere.
func TestErrorMappingOnEveryEndpoint(t *testing.T) {
	errs := []struct {
		err  error
		code int
	}{
		{kv.ErrNoLeader, 503},
		{kv.ErrTimeout, 504},
		{kv.ErrNotFound, 404},
		{errors.New("boom"), 500},
	}
	for _, e := range errs {
		fs := newFake(t)
		fs.GetFn = func(context.Context, string, kv.ReadLevel) (string, bool, uint64, error) {
			return "", false, 0, e.err
		}
		fs.SetFn = func(context.Context, map[string]string, string) (uint64, error) { return 0, e.err }
		fs.DeleteFn = func(context.Context, string, string) (uint64, error) { return 0, e.err }
		fs.JoinFn = func(context.Context, string, string, string) error { return e.err }
		fs.RemoveFn = func(context.Context, string) error { return e.err }
		fs.StatusFn = func() (kv.Status, error) { return kv.Status{}, e.err }
		svc := newService(t, fs)
		for _, r := range []struct{ method, target, body string }{
			{"GET", "/key/k?level=linearizable", ""},
			{"POST", "/key", `{"k":"v"}`},
			{"DELETE", "/key/k", ""},
			{"POST", "/join", `{"id":"n","addr":"h:1"}`},
			{"POST", "/remove", `{"id":"n"}`},
			{"GET", "/status", ""},
		} {
			t.Run(fmt.Sprintf("%s %s/%v", r.method, r.target, e.err), func(t *testing.T) {
				checkJSONError(t, serve(t, svc, r.method, r.target, r.body), e.code)
			})
		}
	}
}

func TestRequestTimeoutAnswers504(t *testing.T) {
	fs := newFake(t)
	fs.SetFn = func(ctx context.Context, _ map[string]string, _ string) (uint64, error) {
		if _, ok := ctx.Deadline(); !ok {
			return 0, errors.New("the store got a context without a deadline")
		}
		<-ctx.Done()
		return 0, ctx.Err()
	}
	svc := newService(t, fs, func(c *Config) { c.RequestTimeout = 20 * time.Millisecond })
	checkJSONError(t, serve(t, svc, "POST", "/key", `{"a":"b"}`), http.StatusGatewayTimeout)
}

func TestPanickingStoreAnswers500AndServerLivesOn(t *testing.T) {
	fs := newFake(t)
	var calls atomic.Int32
	fs.GetFn = func(context.Context, string, kv.ReadLevel) (string, bool, uint64, error) {
		if calls.Add(1) == 1 {
			panic("corrupted map")
		}
		return "v", true, 1, nil
	}
	fs.ReadyFn = func() error { return nil }
	ts := httptest.NewServer(newService(t, fs))
	t.Cleanup(ts.Close)

	resp, err := http.Get(ts.URL + "/key/k")
	if err != nil {
		t.Fatalf("the panic dropped the connection: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rec := &httptest.ResponseRecorder{Code: resp.StatusCode, HeaderMap: resp.Header, Body: bytes.NewBuffer(body)}
	checkJSONError(t, rec, http.StatusInternalServerError)

	for _, path := range []string{"/key/k", "/readyz"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatalf("GET %s after the panic: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s after the panic: status %d, want 200", path, resp.StatusCode)
		}
	}
}

// capturedRequest is what a fake leader saw.
type capturedRequest struct {
	Method, EscapedPath, RawQuery, Body string
	Header                              http.Header
}

// fakeLeader is an httptest server standing in for the leader: it records
// every request and answers with answer.
func fakeLeader(t *testing.T, answer http.HandlerFunc) (host string, requests func() []capturedRequest) {
	t.Helper()
	var mu sync.Mutex
	var got []capturedRequest
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, capturedRequest{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b), r.Header.Clone()})
		mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String(), func() []capturedRequest {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// followerOf returns a fake for node1 whose every operation answers
// ErrNotLeader and which knows node0 leads at leaderHTTP.
func followerOf(t *testing.T, leaderHTTP string) *fakeStore {
	fs := newFake(t)
	notLeader := fmt.Errorf("%w: the leader is node0", kv.ErrNotLeader)
	fs.GetFn = func(context.Context, string, kv.ReadLevel) (string, bool, uint64, error) {
		return "", false, 0, notLeader
	}
	fs.GetManyFn = func(context.Context, []string, kv.ReadLevel) (map[string]string, uint64, error) {
		return nil, 0, notLeader
	}
	fs.SetFn = func(context.Context, map[string]string, string) (uint64, error) { return 0, notLeader }
	fs.DeleteFn = func(context.Context, string, string) (uint64, error) { return 0, notLeader }
	fs.JoinFn = func(context.Context, string, string, string) error { return notLeader }
	fs.RemoveFn = func(context.Context, string) error { return notLeader }
	fs.LeaderHTTPFn = func() (string, string) { return "node0", leaderHTTP }
	return fs
}

func TestFollowerForwardsToLeader(t *testing.T) {
	tests := []struct {
		name, method, target, body, writeID string
		wantPath, wantQuery                 string
	}{
		{"set", "POST", "/key", `{"user1":"batman"}`, "w-1", "/key", ""},
		{"set without write ID", "POST", "/key", `{"a":"1","b":"2"}`, "", "/key", ""},
		{"delete", "DELETE", "/key/a%2Fb", "", "w-2", "/key/a%2Fb", ""},
		{"weak read", "GET", "/key/a%2Fb?level=weak", "", "", "/key/a%2Fb", "level=weak"},
		{"linearizable read", "GET", "/key/100%25?level=linearizable", "", "", "/key/100%25", "level=linearizable"},
		{"join", "POST", "/join", `{"id":"node3","addr":"127.0.0.1:12003"}`, "", "/join", ""},
		{"remove", "POST", "/remove", `{"id":"node2"}`, "", "/remove", ""},
		{"batched read", "POST", "/read", `{"keys":["a","b"],"level":"linearizable"}`, "", "/read", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leader, requests := fakeLeader(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set(api.HeaderNode, "node0")
				w.Header().Set(api.HeaderIndex, "77")
				w.Header().Set(api.HeaderFound, "true")
				w.WriteHeader(http.StatusOK)
				io.WriteString(w, `{"from":"leader"}`)
			})
			svc := newService(t, followerOf(t, leader))
			hdr := []string{"Content-Type", "application/json"}
			if tc.writeID != "" {
				hdr = append(hdr, api.HeaderWriteID, tc.writeID)
			}
			rec := serve(t, svc, tc.method, tc.target, tc.body, hdr...)

			if rec.Code != 200 || rec.Body.String() != `{"from":"leader"}` {
				t.Errorf("answer = %d %q, want the leader's 200 {\"from\":\"leader\"}", rec.Code, rec.Body)
			}
			for h, want := range map[string]string{api.HeaderNode: "node0", api.HeaderIndex: "77", api.HeaderFound: "true"} {
				if got := rec.Header().Get(h); got != want {
					t.Errorf("relayed %s = %q, want %q", h, got, want)
				}
			}
			got := requests()
			if len(got) != 1 {
				t.Fatalf("leader got %d requests, want 1", len(got))
			}
			r := got[0]
			want := map[string]string{
				"method": tc.method, "path": tc.wantPath, "query": tc.wantQuery, "body": tc.body,
				"forwarded": "node1", "write id": tc.writeID,
			}
			gotFields := map[string]string{
				"method": r.Method, "path": r.EscapedPath, "query": r.RawQuery, "body": r.Body,
				"forwarded": r.Header.Get(api.HeaderForwarded), "write id": r.Header.Get(api.HeaderWriteID),
			}
			if d := diffMaps(want, gotFields); d != "" {
				t.Errorf("request the leader received (-want +got):\n%s", d)
			}
		})
	}
}

func TestForwardRelaysLeaderErrors(t *testing.T) {
	leader, _ := fakeLeader(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3")
		writeJSONError(w, http.StatusServiceUnavailable, "leader is stepping down", "")
	})
	rec := serve(t, newService(t, followerOf(t, leader)), "POST", "/key", `{"a":"b"}`)
	e := checkJSONError(t, rec, http.StatusServiceUnavailable)
	if e.Error != "leader is stepping down" {
		t.Errorf("error = %q, want the leader's", e.Error)
	}
	if got := rec.Header().Get("Retry-After"); got != "3" {
		t.Errorf("Retry-After = %q, want the leader's 3", got)
	}
}

func TestForwardToUnreachableLeader(t *testing.T) {
	leader, _ := fakeLeader(t, func(http.ResponseWriter, *http.Request) {})
	fs := followerOf(t, leader)
	// Close the leader: nothing listens on its address any more.
	closed := httptest.NewServer(http.NotFoundHandler())
	addr := closed.Listener.Addr().String()
	closed.Close()
	fs.LeaderHTTPFn = func() (string, string) { return "node0", addr }

	rec := serve(t, newService(t, fs), "POST", "/key", `{"a":"b"}`)
	e := checkJSONError(t, rec, http.StatusServiceUnavailable)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if e.Leader != addr {
		t.Errorf("leader = %q, want %q", e.Leader, addr)
	}
}

func TestRedirectInsteadOfForward(t *testing.T) {
	tests := []struct{ method, target, body, wantLocation string }{
		{"POST", "/key?redirect", `{"user1":"batman"}`, "/key?redirect"},
		{"GET", "/key/a%2Fb?redirect&level=weak", "", "/key/a%2Fb?redirect&level=weak"},
		{"DELETE", "/key/k?redirect=1", "", "/key/k?redirect=1"},
		{"POST", "/join?redirect", `{"id":"n","addr":"h:1"}`, "/join?redirect"},
		{"POST", "/remove?redirect", `{"id":"n"}`, "/remove?redirect"},
		{"POST", "/read?redirect", `{"keys":["a"],"level":"weak"}`, "/read?redirect"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			leader, requests := fakeLeader(t, func(http.ResponseWriter, *http.Request) {})
			rec := serve(t, newService(t, followerOf(t, leader)), tc.method, tc.target, tc.body)
			// 307, never 301: clients turn a redirected POST into a GET.
			e := checkJSONError(t, rec, http.StatusTemporaryRedirect)
			if got, want := rec.Header().Get("Location"), "http://"+leader+tc.wantLocation; got != want {
				t.Errorf("Location = %q, want %q", got, want)
			}
			if e.Leader != leader {
				t.Errorf("leader in body = %q, want %q", e.Leader, leader)
			}
			if n := len(requests()); n != 0 {
				t.Errorf("leader got %d requests; a redirect must not forward", n)
			}
		})
	}
}

func TestForwardedRequestIsNeverForwardedAgain(t *testing.T) {
	leader, requests := fakeLeader(t, func(w http.ResponseWriter, r *http.Request) {})
	svc := newService(t, followerOf(t, leader))
	for _, tc := range []struct{ method, target, body string }{
		{"POST", "/key", `{"a":"b"}`},
		{"GET", "/key/a?level=weak", ""},
		{"DELETE", "/key/a", ""},
	} {
		t.Run(tc.method, func(t *testing.T) {
			rec := serve(t, svc, tc.method, tc.target, tc.body, api.HeaderForwarded, "node2")
			checkJSONError(t, rec, http.StatusServiceUnavailable)
			if rec.Header().Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
		})
	}
	if n := len(requests()); n != 0 {
		t.Errorf("leader got %d requests, want none (forwarding at most once)", n)
	}
}

// TestForwardBetweenServices runs a follower's Service in front of a
// leader's Service, each over its own fake store, so that what one
// encodes the other must decode: the key, the pairs and the write ID.
func TestForwardBetweenServices(t *testing.T) {
	leaderStore := newFake(t)
	leaderStore.IDFn = func() string { return "node0" }
	leaderStore.LeaderHTTPFn = func() (string, string) { return "node0", "" }
	var mu sync.Mutex
	var got []string
	record := func(s ...string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, strings.Join(s, " "))
	}
	leaderStore.SetFn = func(_ context.Context, pairs map[string]string, writeID string) (uint64, error) {
		b, _ := json.Marshal(pairs)
		record("set", string(b), writeID)
		return 5, nil
	}
	leaderStore.GetFn = func(_ context.Context, key string, level kv.ReadLevel) (string, bool, uint64, error) {
		record("get", key, string(level))
		return "value of " + key, true, 5, nil
	}
	leaderStore.DeleteFn = func(_ context.Context, key, writeID string) (uint64, error) {
		record("delete", key, writeID)
		return 6, nil
	}
	ls := httptest.NewServer(newService(t, leaderStore))
	t.Cleanup(ls.Close)
	fs := httptest.NewServer(newService(t, followerOf(t, ls.Listener.Addr().String())))
	t.Cleanup(fs.Close)

	do := func(method, path, body, writeID string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, fs.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if writeID != "" {
			req.Header.Set(api.HeaderWriteID, writeID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		if n := resp.Header.Get(api.HeaderNode); n != "node0" {
			t.Errorf("%s %s: served by %q, want node0", method, path, n)
		}
		return resp
	}
	do("POST", "/key", `{"a/b":"x y","c":"%"}`, "id-1")
	resp := do("GET", "/key/a%2Fb%20c?level=weak", "", "")
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if d := diffMaps(map[string]string{"a/b c": "value of a/b c"}, body); d != "" {
		t.Errorf("relayed read (-want +got):\n%s", d)
	}
	do("DELETE", "/key/%25", "", "id-2")

	want := []string{
		`set {"a/b":"x y","c":"%"} id-1`,
		"get a/b c weak",
		"delete % id-2",
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Errorf("leader store calls:\nwant %q\ngot  %q", want, got)
	}
}

// TestServiceStartAndClose covers the listening lifecycle: Start on a free
// port, serve, Close, and refuse afterwards.
func TestServiceStartAndClose(t *testing.T) {
	fs := newFake(t)
	fs.ReadyFn = func() error { return nil }
	svc := newService(t, fs, func(c *Config) { c.Addr = "127.0.0.1:0" })
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	url := "http://" + svc.Addr().String() + "/readyz"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := svc.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := client.Get(url); err == nil {
		resp.Body.Close()
		t.Error("the service still answers after Close")
	}

	// Another service on an address in use fails to start, with an error.
	first := newService(t, fs, func(c *Config) { c.Addr = "127.0.0.1:0" })
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Close(context.Background()) })
	second := newService(t, fs, func(c *Config) { c.Addr = first.Addr().String() })
	if err := second.Start(); err == nil {
		t.Error("Start on an address in use succeeded")
		_ = second.Close(context.Background())
	}
}

type observedRequest struct {
	route string
	code  int
}

type recordingObserver struct{ got []observedRequest }

func (o *recordingObserver) ObserveRequest(route string, code int, _ time.Duration) {
	o.got = append(o.got, observedRequest{route, code})
}

func TestObserverAndMetricsRoute(t *testing.T) {
	obs := &recordingObserver{}
	cfg := DefaultConfig()
	cfg.Observer = obs
	cfg.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "metrics here") })
	svc := New(cfg, &fakeStore{
		ReadyFn: func() error { return nil },
	})
	for _, path := range []string{"/metrics", "/readyz", "/nope"} {
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if path == "/metrics" && rec.Body.String() != "metrics here" {
			t.Errorf("/metrics served %q", rec.Body.String())
		}
	}
	want := []observedRequest{{"GET /metrics", 200}, {"GET /readyz", 200}, {"unmatched", 404}}
	if diff := cmpObserved(want, obs.got); diff != "" {
		t.Error(diff)
	}
}

func cmpObserved(want, got []observedRequest) string {
	if len(want) != len(got) {
		return fmt.Sprintf("observed %v, want %v", got, want)
	}
	for i := range want {
		if want[i] != got[i] {
			return fmt.Sprintf("observed %v, want %v", got, want)
		}
	}
	return ""
}
