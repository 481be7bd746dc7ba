package httpd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/httpx"
	"github.com/kvraft/hraftd/kv"
)

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
	fs.JoinFn = func(context.Context, kv.Joiner) (kv.JoinResult, error) { return kv.JoinResult{}, notLeader }
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
		httpx.WriteError(w, http.StatusServiceUnavailable, "leader is stepping down")
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
