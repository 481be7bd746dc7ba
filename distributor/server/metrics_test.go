package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/distributor/watch"
	"github.com/prometheus/client_golang/prometheus"
)

// scriptedViews is a watch.Source whose status the test sets.
type scriptedViews struct {
	mu sync.Mutex
	v  router.Status
}

func (s *scriptedViews) Status() router.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v
}

func (s *scriptedViews) set(v router.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.v = v
}

// twoShards is a view of two shards of three nodes at time now; leaders[s]
// is the index (0-2) of shard s's leader, -1 for none, and down lists nodes
// (by global index 0-5) that do not answer. Every node last answered at
// seen.
func twoShards(now, seen time.Time, leaders [2]int, down ...int) router.Status {
	v := router.Status{Time: now, Poll: "1s"}
	for s := range 2 {
		sv := router.ShardStatus{Shard: s}
		for i := range 3 {
			k := 3*s + i
			id := "node" + strconv.Itoa(k)
			n := router.NodeStatus{ID: id, HTTP: "127.0.0.1:" + strconv.Itoa(11000+100*s+i),
				Reachable: true, State: "Follower", Term: 2, CommitIndex: 10, AppliedIndex: 10, Keys: 5}
			for _, d := range down {
				if d == k {
					n.Reachable, n.State, n.Problem = false, "", "connection refused"
				}
			}
			last := seen
			n.LastSeen = &last
			if leaders[s] == i {
				n.Leader, n.State = true, "Leader"
				sv.Leader = &router.LeaderRef{ID: id, HTTP: n.HTTP}
			}
			sv.Nodes = append(sv.Nodes, n)
		}
		v.Shards = append(v.Shards, sv)
	}
	return v
}

// newObservedServer is a Server over rt with a watcher of views the test
// drives by hand (it is never started: the test calls Sample).
func newObservedServer(t *testing.T, rt Router) (*Server, *scriptedViews, *watch.Watcher) {
	t.Helper()
	views := &scriptedViews{}
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	w := watch.New(views, watch.Config{Logger: logger})
	cfg := DefaultConfig()
	cfg.Logger = logger
	cfg.Observer = w
	return New(cfg, rt), views, w
}

// scrape GETs /metrics and returns the exposition text.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	w := do(t, h, "GET", "/metrics", "")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	return w.Body.String()
}

// sample returns the value of the series written exactly as series (name
// and labels, labels in alphabetical order, as client_golang writes them),
// and whether it is present.
func sample(text, series string) (float64, bool) {
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

func mustSample(t *testing.T, text, series string) float64 {
	t.Helper()
	v, ok := sample(text, series)
	if !ok {
		t.Fatalf("series %s missing from /metrics", series)
	}
	return v
}

func TestMetricsCountRequestsForwardsAndFailovers(t *testing.T) {
	rt := &fakeRouter{t: t,
		setFn: func(context.Context, map[string]string, string) ([]router.Result, error) {
			return []router.Result{{Shard: 1, Node: "node3"}}, nil
		},
		getFn: func(context.Context, string, string) (router.GetResult, error) {
			return router.GetResult{}, &router.ShardError{Shard: 0, Err: router.ErrNoLeader}
		},
	}
	s, views, w := newObservedServer(t, rt)
	t0 := time.Now()
	views.set(twoShards(t0, t0, [2]int{0, 0}))
	w.Sample()

	before := scrape(t, s)
	// Every metric family the issue asks for is there from the start
	// (the vectors once they have a first observation).
	for _, name := range []string{
		"hraftd_distributor_router_sets_total", "hraftd_distributor_router_gets_total",
		"hraftd_distributor_router_retries_total", "hraftd_distributor_router_leader_changes_total",
		"hraftd_distributor_router_refreshes_total", "hraftd_distributor_router_failed_total",
		`hraftd_distributor_shard_has_leader{shard="0"}`, `hraftd_distributor_node_up{node="node4",shard="1"}`,
		`hraftd_distributor_node_foreign{node="node4",shard="1"}`,
		`hraftd_distributor_node_damaged{node="node4",shard="1"}`,
		"go_goroutines",
	} {
		mustSample(t, before, name)
	}

	if c := do(t, s, "POST", "/set", `{"clave":"a","valor":"b"}`).Code; c != 200 {
		t.Fatalf("set: %d", c)
	}
	if c := do(t, s, "GET", "/get/a", "").Code; c != 503 {
		t.Fatalf("get: %d", c)
	}
	do(t, s, "GET", "/nope/x", "")

	// Shard 0 loses node0 (it last answered at t0+1s), then elects node1,
	// learned at t0+2.5s: one failover, a 1.5 s discovery.
	views.set(twoShards(t0.Add(1200*time.Millisecond), t0.Add(time.Second), [2]int{-1, 0}, 0))
	w.Sample()
	views.set(twoShards(t0.Add(2500*time.Millisecond), t0.Add(time.Second), [2]int{1, 0}, 0))
	w.Sample()

	after := scrape(t, s)
	for series, want := range map[string]float64{
		`hraftd_distributor_http_requests_total{code="200",route="POST /set"}`:                1,
		`hraftd_distributor_http_requests_total{code="503",route="GET /get/{clave...}"}`:      1,
		`hraftd_distributor_http_requests_total{code="404",route="unmatched"}`:                1,
		`hraftd_distributor_http_request_duration_seconds_count{route="POST /set"}`:           1,
		`hraftd_distributor_forwards_total{op="set",result="ok",shard="1"}`:                   1,
		`hraftd_distributor_forwards_total{op="get",result="error",shard="0"}`:                1,
		`hraftd_distributor_failovers_total{shard="0"}`:                                       1,
		`hraftd_distributor_node_down_total{node="node0",shard="0"}`:                          1,
		`hraftd_distributor_leader_discovery_seconds_count{shard="0"}`:                        1,
		`hraftd_distributor_leader_discovery_seconds_sum{shard="0"}`:                          1.5,
		`hraftd_distributor_leader_discovery_seconds_bucket{shard="0",le="1"}`:                0,
		`hraftd_distributor_leader_discovery_seconds_bucket{shard="0",le="2"}`:                1,
		`hraftd_distributor_node_up{node="node0",shard="0"}`:                                  0,
		`hraftd_distributor_shard_has_leader{shard="1"}`:                                      1,
		`hraftd_distributor_http_requests_total{code="200",route="GET /metrics"}`:             1,
		`hraftd_distributor_http_request_duration_seconds_count{route="GET /get/{clave...}"}`: 1,
	} {
		if got := mustSample(t, after, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// TestRouterCountersAreReadAtScrapeTime checks that the router's counters
// are exported as they are when scraped, under stable names.
func TestRouterCountersAreReadAtScrapeTime(t *testing.T) {
	rt := &countingRouter{fakeRouter: fakeRouter{t: t}}
	s := newTestServer(t, rt)
	rt.c = router.Counters{Sets: 3, Retries: 2, LeaderChanges: 1}
	text := scrape(t, s)
	rt.c.Sets = 10
	text2 := scrape(t, s)
	if mustSample(t, text, "hraftd_distributor_router_sets_total") != 3 || mustSample(t, text2, "hraftd_distributor_router_sets_total") != 10 {
		t.Errorf("sets did not follow the router:\n%s", text2)
	}
	if mustSample(t, text2, "hraftd_distributor_router_leader_changes_total") != 1 {
		t.Error("leader changes not exported")
	}
	if len(routerMetrics) < 8 {
		t.Errorf("only %d router counters exported", len(routerMetrics))
	}
}

type countingRouter struct {
	fakeRouter
	c router.Counters
}

func (r *countingRouter) Status() router.Status {
	st := r.fakeRouter.Status()
	st.Counters = r.c
	return st
}

// TestBatchStatisticsAreExported checks that write-coalescing statistics in
// the router's counters, when it has them, come out as counters, a gauge
// and a histogram. The counters are filled from JSON so that the test does
// not depend on the Go field names.
func TestBatchStatisticsAreExported(t *testing.T) {
	if _, ok := reflect.TypeFor[router.Counters]().FieldByName("Batches"); !ok {
		t.Skip("the router has no write coalescing statistics")
	}
	rt := &countingRouter{fakeRouter: fakeRouter{t: t}}
	if err := json.Unmarshal([]byte(`{"sets":9,"batches":4,"batched_writes":9,"coalesced_writes":7,"batch_size_max":4,
		"batch_sizes":[{"le":1,"count":2},{"le":2,"count":2},{"le":4,"count":4},{"le":0,"count":4}]}`), &rt.c); err != nil {
		t.Fatal(err)
	}
	text := scrape(t, newTestServer(t, rt))
	for series, want := range map[string]float64{
		"hraftd_distributor_router_batches_total":          4,
		"hraftd_distributor_router_batched_writes_total":   9,
		"hraftd_distributor_router_coalesced_writes_total": 7,
		"hraftd_distributor_router_batch_size_max":         4,
		`hraftd_distributor_batch_size_bucket{le="1"}`:     2,
		`hraftd_distributor_batch_size_bucket{le="4"}`:     4,
		`hraftd_distributor_batch_size_bucket{le="+Inf"}`:  4,
		"hraftd_distributor_batch_size_sum":                9,
		"hraftd_distributor_batch_size_count":              4,
	} {
		if got := mustSample(t, text, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if strings.Contains(text, "batch_size_max_total") {
		t.Error("batch_size_max is a level, not a counter")
	}
}

// TestEveryRouterCounterIsExported: the explicit metric list reads every
// numeric field of router.Counters, each once, so a counter added to the
// router without a metric fails here rather than going unexported.
func TestEveryRouterCounterIsExported(t *testing.T) {
	var c router.Counters
	v := reflect.ValueOf(&c).Elem()
	want := map[uint64]string{}
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Uint64 {
			f.SetUint(uint64(i + 1))
			want[uint64(i+1)] = v.Type().Field(i).Name
		}
	}
	for _, m := range routerMetrics {
		got := m.read(&c)
		if _, ok := want[got]; !ok {
			t.Errorf("metric %s reads no field, or one already read (%d)", m.name, got)
		}
		delete(want, got)
		if strings.HasSuffix(m.name, "_total") != (m.kind == prometheus.CounterValue) {
			t.Errorf("metric %s: a counter must end in _total, a gauge must not", m.name)
		}
	}
	for _, name := range want {
		t.Errorf("router.Counters.%s has no metric", name)
	}
}
