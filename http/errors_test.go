package httpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvraft/hraftd/kv"
)

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
			e := checkJSONError(t, serve(t, svc, tc.method, tc.target, ""), http.StatusNotFound)
			if !strings.Contains(e.Error, "a node serves POST /key, GET /key/{k}") {
				t.Errorf("the 404 does not list the node's endpoints: %q", e.Error)
			}
		})
	}
}

// TestDistributorAPIOnANode: the distributor's endpoints sent to a node
// answer a 404 that names the distributor and the node's equivalent.
func TestDistributorAPIOnANode(t *testing.T) {
	svc := newService(t, newFake(t))
	for _, tc := range []struct{ method, target, body, instead string }{
		{"POST", "/set", `{"clave":"batman","valor":"bruce"}`, `POST /key with a body of key-value pairs, e.g. {"batman":"bruce"}`},
		{"GET", "/get/batman", "", "GET /key/batman"},
		{"GET", "/get/a%2Fb", "", "GET /key/a%2Fb"},
		{"DELETE", "/delete/batman", "", "DELETE /key/batman"},
		{"GET", "/get", "", "GET /key/{key}"},
		{"DELETE", "/delete/", "", "DELETE /key/{key}"},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			e := checkJSONError(t, serve(t, svc, tc.method, tc.target, tc.body), http.StatusNotFound)
			for _, want := range []string{"distributor's API", ":8080", "a node's equivalent is " + tc.instead} {
				if !strings.Contains(e.Error, want) {
					t.Errorf("error %q lacks %q", e.Error, want)
				}
			}
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
		{"damaged", fmt.Errorf("%w: raft log (index 7, term 2): checksum mismatch", kv.ErrDamaged), "node1", "127.0.0.1:1", 503, true},
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
		{kv.ErrDamaged, 503},
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
		fs.JoinFn = func(context.Context, kv.Joiner) (kv.JoinResult, error) { return kv.JoinResult{}, e.err }
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
