package suite

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvraft/hraftd/bench/load"
)

func TestLevels(t *testing.T) {
	def := []int{16, 1}
	for _, tc := range []struct {
		plan []Workload
		want []int
	}{
		{[]Workload{{ID: "a"}}, []int{16, 1}},
		{[]Workload{{ID: "a"}, {ID: "b", Concurrency: []int{64, 1, 4}}}, []int{16, 1, 4, 64}},
		// No workload uses the default list: only their own.
		{[]Workload{{ID: "a", Concurrency: []int{64}}, {ID: "b", Concurrency: []int{1, 64}}}, []int{1, 64}},
	} {
		if got := levels(tc.plan, def); !slices.Equal(got, tc.want) {
			t.Errorf("levels(%v) = %v, want %v", tc.plan, got, tc.want)
		}
	}
	if !slices.Equal(def, []int{16, 1}) {
		t.Errorf("levels changed the default list to %v", def)
	}
}

// A plan whose workloads have their own concurrencies and endpoints of
// their own (one over TLS with credentials, with its own CPU sampler)
// gets one row per workload and concurrency, each with one Round per
// slice, and each endpoint's CPU from its own sampler.
func TestRunOwnConcurrencyAndEndpoints(t *testing.T) {
	var plainAuth, tlsAuth atomic.Int64 // requests with the Authorization header
	handler := func(n *atomic.Int64) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "Basic eDp5" {
				n.Add(1)
			}
		})
	}
	plain := httptest.NewServer(handler(&plainAuth))
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(handler(&tlsAuth))
	t.Cleanup(secure.Close)

	var defaultSamples, ownSamples atomic.Int64
	sampler := func(n *atomic.Int64) CPUSampler {
		// A millisecond more of CPU at every sample.
		return func() (CPUTimes, error) { return CPUTimes{CPULoad: time.Duration(n.Add(1)) * time.Millisecond}, nil }
	}
	plan := []Workload{
		{ID: "plain", Label: "plain", Target: load.TargetNode, Kind: load.WorkloadSet, Concurrency: []int{1, 2}},
		{ID: "tls", Label: "tls", Target: load.TargetNode, Kind: load.WorkloadSet, Concurrency: []int{2}, NewConnPerRequest: true},
	}
	endpoints := map[string]Endpoint{
		"plain": {URL: plain.URL},
		"tls": {URL: secure.URL, TLS: secure.Client().Transport.(*http.Transport).TLSClientConfig,
			Authorization: "Basic eDp5", CPU: sampler(&ownSamples)},
	}
	opts := Options{Duration: 100 * time.Millisecond, Warmup: 10 * time.Millisecond, Rounds: 2,
		Keys: 10, ValueSize: 10, RequestTimeout: 5 * time.Second, CPU: sampler(&defaultSamples)}
	rows := Run(context.Background(), plan, endpoints, opts)

	var got []string
	for _, r := range rows {
		got = append(got, r.ID+"@"+string(rune('0'+r.Concurrency)))
		if r.Result == nil || r.Result.OK == 0 || r.Result.ErrorCount != 0 {
			t.Fatalf("row %s c=%d: %+v (skipped %q); want successes only", r.ID, r.Concurrency, r.Result, r.Skipped)
		}
		if len(r.Rounds) != 2 || r.Rounds[0].Throughput <= 0 || r.Rounds[1].CPU <= 0 {
			t.Errorf("row %s c=%d rounds %+v; want 2 with throughput", r.ID, r.Concurrency, r.Rounds)
		}
		if r.CPU == nil {
			t.Errorf("row %s c=%d has no CPU", r.ID, r.Concurrency)
		}
	}
	if want := []string{"plain@1", "plain@2", "tls@2"}; !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	// Two samples per slice: 4 plain slices, 2 TLS ones.
	if d, o := defaultSamples.Load(), ownSamples.Load(); d != 8 || o != 4 {
		t.Errorf("default sampler called %d times, endpoint's own %d; want 8 and 4", d, o)
	}
	if plainAuth.Load() != 0 || tlsAuth.Load() == 0 {
		t.Errorf("requests with credentials: plain %d, TLS %d; want none and some", plainAuth.Load(), tlsAuth.Load())
	}
}
