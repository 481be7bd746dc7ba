package suite

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestCPUOver(t *testing.T) {
	before := CPUTimes{CPULoad: 1 * time.Second, CPULeaders: 2 * time.Second, CPUFollowers: 0, "gone": time.Second}
	after := CPUTimes{CPULoad: 1500 * time.Millisecond, CPULeaders: 2400 * time.Millisecond, CPUFollowers: 100 * time.Millisecond,
		CPUHello: time.Second} // hello appeared mid-window: no difference to take
	u := cpuOver(before, after, 2*time.Second, 10_000, 2)
	wantUsed := map[string]time.Duration{CPULoad: 500 * time.Millisecond, CPULeaders: 400 * time.Millisecond, CPUFollowers: 100 * time.Millisecond}
	if len(u.Used) != len(wantUsed) {
		t.Errorf("Used = %v, want %v", u.Used, wantUsed)
	}
	for g, d := range wantUsed {
		if u.Used[g] != d {
			t.Errorf("Used[%s] = %v, want %v", g, u.Used[g], d)
		}
	}
	if u.Total != time.Second {
		t.Errorf("Total = %v, want 1s", u.Total)
	}
	// 500 ms over 10 000 requests is 50 µs each.
	for g, want := range map[string]float64{CPULoad: 50, CPULeaders: 40, CPUFollowers: 10} {
		if !near(u.PerRequest[g], want) {
			t.Errorf("PerRequest[%s] = %v, want %v", g, u.PerRequest[g], want)
		}
	}
	if !near(u.TotalPerRequest, 100) {
		t.Errorf("TotalPerRequest = %v, want 100", u.TotalPerRequest)
	}
	// 1 s of CPU in 2 s on 2 CPUs: a quarter of the box.
	if !near(u.BusyPercent, 25) {
		t.Errorf("BusyPercent = %v, want 25", u.BusyPercent)
	}
}

func TestCPUOverNoRequests(t *testing.T) {
	u := cpuOver(CPUTimes{CPULoad: 0}, CPUTimes{CPULoad: time.Second}, time.Second, 0, 2)
	if u.PerRequest != nil || u.TotalPerRequest != 0 {
		t.Errorf("with no successful request: PerRequest %v, TotalPerRequest %v; want none", u.PerRequest, u.TotalPerRequest)
	}
	if !near(u.BusyPercent, 50) || u.Total != time.Second {
		t.Errorf("Total %v, BusyPercent %v; want 1s and 50 even without requests", u.Total, u.BusyPercent)
	}
	if u := cpuOver(CPUTimes{}, CPUTimes{}, 0, 5, 0); u.BusyPercent != 0 {
		t.Errorf("BusyPercent with no window and no CPUs = %v, want 0", u.BusyPercent)
	}
}

func TestCPUOverClampsBackwards(t *testing.T) {
	u := cpuOver(CPUTimes{CPULoad: 2 * time.Second}, CPUTimes{CPULoad: time.Second}, time.Second, 1, 1)
	if u.Used[CPULoad] != 0 || u.Total != 0 {
		t.Errorf("a counter that went backwards gave Used %v, Total %v; want 0", u.Used, u.Total)
	}
}

func TestPerRequestMicros(t *testing.T) {
	if v, ok := perRequestMicros(time.Millisecond, 4); !ok || !near(v, 250) {
		t.Errorf("1ms over 4 requests = %v, %v; want 250, true", v, ok)
	}
	if v, ok := perRequestMicros(time.Second, 0); ok || v != 0 {
		t.Errorf("over 0 requests = %v, %v; want 0, false", v, ok)
	}
}

func TestCPUWindowWithoutSampler(t *testing.T) {
	var w *cpuWindow = newCPUWindow(nil)
	if w.measureStart() != nil {
		t.Error("a window without a sampler hands out a MeasureStart")
	}
	if u, err := w.finish(1, 1); u != nil || err != nil {
		t.Errorf("finish without a sampler = %v, %v; want nil, nil", u, err)
	}
}

func TestCPUWindowEndedInWarmup(t *testing.T) {
	called := false
	w := newCPUWindow(func() (CPUTimes, error) { called = true; return CPUTimes{}, nil })
	if u, err := w.finish(1, 1); u != nil || !errors.Is(err, errNoWindow) {
		t.Errorf("finish during the warmup = %v, %v; want nil, errNoWindow", u, err)
	}
	w.begin() // too late: must not sample any more
	if called {
		t.Error("the sampler ran although the window never began")
	}
}

// The window runs from MeasureStart to finish: the CPU used before it is
// not counted.
func TestCPUWindowFromMeasureStart(t *testing.T) {
	var now time.Duration
	w := newCPUWindow(func() (CPUTimes, error) { return CPUTimes{CPULoad: now}, nil })
	now = time.Second // the warmup's CPU
	w.measureStart()()
	now += 300 * time.Millisecond
	u, err := w.finish(100, 2)
	if err != nil || u == nil || u.Used[CPULoad] != 300*time.Millisecond {
		t.Fatalf("window = %+v, %v; want 300ms of load", u, err)
	}
}

func TestWriteMarkdownCPU(t *testing.T) {
	rep := Report{
		Rows: []Row{
			row(NodeSet, 16, 4000, time.Millisecond, 0),
			row(Hello, 16, 30000, time.Millisecond, 0),
			row(DistSet, 16, 0, 0, 9), // every request failed
			{ID: DistGetLin, Label: DistGetLin, Concurrency: 16, Skipped: "distributor does not build"},
		},
		CPUMethod: "Measured somehow.",
	}
	rep.Rows[0].CPU = cpuOver(
		CPUTimes{CPULoad: 0, CPULeaders: 0, CPUFollowers: 0, CPUDistributor: 0},
		CPUTimes{CPULoad: 400 * time.Millisecond, CPULeaders: 1200 * time.Millisecond, CPUFollowers: 100 * time.Millisecond, CPUDistributor: 0},
		time.Second, 20_000, 2)
	rep.Rows[1].CPU = cpuOver(CPUTimes{CPULoad: 0, CPUHello: 0}, CPUTimes{CPULoad: 300 * time.Millisecond, CPUHello: 1500 * time.Millisecond},
		time.Second, 150_000, 2)
	rep.Rows[2].CPU = cpuOver(CPUTimes{CPULoad: 0}, CPUTimes{CPULoad: 100 * time.Millisecond}, time.Second, 0, 2)
	var b strings.Builder
	rep.WriteMarkdown(&b)
	out := b.String()
	requireLines(t, out,
		"CPU per request (µs), by process:",
		"| workload | c | load | distributor | leaders | followers | hello | total | box busy |",
		"|---|--:|--:|--:|--:|--:|--:|--:|--:|",
		// 400 ms / 20 000 = 20 µs; the distributor used no CPU, hello is absent.
		"| node-set | 16 | 20.0 | – | 60.0 | 5.00 | – | 85.0 | 85% |",
		"| hello | 16 | 2.00 | – | – | – | 10.0 | 12.0 | 90% |",
		"| dist-set | 16 | – | – | – | – | – | – | 5% |",
		"Measured somehow.",
	)
	if strings.Contains(out, "| dist-get-lin | 16 | –") {
		t.Errorf("a skipped row got a CPU line:\n%s", out)
	}
	// The CPU table sits between the main table and the checks.
	if i, j := strings.Index(out, "CPU per request"), strings.Index(out, "| target |"); i < 0 || j < i {
		t.Errorf("CPU table not before the targets table:\n%s", out)
	}
}

func TestWriteMarkdownWithoutCPU(t *testing.T) {
	rep := Report{Rows: []Row{row(NodeSet, 16, 4000, time.Millisecond, 0)}}
	var b strings.Builder
	rep.WriteMarkdown(&b)
	if strings.Contains(b.String(), "CPU per request") || strings.Contains(b.String(), "box busy") {
		t.Errorf("a report without CPU numbers has a CPU section:\n%s", b.String())
	}
}

func TestWriteMarkdownDefaultCPUMethod(t *testing.T) {
	rep := Report{Rows: []Row{row(NodeSet, 1, 100, time.Millisecond, 0)}}
	rep.Rows[0].CPU = cpuOver(CPUTimes{CPULoad: 0}, CPUTimes{CPULoad: time.Second}, time.Second, 10, 1)
	var b strings.Builder
	rep.WriteMarkdown(&b)
	if !strings.Contains(b.String(), defaultCPUMethod+"\n") {
		t.Errorf("no default method sentence under the CPU table:\n%s", b.String())
	}
}

func TestCPUJSON(t *testing.T) {
	r := row(NodeSet, 16, 4000, time.Millisecond, 0)
	r.CPU = cpuOver(CPUTimes{CPULoad: 0}, CPUTimes{CPULoad: 20 * time.Millisecond}, time.Second, 1000, 2)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"cpu":{"window_ns":1000000000,"used_ns":{"load":20000000},"total_ns":20000000,` +
		`"per_request_us":{"load":20},"total_per_request_us":20,"box_busy_pct":1}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	r.CPU = nil
	if b, _ := json.Marshal(r); strings.Contains(string(b), `"cpu"`) {
		t.Errorf("a row without CPU numbers has a cpu key: %s", b)
	}
}

// A row measured in slices reports the CPU of all of them over all its
// requests.
func TestCPUAddSlices(t *testing.T) {
	a := cpuOver(CPUTimes{CPULoad: 0}, CPUTimes{CPULoad: 100 * time.Millisecond}, time.Second, 1000, 2)
	b := cpuOver(CPUTimes{CPULoad: 0}, CPUTimes{CPULoad: 300 * time.Millisecond}, time.Second, 1000, 2)
	a.add(b, 2000, 2)
	if a.Window != 2*time.Second || a.Used[CPULoad] != 400*time.Millisecond || a.Total != 400*time.Millisecond {
		t.Fatalf("after add: %+v", a)
	}
	if got := a.PerRequest[CPULoad]; got != 200 { // 400 ms over 2000 requests
		t.Errorf("per request = %v µs, want 200", got)
	}
	if got := a.BusyPercent; got != 10 { // 0.4 s of CPU in 2 s on 2 CPUs
		t.Errorf("busy = %v%%, want 10", got)
	}
}
