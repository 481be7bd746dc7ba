package load

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/kv"
)

// fakeNode is a node's API in miniature: it checks every request's shape
// and remembers every written key, so the test can tell that writes went
// to distinct keys.
type fakeNode struct {
	t       *testing.T
	mu      sync.Mutex
	written map[string]int
	// readStatus and found answer GET /key/{k}.
	readStatus int
	found      string
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/key":
		var pairs map[string]string
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &pairs); err != nil || len(pairs) != 1 {
			f.t.Errorf("POST /key body %q: want one JSON pair (err %v)", body, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		for k := range pairs {
			f.written[k]++
		}
		f.mu.Unlock()
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/key/"):
		if got := r.URL.Query().Get("level"); got != "linearizable" {
			f.t.Errorf("GET level = %q, want linearizable", got)
		}
		w.Header().Set(api.HeaderFound, f.found)
		w.WriteHeader(f.readStatus)
		_, _ = io.WriteString(w, `{"error":"fake says no"}`)
	default:
		f.t.Errorf("unexpected %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusNotFound)
	}
}

// run is a short run against a fake. The assertions that follow are on
// counts and shapes, never on how fast anything went.
func runAgainst(t *testing.T, h http.Handler, engine Engine, workload Workload) Result {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := DefaultConfig()
	cfg.URL, cfg.Engine, cfg.Workload = srv.URL, engine, workload
	cfg.Concurrency, cfg.Duration, cfg.Keys, cfg.Level = 4, 100*time.Millisecond, 50, string(kv.ReadLinearizable)
	cfg.Warmup = 20 * time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func TestRunWritesDistinctKeys(t *testing.T) {
	for _, engine := range []Engine{EngineRaw, EngineNetHTTP} {
		t.Run(string(engine), func(t *testing.T) {
			f := &fakeNode{t: t, written: map[string]int{}}
			res := runAgainst(t, f, engine, WorkloadSet)
			if res.OK == 0 || res.ErrorCount != 0 {
				t.Fatalf("ok=%d errors=%v first=%q; want successes and no errors", res.OK, res.Errors, res.FirstError)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			for k, n := range f.written {
				if n != 1 {
					t.Errorf("key %q written %d times; every write should get a new key", k, n)
				}
			}
			// Warmup requests are sent but not counted, so the server
			// saw at least as many writes as the result reports.
			if uint64(len(f.written)) < res.OK {
				t.Errorf("server saw %d keys, result counts %d successes", len(f.written), res.OK)
			}
			if res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.P999 || res.Latency.P999 > res.Latency.Max {
				t.Errorf("percentiles out of order: %+v", res.Latency)
			}
		})
	}
}

func TestRunCountsMissesAndErrors(t *testing.T) {
	for _, engine := range []Engine{EngineRaw, EngineNetHTTP} {
		t.Run(string(engine), func(t *testing.T) {
			miss := runAgainst(t, &fakeNode{t: t, readStatus: 200, found: "false"}, engine, WorkloadGet)
			if miss.OK == 0 || miss.Misses != miss.OK || miss.ErrorCount != 0 {
				t.Errorf("missing keys: ok=%d misses=%d errors=%d; want every success a miss", miss.OK, miss.Misses, miss.ErrorCount)
			}
			fail := runAgainst(t, &fakeNode{t: t, readStatus: 503, found: ""}, engine, WorkloadGet)
			if fail.OK != 0 || fail.ErrorCount == 0 || fail.Errors["HTTP 503"] != fail.ErrorCount {
				t.Errorf("503s: ok=%d errors=%v; want only HTTP 503 errors", fail.OK, fail.Errors)
			}
			if !strings.Contains(fail.FirstError, "fake says no") || !strings.Contains(fail.FirstError, "/key/") {
				t.Errorf("first error %q should carry the request and the server's reason", fail.FirstError)
			}
			if fail.Throughput != 0 {
				t.Errorf("throughput %v counts errors; it should count successes only", fail.Throughput)
			}
		})
	}
}

func TestRunInterrupted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers: only cancellation ends the run
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	cfg := DefaultConfig()
	cfg.Target, cfg.URL, cfg.Concurrency, cfg.Duration = TargetHello, srv.URL, 2, time.Hour
	done := make(chan Result)
	go func() {
		res, err := Run(ctx, cfg)
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		done <- res
	}()
	cancel()
	res := <-done
	if !res.Interrupted || res.ErrorCount != 0 {
		t.Errorf("interrupted=%v errors=%v; want interrupted and requests cut short not counted as errors", res.Interrupted, res.Errors)
	}
}

func TestProgressLine(t *testing.T) {
	start := time.Unix(1000, 0)
	got := progressLine(start.Add(3*time.Second), start, start.Add(time.Second), start.Add(6*time.Second), 1200, 3, 450.4)
	want := "[===============>              ]  3.0s/6.0s  1200 ok  3 err  450 req/s"
	if got != want {
		t.Errorf("progressLine =\n%q, want\n%q", got, want)
	}
	if got := progressLine(start.Add(500*time.Millisecond), start, start.Add(time.Second), start.Add(6*time.Second), 0, 0, 0); !strings.Contains(got, "warmup") {
		t.Errorf("progress during warmup = %q, want it to say warmup", got)
	}
}
