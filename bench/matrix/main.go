// Command matrix is `make bench`: it builds hraftd, the distributor and the
// bench tool, starts a fresh 2×3 cluster with the distributor and a hello
// server on free 127.0.0.1 ports (internal/cluster), runs the standard
// matrix at c = 1, 16, 64, and prints a markdown table with the checks
// (package suite) as ratios. Every process it starts is stopped on exit,
// on Ctrl-C and on failure; their logs stay in a temporary directory it
// names.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kvraft/hraftd/bench/load"
	"github.com/kvraft/hraftd/bench/suite"
	"github.com/kvraft/hraftd/internal/cluster"
)

const usageText = `matrix builds the binaries, starts a fresh 2×3 cluster + distributor +
hello server on free 127.0.0.1 ports, runs the standard benchmark matrix and
prints it as markdown (or JSON with -json) on stdout; progress and logs go
to stderr. Run it from anywhere inside the repository:

  go run ./bench/matrix            # the full matrix, 5 s per row (make bench)
  go run ./bench/matrix -d 1s -c 1,64 -only node-set,hello
  go run ./bench/matrix -tls       # + plain vs secure (TLS, -auth) cluster, side by side
  go run ./bench/matrix -only tls  # that comparison alone

Workloads (-only): ` + "dist-set, node-set, dist-get-lin, node-get-none, hello" + `
Diagnostic workloads, run only when named in -only: ` + "dist1-set" + ` (/set via a
second distributor that knows only shard 0: write coalescing when every
write joins one shard's batches)
TLS comparison (-tls, or ` + TLSGroup + ` in -only): a second, secure cluster (HTTPS,
Raft over mutual TLS, -auth) beside the plain one; writes at fixed c (node
c=1 and 64, distributor c=64; node c=1 with a new connection per request)
from a plain client, a password client and a certificate client, taking
turns; it adds about 2 minutes with the default -d and -rounds

Flags:
`

func main() {
	os.Exit(run())
}

// settings are the command line, checked.
type settings struct {
	plan                           []suite.Workload
	opts                           suite.Options // without Logger and Progress
	jsonOut, progress, keep, pprof bool
	// withTLS adds the TLS comparison (-tls, or "tls" in -only).
	withTLS bool
}

func parseFlags() (settings, error) {
	var (
		st        settings
		dur       = flag.Duration("d", 5*time.Second, "Measured duration of each row")
		warmup    = flag.Duration("warmup", time.Second, "Unrecorded load before each row")
		settle    = flag.Duration("settle", 250*time.Millisecond, "Pause between runs (slices)")
		rounds    = flag.Int("rounds", 5, "Measure each row in this many slices, interleaved with the other rows at the same concurrency (1: each row in one piece, one after the other)")
		concList  = flag.String("c", "1,16,64", "Comma-separated concurrencies")
		only      = flag.String("only", "", "Comma-separated workload IDs to run (default: all)")
		keys      = flag.Int("keys", 10_000, "Keys preloaded for the read rows")
		valueSize = flag.Int("value-size", 100, "Bytes per value")
		timeout   = flag.Duration("timeout", 10*time.Second, "Deadline of each request")
		engine    = flag.String("engine", string(load.EngineRaw), "HTTP client of the load: raw (minimal HTTP/1.1, cheap like wrk) or net/http (Go's pooled client), or wrk (the C load generator, run as a child process; install it first, e.g. apt-get install wrk)")
	)
	flag.BoolVar(&st.jsonOut, "json", false, "Print the report as JSON instead of markdown")
	flag.BoolVar(&st.progress, "progress", false, "Show progress bars even when stderr is not a terminal")
	flag.BoolVar(&st.keep, "keep", false, "Keep the nodes' data directories (logs are always kept)")
	flag.BoolVar(&st.pprof, "pprof", false, "Start the nodes and the distributor with -pprof, to profile them while a row runs (their URLs are logged)")
	flag.BoolVar(&st.withTLS, "tls", false, "Also compare a secure cluster (TLS everywhere, -auth) with the plain one, side by side (about 2 more minutes; -only "+TLSGroup+" for that alone)")
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), usageText)
		flag.PrintDefaults()
	}
	flag.Parse()
	switch {
	case flag.NArg() != 0:
		return st, fmt.Errorf("unexpected arguments %q; run with -h for help", flag.Args())
	case *rounds < 1 || *dur/time.Duration(*rounds) < 200*time.Millisecond:
		return st, fmt.Errorf("-rounds %d: must be at least 1, with slices (-d ÷ -rounds) of at least 200ms", *rounds)
	case *engine == string(load.EngineWrk) && *dur/time.Duration(*rounds) < time.Second:
		return st, fmt.Errorf("-engine wrk runs whole seconds: -d ÷ -rounds must be at least 1s (got %s)", *dur/time.Duration(*rounds))
	}
	concs, err := parseInts(*concList)
	if err != nil {
		return st, fmt.Errorf("-c: %w", err)
	}
	var tlsNamed bool
	if st.plan, tlsNamed, err = selectPlan(*only); err != nil {
		return st, fmt.Errorf("-only: %w", err)
	}
	st.withTLS = st.withTLS || tlsNamed
	eng, err := load.ParseEngine(*engine)
	if err != nil {
		return st, fmt.Errorf("-engine: %w", err)
	}
	st.opts = suite.Options{
		Concurrency: concs, Duration: *dur, Warmup: *warmup, Settle: *settle, Rounds: *rounds,
		Keys: *keys, ValueSize: *valueSize, RequestTimeout: *timeout, Engine: eng,
	}
	return st, nil
}

func run() int {
	st, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "matrix:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "matrix")

	dir, err := os.MkdirTemp("", "hraftd-bench-")
	if err != nil {
		logger.Error("temp dir", "error", err)
		return 1
	}
	logger.Info("work dir", "dir", dir)
	defer cluster.RemoveBuilds()
	defer func() {
		if st.keep {
			logger.Info("kept data and logs", "dir", dir)
			return
		}
		// Logs are small and are what explains a bad row; data is tens
		// of MB of nothing once the run is over, and the secure
		// cluster's certificates are keys nobody needs.
		for _, d := range []string{"data", secureDir + "/data", secureDir + "/certs"} {
			_ = os.RemoveAll(filepath.Join(dir, d))
		}
		if st.withTLS {
			logger.Info("process logs kept", "dir", filepath.Join(dir, "logs"), "secure", filepath.Join(dir, secureDir, "logs"))
			return
		}
		logger.Info("process logs kept", "dir", filepath.Join(dir, "logs"))
	}()

	opts := st.opts
	opts.Logger = logger
	if st.progress || isTerminal(os.Stderr) {
		opts.Progress = os.Stderr
	}
	rep, err := runMatrix(ctx, logger, dir, st, opts)
	if err != nil {
		logger.Error("matrix failed", "error", err)
		return 1
	}
	rep.Command = "go run ./bench/matrix"
	if args := strings.Join(os.Args[1:], " "); args != "" {
		rep.Command += " " + args
	}
	if st.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			logger.Error("write JSON", "error", err)
			return 1
		}
	} else {
		rep.writeMarkdown(os.Stdout)
	}
	if ctx.Err() != nil {
		logger.Warn("interrupted: the report covers only the rows that ran")
		return 1
	}
	return 0
}

// output is everything a run prints: the standard matrix and, with
// -tls, the TLS comparison (a "tls" key in the JSON).
type output struct {
	suite.Report
	TLS *tlsReport `json:"tls,omitempty"`
}

// writeMarkdown prints the standard matrix, if it ran (else only where
// and how), then the TLS comparison, if it ran.
func (o output) writeMarkdown(w io.Writer) {
	if len(o.Rows) > 0 {
		o.WriteMarkdown(w)
	} else {
		m := o.Machine
		fmt.Fprintf(w, "Machine: %d CPUs (%s), %s/%s, %s, %s.\n\nCommand: `%s`.\n", m.CPUs, m.CPUModel, m.OS, m.Arch,
			m.GoVersion, m.Date.Format("2006-01-02 15:04 MST"), o.Command)
	}
	if o.TLS != nil {
		o.TLS.writeMarkdown(w)
	}
}

// runMatrix builds, starts the cluster, preloads and runs the plan, then
// the TLS comparison if asked. The clusters are closed before it returns,
// whatever happens.
func runMatrix(ctx context.Context, logger *slog.Logger, dir string, st settings, opts suite.Options) (output, error) {
	rep := output{Report: suite.Report{Machine: suite.ThisMachine()}}
	plan := st.plan
	s, err := startSetup(ctx, logger, dir, plan, st.pprof)
	if err != nil {
		return rep, err
	}
	defer func() {
		logger.Info("stopping the cluster")
		s.cl.Close()
	}()
	rep.LogDir = s.cl.LogDir()
	opts.Quiesce = func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return s.cl.Quiesce(ctx)
	}
	// After every process has started: the CPU groups are fixed here.
	if opts.CPU = cpuSampler(ctx, logger, s.cl, []*cluster.Distributor{s.dist, s.oneShard}, s.hello); opts.CPU != nil {
		rep.CPUMethod = cpuMethod
	}
	if len(plan) > 0 {
		if err := s.preload(ctx, logger, plan, opts); err != nil {
			return rep, err
		}
		rep.Method = method(opts)
		rep.Rows = suite.Run(ctx, plan, s.endpoints(), opts)
		rep.Checks = suite.Checks(rep.Rows)
	}
	if st.withTLS && ctx.Err() == nil {
		t, err := runTLS(ctx, logger, filepath.Join(dir, secureDir), s, opts, st.pprof)
		if err != nil {
			return rep, err
		}
		rep.TLS = &t
	}
	return rep, nil
}

// method is the sentence under the table that says how it was measured.
func method(opts suite.Options) string {
	return fmt.Sprintf("Each row: %s measured in %d slice(s); at each c the workloads take turns slice by slice, "+
		"so the rows a target compares ran interleaved over the same minutes; %s warmup before a row's first slice, "+
		"up to %s before each later one. c closed-loop workers (one request in flight each, "+
		"one keep-alive connection each, %s client) in the matrix process on the same machine; %d B values; every write a new key; "+
		"reads over %d preloaded keys; req/s counts successful answers only. 2 shards × 3 hraftd nodes (disk-backed, "+
		"fsync on), distributor and hello server, all on 127.0.0.1; before each slice, every node has applied all its leader had committed.",
		opts.Duration, max(opts.Rounds, 1), opts.Warmup, min(opts.Warmup, 250*time.Millisecond), opts.Engine, opts.ValueSize, opts.Keys)
}

func wants(plan []suite.Workload, id string) bool {
	for _, w := range plan {
		if w.ID == id {
			return true
		}
	}
	return false
}

// selectPlan keeps the workloads named in a comma list, standard ones
// first in the standard order, then diagnostic ones; an empty list keeps
// the standard ones. withTLS reports whether the list names the TLS
// comparison (TLSGroup).
func selectPlan(only string) (plan []suite.Workload, withTLS bool, err error) {
	if strings.TrimSpace(only) == "" {
		return suite.Standard, false, nil
	}
	want := map[string]bool{}
	for id := range strings.SplitSeq(only, ",") {
		want[strings.TrimSpace(id)] = true
	}
	withTLS = want[TLSGroup]
	delete(want, TLSGroup)
	for _, w := range append(append([]suite.Workload(nil), suite.Standard...), suite.Diagnostic...) {
		if want[w.ID] {
			plan = append(plan, w)
			delete(want, w.ID)
		}
	}
	for id := range want {
		return nil, false, fmt.Errorf("unknown workload %q", id)
	}
	return plan, withTLS, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no concurrency given")
	}
	return out, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// isTerminal reports whether f is a character device (see bench's
// isTerminal: no x/term dependency for one bit).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
