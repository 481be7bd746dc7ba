package main

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/bench/load"
	"github.com/kvraft/hraftd/bench/suite"
	"github.com/kvraft/hraftd/internal/cluster"
)

// fakeSetups are a plain and a secure setup with nothing running: enough
// to build the plan's endpoints.
func fakeSetups(resumes bool) (*setup, *secureSetup) {
	s := &setup{leader: &cluster.Node{HTTP: "127.0.0.1:1"}, dist: &cluster.Distributor{Addr: "127.0.0.1:2"}}
	sec := &secureSetup{leader: &cluster.Node{HTTP: "127.0.0.1:3"}, dist: &cluster.Distributor{Addr: "127.0.0.1:4"},
		basic: "Basic YmVuY2g6eA==", password: &tls.Config{}, resumed: &tls.Config{}, cert: &tls.Config{}, resumes: resumes,
		cpu: func() (suite.CPUTimes, error) { return nil, nil }}
	return s, sec
}

// Every secure row has a plain twin at each of its concurrencies, goes
// to the secure cluster with its own credentials, and writes keys load
// accepts.
func TestTLSPlan(t *testing.T) {
	s, sec := fakeSetups(false)
	plan, eps := tlsPlan(s, sec)
	ids := map[string]bool{}
	for _, w := range plan {
		if ids[w.ID] {
			t.Fatalf("workload %s twice", w.ID)
		}
		ids[w.ID] = true
	}
	for _, w := range plan {
		base, conn, via := splitTLSID(w.ID)
		ep := eps[w.ID]
		if want := "tls." + base + "." + conn + "." + via; want != w.ID || viaLabel[via] == "" {
			t.Errorf("ID %s does not split back (%s, %s, %s)", w.ID, base, conn, via)
		}
		if (conn == "new-conn") != w.NewConnPerRequest || len(w.Concurrency) == 0 {
			t.Errorf("%s: NewConnPerRequest %v, Concurrency %v", w.ID, w.NewConnPerRequest, w.Concurrency)
		}
		for _, c := range w.Concurrency {
			cfg := load.DefaultConfig()
			cfg.Prefix = suite.WritePrefix(w.ID, c)
			if err := cfg.Validate(); err != nil {
				t.Errorf("%s: key prefix %q: %v", w.ID, cfg.Prefix, err)
			}
		}
		plainEP := eps["tls."+base+"."+conn+"."+viaPlain]
		switch via {
		case viaPlain:
			if ep.TLS != nil || ep.Authorization != "" || ep.CPU != nil || strings.Contains(ep.URL, ":3") || strings.Contains(ep.URL, ":4") {
				t.Errorf("plain row %s: %+v; want the plain cluster without credentials", w.ID, ep)
			}
		case viaPassword, viaResumed:
			if ep.TLS == nil || ep.Authorization != sec.basic || ep.CPU == nil || ep.URL == plainEP.URL {
				t.Errorf("password row %s: %+v", w.ID, ep)
			}
		case viaCert:
			if ep.TLS != sec.cert || ep.Authorization != "" || ep.URL == plainEP.URL {
				t.Errorf("certificate row %s: %+v", w.ID, ep)
			}
		}
		if via == viaResumed && (ep.TLS != sec.resumed || ep.Skip == "") {
			t.Errorf("resumed row %s: %+v; want the resuming config, skipped as the probe saw no resumption", w.ID, ep)
		}
	}
	if _, sec := fakeSetups(true); sec.endpoint(false, viaResumed).Skip != "" {
		t.Error("the resumed row is skipped although sessions resume")
	}
}

func tlsRow(id string, c int, rps float64, p50 time.Duration, cpu float64) suite.Row {
	r := suite.Row{ID: id, Label: "`POST /key`", Concurrency: c,
		Result: &load.Result{Throughput: rps, Latency: load.Latency{P50: p50, P99: 2 * p50, P999: 3 * p50}},
		Rounds: []suite.Round{{Throughput: rps - 1, CPU: cpu - 1}, {Throughput: rps + 1, CPU: cpu + 1}}}
	if cpu > 0 {
		r.CPU = &suite.CPU{TotalPerRequest: cpu, PerRequest: map[string]float64{suite.CPULeaders: cpu}}
	}
	return r
}

// The table groups each workload's clients at one c together, plain
// first, with every ratio taken to that plain row.
func TestTLSMarkdown(t *testing.T) {
	rep := tlsReport{Method: "How.", LoadBefore: "0.10 0.20 0.30", LoadAfter: "1.00 0.50 0.40", Rows: []suite.Row{
		tlsRow("tls.node-set.keep-alive.plain", 1, 400, time.Millisecond, 1000),
		tlsRow("tls.node-set.keep-alive.plain", 64, 8000, 8*time.Millisecond, 200),
		tlsRow("tls.node-set.keep-alive.password", 1, 300, 2*time.Millisecond, 1500),
		tlsRow("tls.node-set.keep-alive.password", 64, 6000, 10*time.Millisecond, 0),
		{ID: "tls.node-set.new-conn.resumed", Label: "`POST /key`", Concurrency: 1, Skipped: "no resumption"},
	}}
	var b strings.Builder
	rep.writeMarkdown(&b)
	out := b.String()
	requireLines(t, out,
		"## TLS and authentication",
		"Load average (1, 5, 15 min) when the comparison began: 0.10 0.20 0.30; when it ended: 1.00 0.50 0.40.",
		"| `POST /key` | 1 | keep-alive | plain HTTP, no auth | 400 | 399, 401 | 1.00ms | 2.00ms | 3.00ms | 1000 |",
		"| `POST /key` | 1 | keep-alive | TLS + password | 300 | 299, 301 | 2.00ms | 4.00ms | 6.00ms | 1500 |",
		"| `POST /key` | 64 | keep-alive | TLS + password | 6000 | 5999, 6001 | 10.0ms | 20.0ms | 30.0ms | – |",
		"| `POST /key` | 1 | new-conn | TLS + password, sessions resumed | skipped: no resumption | | | | | |",
		// Ratios: secure rows only, each to its plain twin.
		"| `POST /key` | 1 | keep-alive | TLS + password | 0.75× | 0.75× | 2.00× | 2.00× | 1.50× | 1.50× |",
		"| `POST /key` | 64 | keep-alive | TLS + password | 0.75× | 0.75× | 1.25× | 1.25× | – | – |",
		// CPU by process.
		"| `POST /key` | 1 | keep-alive | TLS + password | – | – | 1500 | – | 1500 |",
	)
	_, ratios, _ := strings.Cut(out, "Secure ÷ plain")
	ratios, _, _ = strings.Cut(ratios, "CPU per request")
	if strings.Contains(ratios, "plain HTTP") {
		t.Errorf("a plain row got ratios to itself:\n%s", ratios)
	}
	// c=1's two rows come before c=64's.
	if i, j := strings.Index(out, "| 1 | keep-alive | TLS + password | 300"), strings.Index(out, "| 64 | keep-alive | plain"); i < 0 || j < i {
		t.Errorf("rows not grouped by c:\n%s", out)
	}
}

func TestMedianOf(t *testing.T) {
	for _, tc := range []struct {
		rps  []float64
		want float64
	}{{nil, 0}, {[]float64{5}, 5}, {[]float64{9, 1, 5}, 5}, {[]float64{8000, 820, 8200, 8100}, 8050}} {
		var r suite.Row
		for _, v := range tc.rps {
			r.Rounds = append(r.Rounds, suite.Round{Throughput: v})
		}
		if got := medianOf(func(rd suite.Round) float64 { return rd.Throughput })(r); got != tc.want {
			t.Errorf("medianRound(%v) = %v, want %v", tc.rps, got, tc.want)
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
