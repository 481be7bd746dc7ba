package load

import (
	"testing"
	"time"

	"github.com/kvraft/hraftd/bench/hist"
)

func resultOf(elapsed time.Duration, ok uint64, errs map[string]uint64, lat ...time.Duration) Result {
	h := &hist.Histogram{}
	for _, d := range lat {
		h.Record(d)
	}
	r := Result{Elapsed: elapsed, OK: ok, Errors: errs, hist: h, Latency: latencyOf(h)}
	for _, n := range errs {
		r.ErrorCount += n
	}
	r.Throughput = float64(ok) / elapsed.Seconds()
	return r
}

func TestResultMerge(t *testing.T) {
	a := resultOf(time.Second, 100, map[string]uint64{"HTTP 503": 1}, time.Millisecond, 2*time.Millisecond)
	a.FirstError = "first"
	b := resultOf(3*time.Second, 500, map[string]uint64{"HTTP 503": 2, "timeout": 1}, 10*time.Millisecond, 20*time.Millisecond)
	b.FirstError = "second"
	a.Merge(b)
	if a.Elapsed != 4*time.Second || a.OK != 600 || a.ErrorCount != 4 {
		t.Fatalf("merged elapsed %v, ok %d, errors %d", a.Elapsed, a.OK, a.ErrorCount)
	}
	if a.Throughput != 150 { // 600 over 4 s, not the mean of 100/s and 166/s
		t.Errorf("throughput = %v, want 150", a.Throughput)
	}
	if a.Errors["HTTP 503"] != 3 || a.Errors["timeout"] != 1 {
		t.Errorf("errors = %v", a.Errors)
	}
	if a.FirstError != "first" {
		t.Errorf("first error = %q", a.FirstError)
	}
	// Latencies are both runs' together: the max is b's, the min a's.
	if a.Latency.Min > time.Millisecond+time.Millisecond/10 || a.Latency.Max < 19*time.Millisecond {
		t.Errorf("latency after merge = %+v", a.Latency)
	}
}

// A zero Result (the first slice of a row) takes the other's numbers.
func TestResultMergeIntoEmpty(t *testing.T) {
	var a Result
	a.Merge(resultOf(2*time.Second, 10, nil, 5*time.Millisecond))
	if a.OK != 10 || a.Throughput != 5 || a.Latency.P50 == 0 {
		t.Errorf("merged into empty: %+v", a)
	}
}
