// Package suite is the standard benchmark matrix: which workloads run at
// which concurrencies, the checks computed as ratios of those runs, and
// the markdown table that reports them. It knows nothing of processes;
// bench/matrix starts the cluster and hands the endpoints in.
package suite

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"time"

	"github.com/kvraft/hraftd/bench/load"
	"github.com/kvraft/hraftd/kv"
)

// Workload IDs of the standard matrix, used to find rows for the checks.
const (
	DistSet     = "dist-set"
	NodeSet     = "node-set"
	DistGetLin  = "dist-get-lin"
	NodeGetNone = "node-get-none"
	Hello       = "hello"
	// DistSetOneShard is a diagnostic, not in Standard: /set through a
	// second distributor that knows only shard 0, so that every write
	// joins the same shard's batches (see BENCHMARKS.md).
	DistSetOneShard = "dist1-set"
)

// Workload is one line of the plan, run once per concurrency.
type Workload struct {
	ID    string
	Label string // markdown, for the table
	// Target, Kind and Level shape the requests (see load.Config).
	Target load.Target
	Kind   load.Workload
	Level  string
	// Concurrency, when set, is the workload's own list of
	// concurrencies, in place of Options.Concurrency.
	Concurrency []int
	// NewConnPerRequest opens a connection per request instead of one
	// kept alive per worker (see load.Config).
	NewConnPerRequest bool
}

// Standard is the matrix, in the order it runs. The two write rows run
// back to back, so the first check compares runs made minutes apart at
// most.
var Standard = []Workload{
	{ID: DistSet, Label: "`POST /set` via distributor", Target: load.TargetDistributor, Kind: load.WorkloadSet},
	{ID: NodeSet, Label: "`POST /key` direct to shard leader", Target: load.TargetNode, Kind: load.WorkloadSet},
	{ID: DistGetLin, Label: "linearizable `GET` via distributor", Target: load.TargetDistributor, Kind: load.WorkloadGet, Level: string(kv.ReadLinearizable)},
	{ID: NodeGetNone, Label: "`level=none` `GET` on a follower", Target: load.TargetNode, Kind: load.WorkloadGet, Level: string(kv.ReadNone)},
	{ID: Hello, Label: "bare net/http hello (ceiling)", Target: load.TargetHello, Kind: load.WorkloadGet},
}

// Diagnostic are workloads run only when asked for by ID (matrix -only):
// they explain a check rather than measure one.
var Diagnostic = []Workload{
	{ID: DistSetOneShard, Label: "`POST /set` via a distributor over shard 0 only (diagnostic)", Target: load.TargetDistributor, Kind: load.WorkloadSet},
}

// Endpoint is where one workload's requests go.
type Endpoint struct {
	// URL is the base URL (or for hello the URL to GET).
	URL string
	// ReadPrefix is the prefix of the keys preloaded for its reads.
	ReadPrefix string
	// Skip, when set, is why the workload cannot run; its rows say so.
	Skip string
	// TLS and Authorization are the credentials of an https:// endpoint
	// (see load.Config); nil and empty for a plain one.
	TLS           *tls.Config
	Authorization string
	// CPU, when not nil, replaces Options.CPU for this endpoint's rows:
	// a second cluster has processes of its own.
	CPU CPUSampler
}

// Options apply to every run of the matrix.
type Options struct {
	Concurrency []int
	Duration    time.Duration
	Warmup      time.Duration
	// Settle is a pause between runs, so that one run's tail (followers
	// catching up, a snapshot) does not land in the next run's numbers.
	Settle         time.Duration
	Keys           int
	ValueSize      int
	RequestTimeout time.Duration
	// Engine is the load's HTTP client; empty is load's default.
	Engine load.Engine
	// Progress receives each run's progress bar; nil for none.
	Progress io.Writer
	Logger   *slog.Logger
	// Quiesce, when not nil, is called before every run (slice) and
	// should return once the system has finished the previous run's work
	// (bench/matrix: every node has applied what was committed). A
	// failure is logged and the run goes ahead.
	Quiesce func(ctx context.Context) error
	// Rounds > 1 measures each row in that many interleaved slices (see
	// Run); 0 or 1 runs each row in one piece.
	Rounds int
	// CPU, when not nil, is sampled right before and right after each
	// measured window, and each row reports where the CPU went (see CPU).
	// A failed sample costs that row its CPU numbers, nothing else.
	CPU CPUSampler
}

// Row is the outcome of one workload at one concurrency.
type Row struct {
	ID          string `json:"id"`
	Label       string `json:"label"`
	Concurrency int    `json:"concurrency"`
	// Result is nil when the row was skipped or its run failed.
	Result *load.Result `json:"result,omitempty"`
	// Skipped says why there is no result.
	Skipped string `json:"skipped,omitempty"`
	// CPU is nil without Options.CPU or when a sample failed.
	CPU *CPU `json:"cpu,omitempty"`
	// Rounds are the row's slices one by one, in the order they ran:
	// how far they spread is the noise of the merged Result.
	Rounds []Round `json:"rounds,omitempty"`
}

// Round is what one slice of a row measured.
type Round struct {
	Throughput float64       `json:"throughput_rps"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	// CPU is the slice's CPU.TotalPerRequest, in µs; 0 without one.
	CPU float64 `json:"cpu_per_request_us,omitempty"`
}

// Run runs every workload of plan at every concurrency against the
// endpoints keyed by workload ID, and returns one row per workload and
// concurrency, in plan order. With Options.Rounds > 1 each row is measured
// in that many slices of Duration/Rounds, and at each concurrency the
// workloads take turns slice by slice, so that the rows a check compares
// ran interleaved over the same minutes: on a box whose speed drifts
// their ratio then reflects the code, not the moment. A workload with no
// endpoint, or one marked Skip, yields skipped rows; a run that cannot
// start yields a skipped row with the reason; the matrix goes on either
// way, so one broken component does not cost the other rows. If ctx ends,
// what has not run is skipped as interrupted, and rows cut short keep the
// slices they have.
func Run(ctx context.Context, plan []Workload, endpoints map[string]Endpoint, opts Options) []Row {
	r := newRunner(plan, endpoints, opts)
	defer r.closeClients()
	for _, c := range levels(plan, opts.Concurrency) {
		for round := range r.rounds {
			for _, w := range plan {
				if slices.Contains(w.concurrency(opts.Concurrency), c) {
					r.slice(ctx, w, c, round)
				}
			}
		}
	}
	var out []Row
	for _, w := range plan {
		for _, c := range w.concurrency(opts.Concurrency) {
			row := r.rows[rowKey{w.ID, c}]
			if row.Result == nil && row.Skipped == "" {
				row.Skipped = "interrupted"
			}
			out = append(out, *row)
		}
	}
	return out
}

// concurrency is w's list of concurrencies: its own, or def.
func (w Workload) concurrency(def []int) []int {
	if w.Concurrency != nil {
		return w.Concurrency
	}
	return def
}

// levels are the concurrencies Run steps through, in order: def's, then
// any other a workload names, ascending.
func levels(plan []Workload, def []int) []int {
	var out, extra []int
	for _, w := range plan {
		if w.Concurrency == nil {
			out = def
			break
		}
	}
	for _, w := range plan {
		for _, c := range w.Concurrency {
			if !slices.Contains(out, c) && !slices.Contains(extra, c) {
				extra = append(extra, c)
			}
		}
	}
	slices.Sort(extra)
	return append(slices.Clip(out), extra...)
}

type rowKey struct {
	id string
	c  int
}

// runner is one Run in progress.
type runner struct {
	endpoints map[string]Endpoint
	opts      Options
	logger    *slog.Logger
	// clients are the net/http engine's, one per TLS configuration
	// (nil: plain), shared by the rows that use it.
	clients  map[*tls.Config]*http.Client
	maxConc  int
	rounds   int
	sliceLen time.Duration // of each round

	rows  map[rowKey]*Row
	noCPU map[rowKey]bool // rows with a slice whose CPU could not be sampled
	first bool            // no slice has run yet
}

func newRunner(plan []Workload, endpoints map[string]Endpoint, opts Options) *runner {
	r := &runner{
		endpoints: endpoints, opts: opts, logger: opts.Logger,
		clients: map[*tls.Config]*http.Client{}, maxConc: maxOf(levels(plan, opts.Concurrency)),
		rounds: max(opts.Rounds, 1),
		rows:   map[rowKey]*Row{}, noCPU: map[rowKey]bool{}, first: true,
	}
	if r.logger == nil {
		r.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r.sliceLen = opts.Duration / time.Duration(r.rounds)
	for _, w := range plan {
		ep, ok := endpoints[w.ID]
		for _, c := range w.concurrency(opts.Concurrency) {
			row := &Row{ID: w.ID, Label: w.Label, Concurrency: c}
			switch {
			case !ok:
				row.Skipped = "no endpoint"
			case ep.Skip != "":
				row.Skipped = ep.Skip
			}
			r.rows[rowKey{w.ID, c}] = row
		}
	}
	return r
}

// slice runs round round of workload w at concurrency c, after the pause
// and the quiesce that precede every slice, and adds it to its row.
func (r *runner) slice(ctx context.Context, w Workload, c, round int) {
	key := rowKey{w.ID, c}
	row := r.rows[key]
	if row.Skipped != "" {
		return
	}
	if ctx.Err() != nil {
		if row.Result == nil {
			row.Skipped = "interrupted"
		}
		return
	}
	if !r.first && r.opts.Settle > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(r.opts.Settle):
		}
	}
	r.first = false
	if r.opts.Quiesce != nil {
		if err := r.opts.Quiesce(ctx); err != nil && ctx.Err() == nil {
			r.logger.Warn("the cluster did not settle before the run; running anyway", "workload", w.ID, "c", c, "error", err)
		}
	}
	cfg := r.loadConfig(w, c, round)
	r.logger.Info("running", "workload", w.ID, "c", c, "round", fmt.Sprintf("%d/%d", round+1, r.rounds),
		"url", cfg.URL, "duration", r.sliceLen)
	sampler := r.opts.CPU
	if ep := r.endpoints[w.ID]; ep.CPU != nil {
		sampler = ep.CPU
	}
	cpu := newCPUWindow(sampler)
	cfg.MeasureStart = cpu.measureStart()
	res, err := load.Run(ctx, cfg)
	if err != nil {
		_, _ = cpu.finish(0, 0) // stops its timer; nothing to report
		if row.Result == nil {
			row.Skipped = err.Error()
		}
		return
	}
	if row.Result == nil {
		row.Result = &res
	} else {
		row.Result.Merge(res)
	}
	usage, cpuErr := cpu.finish(res.OK, runtime.NumCPU())
	rd := Round{Throughput: res.Throughput, P50: res.Latency.P50, P99: res.Latency.P99}
	if usage != nil {
		rd.CPU = usage.TotalPerRequest // before addCPU, which may sum into usage
	}
	row.Rounds = append(row.Rounds, rd)
	r.addCPU(key, row, usage, cpuErr)
	r.logger.Info("done", "workload", w.ID, "c", c, "round", fmt.Sprintf("%d/%d", round+1, r.rounds),
		"rps", fmt.Sprintf("%.0f", res.Throughput), "errors", res.ErrorCount,
		"p50", load.FormatDuration(res.Latency.P50), "p99", load.FormatDuration(res.Latency.P99))
}

// loadConfig is the load of one slice.
func (r *runner) loadConfig(w Workload, c, round int) load.Config {
	ep := r.endpoints[w.ID]
	cfg := load.DefaultConfig()
	cfg.Target, cfg.URL, cfg.Workload, cfg.Level = w.Target, ep.URL, w.Kind, w.Level
	cfg.Concurrency, cfg.Duration, cfg.Warmup = c, r.sliceLen, r.opts.Warmup
	if round > 0 {
		// Connections and caches were warmed by the first slice; each
		// later one needs only its own dials.
		cfg.Warmup = min(r.opts.Warmup, laterWarmup)
	}
	cfg.Keys, cfg.ValueSize, cfg.RequestTimeout = r.opts.Keys, r.opts.ValueSize, r.opts.RequestTimeout
	cfg.Prefix = WritePrefix(w.ID, c)
	if r.rounds > 1 {
		cfg.Prefix += fmt.Sprintf("-r%d", round) // still a new key per write
	}
	if w.Kind != load.WorkloadSet && ep.ReadPrefix != "" {
		cfg.Prefix = ep.ReadPrefix
	}
	cfg.TLS, cfg.Authorization, cfg.NewConnPerRequest = ep.TLS, ep.Authorization, w.NewConnPerRequest
	cfg.Progress, cfg.Client = r.opts.Progress, r.client(ep.TLS)
	if r.opts.Engine != "" {
		cfg.Engine = r.opts.Engine
	}
	return cfg
}

// client is the net/http engine's client for endpoints with tlsCfg.
func (r *runner) client(tlsCfg *tls.Config) *http.Client {
	c, ok := r.clients[tlsCfg]
	if !ok {
		c = load.NewTLSClient(r.maxConc, r.opts.RequestTimeout, tlsCfg)
		r.clients[tlsCfg] = c
	}
	return c
}

func (r *runner) closeClients() {
	for _, c := range r.clients {
		c.CloseIdleConnections()
	}
}

// addCPU adds one slice's CPU to its row. A row's CPU covers all its
// slices or none: per request, a missing slice would make it wrong.
func (r *runner) addCPU(key rowKey, row *Row, usage *CPU, err error) {
	switch {
	case r.noCPU[key]:
	case err != nil || usage == nil:
		r.noCPU[key], row.CPU = true, nil
		if err != nil && !errors.Is(err, errNoWindow) {
			r.logger.Warn("no CPU numbers for this row", "workload", key.id, "c", key.c, "error", err)
		}
	case row.CPU == nil:
		row.CPU = usage
	default:
		row.CPU.add(usage, row.Result.OK, runtime.NumCPU())
	}
}

// laterWarmup bounds the warmup of every slice of a row after its first.
const laterWarmup = 250 * time.Millisecond

// WritePrefix is the key prefix of a write row, so that every write of
// the whole matrix goes to a key nobody wrote before.
func WritePrefix(id string, c int) string {
	return fmt.Sprintf("%s-c%d", id, c)
}

func maxOf(xs []int) int {
	m := 1
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// Find returns the row of workload id at concurrency c, if it ran.
func Find(rows []Row, id string, c int) (*load.Result, bool) {
	for _, r := range rows {
		if r.ID == id && r.Concurrency == c && r.Result != nil {
			return r.Result, true
		}
	}
	return nil, false
}
