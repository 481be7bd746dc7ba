package suite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/bench/load"
)

func row(id string, c int, rps float64, p50 time.Duration, errs uint64) Row {
	return Row{ID: id, Label: id, Concurrency: c, Result: &load.Result{
		Throughput: rps, ErrorCount: errs, Latency: load.Latency{P50: p50},
	}}
}

func TestChecks(t *testing.T) {
	rows := []Row{
		row(DistSet, 64, 9000, 0, 0),
		row(NodeSet, 64, 4000, 0, 0),
		row(DistSet, 1, 500, 2400*time.Microsecond, 0),
		row(NodeSet, 1, 600, 2*time.Millisecond, 0),
		row(DistGetLin, 64, 12000, 0, 5),
		row(NodeGetNone, 64, 30000, 0, 0),
		row(Hello, 64, 40000, 0, 0),
	}
	got := Checks(rows)
	want := []struct {
		value    float64
		measured string
		met      string
		note     bool
	}{
		{2.25, "2.25×", "yes", false},
		{1.2, "1.20×", "yes", false},
		{12000, "12000 req/s (0.80× goal; 0.30× hello)", "no", true},
		{0.75, "0.75×", "no", false},
	}
	if len(got) != len(want) {
		t.Fatalf("%d checks, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if diff := g.Value - w.value; diff > 1e-9 || diff < -1e-9 || g.Measured != w.measured || g.Met != w.met || (g.Note != "") != w.note {
			t.Errorf("check %d (%s) = %+v, want value %v measured %q met %q note %v", i+1, g.Name, g, w.value, w.measured, w.met, w.note)
		}
	}
}

func TestChecksMissingRows(t *testing.T) {
	rows := []Row{
		{ID: DistSet, Concurrency: 64, Skipped: "distributor does not build"},
		row(NodeSet, 64, 4000, 0, 0),
		row(NodeGetNone, 64, 0, 0, 100), // every request failed
		row(Hello, 64, 40000, 0, 0),
	}
	for _, ch := range Checks(rows) {
		if ch.Met != "n/a" || ch.Measured != "n/a" || ch.Value != 0 {
			t.Errorf("%s = %+v, want n/a without the rows it needs", ch.Name, ch)
		}
	}
}

func TestWriteMarkdown(t *testing.T) {
	rep := Report{
		Machine: Machine{CPUs: 2, CPUModel: "Test CPU", OS: "linux", Arch: "amd64", GoVersion: "go1.26.8",
			Date: time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)},
		Command: "go run ./bench/matrix",
		Method:  "Method.",
		Rows: []Row{
			row(NodeSet, 64, 4000.4, 1500*time.Microsecond, 0),
			{ID: DistSet, Label: "dist | set", Concurrency: 1, Skipped: "distributor does not build: x.go:1: oops\nmore"},
		},
	}
	rep.Rows[0].Result.FirstError = "HTTP 503 from POST /key: no leader"
	rep.Checks = Checks(rep.Rows)
	var b strings.Builder
	rep.WriteMarkdown(&b)
	out := b.String()
	requireLines(t, out,
		"Machine: 2 CPUs (Test CPU), linux/amd64, go1.26.8, 2025-01-02 03:04 UTC.",
		"Command: `go run ./bench/matrix`. Method.",
		"| workload | c | req/s | errors | p50 | p90 | p99 | p99.9 |",
		"| node-set | 64 | 4000 | 0 | 1.50ms | 0 | 0 | 0 |",
		`| dist \| set | 1 | skipped: distributor does not build: x.go:1: oops | | | | | |`,
		"| 1. `/set` via distributor ÷ direct `POST /key`, req/s at c=64 | n/a | ≥ 2× | n/a |",
		"- node-set, c=64: HTTP 503 from POST /key: no leader",
	)
	if strings.Contains(out, "more") {
		t.Errorf("a skip reason's second line leaked into the table:\n%s", out)
	}
}

func TestCPUModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpuinfo")
	data := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := cpuModel(path); got != "AMD EPYC 7B13" {
		t.Errorf("cpuModel = %q, want AMD EPYC 7B13", got)
	}
	if got := cpuModel(filepath.Join(t.TempDir(), "missing")); got != "unknown" {
		t.Errorf("cpuModel of a missing file = %q, want unknown", got)
	}
}

func TestWritePrefixValid(t *testing.T) {
	// Write prefixes become key prefixes: they must pass load's checks.
	for _, w := range Standard {
		cfg := load.DefaultConfig()
		cfg.Prefix = WritePrefix(w.ID, 64)
		if err := cfg.Validate(); err != nil {
			t.Errorf("WritePrefix(%s) = %q: %v", w.ID, cfg.Prefix, err)
		}
	}
}

// requireLines fails t for each of lines that is not a whole line of out.
func requireLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, want := range lines {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("markdown lacks the line\n%s\nin\n%s", want, out)
		}
	}
}
