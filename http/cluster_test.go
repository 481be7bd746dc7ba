package httpd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/kv"
)

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
				fs.JoinFn = func(_ context.Context, j kv.Joiner) (kv.JoinResult, error) {
					got = []string{j.ID, j.RaftAddr, j.HTTPAddr}
					return kv.JoinResult{Voter: true}, nil
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

			checkHraftdStatusFields(t, rec.Body.Bytes())
		})
	}
}

// checkHraftdStatusFields checks the field names hraftd's clients read in
// a /status body: they must not change, and followers must be an array
// even when empty.
func checkHraftdStatusFields(t *testing.T, body []byte) {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"me", "leader", "followers"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("status has no %q field: %s", k, body)
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

// A request that names another group is refused before any handler runs;
// one that names this node's group, or none, is served.
func TestRequestForAnotherGroupIsMisdirected(t *testing.T) {
	fs := newFake(t)
	fs.GroupID = "g1"
	fs.StatusFn = func() (kv.Status, error) { return kv.Status{State: "Leader", Group: "g1"}, nil }
	svc := newService(t, fs)
	for _, tc := range []struct {
		group string
		want  int
	}{{"g2", http.StatusMisdirectedRequest}, {"g1", http.StatusOK}, {"", http.StatusOK}} {
		req := httptest.NewRequest("GET", "/status", nil)
		if tc.group != "" {
			req.Header.Set(api.HeaderGroup, tc.group)
		}
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("group %q: status %d, want %d: %s", tc.group, rec.Code, tc.want, rec.Body)
		}
		if tc.want == http.StatusMisdirectedRequest {
			checkJSONError(t, rec, tc.want)
		}
	}
}
