package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWrkSummaryResult(t *testing.T) {
	q := make([]string, wrkQuantiles)
	for i := range q {
		q[i] = fmt.Sprint(100 + i) // 100..1099 µs
	}
	out := "Running 1s test\n  2 threads\nHRAFTD-BENCH {\"requests\":1010,\"duration_us\":2000000,\"status_errors\":10," +
		"\"connect_errors\":0,\"read_errors\":1,\"write_errors\":0,\"timeout_errors\":2,\"mean_us\":600.5," +
		"\"quantiles_us\":[" + strings.Join(q, ",") + "]}\n"
	s, err := parseWrkOutput([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	r := s.result(Result{Errors: map[string]uint64{}})
	if r.OK != 1000 || r.ErrorCount != 13 || r.Errors["HTTP status >= 400"] != 10 || r.Errors["timeout"] != 2 {
		t.Errorf("counts: ok %d, errors %d %v", r.OK, r.ErrorCount, r.Errors)
	}
	if r.Throughput != 500 || r.Elapsed != 2*time.Second {
		t.Errorf("throughput %v over %v, want 500/s over 2s", r.Throughput, r.Elapsed)
	}
	// p50 is the 500th quantile point, 599 µs, within the histogram's
	// bucket width.
	if p := r.Latency.P50; p < 590*time.Microsecond || p > 610*time.Microsecond {
		t.Errorf("p50 = %v, want ~599µs", p)
	}
	if r.Latency.Mean != 600500*time.Nanosecond {
		t.Errorf("mean = %v, want wrk's 600.5µs", r.Latency.Mean)
	}
	if _, err := parseWrkOutput([]byte("wrk: connection refused\n")); err == nil {
		t.Error("output without a result line parsed")
	}
}

// TestWrkEngine runs the real wrk against a fake node: writes go to new
// keys with the raw engine's bodies, reads to preloaded keys at the level
// asked. CI installs wrk (scripts/ci-deps.sh); elsewhere the test says it
// cannot run.
func TestWrkEngine(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("wrk is not installed, and CI is set: run scripts/ci-deps.sh (apt-get install wrk)")
		}
		t.Skip("wrk is not installed (apt-get install wrk, or scripts/ci-deps.sh); skipping the wrk engine test")
	}
	var mu sync.Mutex
	keys := map[string]bool{}
	var reads, badReads int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "POST" && r.URL.Path == "/key":
			var m map[string]string
			b, _ := io.ReadAll(r.Body)
			if json.Unmarshal(b, &m) != nil || len(m) != 1 {
				http.Error(w, "bad body", 400)
				return
			}
			mu.Lock()
			for k, v := range m {
				if keys[k] || len(v) != 100 {
					mu.Unlock()
					http.Error(w, "key written twice or wrong value", 409)
					return
				}
				keys[k] = true
			}
			mu.Unlock()
		case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/key/rd-k"):
			mu.Lock()
			reads++
			if r.URL.RawQuery != "level=none" {
				badReads++
			}
			mu.Unlock()
			w.Header().Set("X-Key-Found", "true")
		default:
			http.Error(w, "unexpected "+r.Method+" "+r.URL.String(), 404)
			return
		}
		_, _ = io.WriteString(w, "{}")
	}))
	defer srv.Close()

	cfg := DefaultConfig()
	cfg.URL, cfg.Engine, cfg.Concurrency, cfg.Duration = srv.URL, EngineWrk, 2, time.Second
	cfg.Prefix = "wr"
	measuring := false
	cfg.MeasureStart = func() { measuring = true }
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !measuring || res.OK == 0 || res.ErrorCount != 0 || res.Latency.P50 <= 0 || res.Throughput <= 0 {
		t.Fatalf("set run: measure started %v, %+v", measuring, res)
	}
	if uint64(len(keys)) < res.OK {
		t.Errorf("%d distinct keys written for %d successful writes", len(keys), res.OK)
	}

	cfg.Workload, cfg.Level, cfg.Prefix, cfg.Keys = WorkloadGet, "none", "rd", 100
	res, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK == 0 || res.ErrorCount != 0 || reads == 0 || badReads != 0 {
		t.Fatalf("get run: %d reads, %d without level=none; %+v", reads, badReads, res)
	}
}
