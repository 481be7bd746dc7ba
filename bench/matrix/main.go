// Command matrix is `make bench`: it builds hraftd, the distributor and the
// bench tool, starts a fresh 2×3 cluster with the distributor and a hello
// server on free 127.0.0.1 ports, runs issue 5's standard matrix at
// c = 1, 16, 64, and prints a markdown table with the targets as
// ratios. Every process it starts is stopped on exit, on Ctrl-C and on
// failure; their logs stay in a temporary directory it names.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kvraft/hraftd/bench/cluster"
	"github.com/kvraft/hraftd/bench/load"
	"github.com/kvraft/hraftd/bench/suite"
)

const usageText = `matrix builds the binaries, starts a fresh 2×3 cluster + distributor +
hello server on free 127.0.0.1 ports, runs the standard benchmark matrix and
prints it as markdown (or JSON with -json) on stdout; progress and logs go
to stderr. Run it from anywhere inside the repository:

  go run ./bench/matrix            # the full matrix, 5 s per row (make bench)
  go run ./bench/matrix -d 1s -c 1,64 -only node-set,hello

Workloads (-only): ` + "dist-set, node-set, dist-get-lin, node-get-none, hello" + `
Diagnostic workloads, run only when named in -only: ` + "dist1-set" + ` (/set via a
second distributor that knows only shard 0: write coalescing when every
write joins one shard's batches)

Flags:
`

func main() {
	os.Exit(run())
}

func run() int {
	var (
		dur       = flag.Duration("d", 5*time.Second, "Measured duration of each row")
		warmup    = flag.Duration("warmup", time.Second, "Unrecorded load before each row")
		settle    = flag.Duration("settle", 250*time.Millisecond, "Pause between runs (slices)")
		rounds    = flag.Int("rounds", 5, "Measure each row in this many slices, interleaved with the other rows at the same concurrency (1: each row in one piece, one after the other)")
		concList  = flag.String("c", "1,16,64", "Comma-separated concurrencies")
		only      = flag.String("only", "", "Comma-separated workload IDs to run (default: all)")
		keys      = flag.Int("keys", 10_000, "Keys preloaded for the read rows")
		valueSize = flag.Int("value-size", 100, "Bytes per value")
		timeout   = flag.Duration("timeout", 10*time.Second, "Deadline of each request")
		jsonOut   = flag.Bool("json", false, "Print the report as JSON instead of markdown")
		progress  = flag.Bool("progress", false, "Show progress bars even when stderr is not a terminal")
		engine    = flag.String("engine", string(load.EngineRaw), "HTTP client of the load: raw (minimal HTTP/1.1, cheap like wrk) or net/http (Go's pooled client), or wrk (the C load generator the issue's numbers were measured with, run as a child process; install it first, e.g. apt-get install wrk)")
		keep      = flag.Bool("keep", false, "Keep the binaries and the nodes' data directories (logs are always kept)")
		pprof     = flag.Bool("pprof", false, "Start the nodes and the distributor with -pprof, to profile them while a row runs (their URLs are logged)")
	)
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), usageText)
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "matrix: unexpected arguments %q; run with -h for help\n", flag.Args())
		return 2
	}
	if *rounds < 1 || *dur/time.Duration(*rounds) < 200*time.Millisecond {
		fmt.Fprintf(os.Stderr, "matrix: -rounds %d: must be at least 1, with slices (-d ÷ -rounds) of at least 200ms\n", *rounds)
		return 2
	}
	if *engine == string(load.EngineWrk) && *dur/time.Duration(*rounds) < time.Second {
		fmt.Fprintf(os.Stderr, "matrix: -engine wrk runs whole seconds: -d ÷ -rounds must be at least 1s (got %s)\n", *dur/time.Duration(*rounds))
		return 2
	}
	concs, err := parseInts(*concList)
	if err != nil {
		fmt.Fprintln(os.Stderr, "matrix: -c:", err)
		return 2
	}
	plan, err := selectPlan(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "matrix: -only:", err)
		return 2
	}
	eng, err := load.ParseEngine(*engine)
	if err != nil {
		fmt.Fprintln(os.Stderr, "matrix: -engine:", err)
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
	defer func() {
		if *keep {
			logger.Info("kept binaries, data and logs", "dir", dir)
			return
		}
		// Logs are small and are what explains a bad row; data and
		// binaries are tens of MB of nothing once the run is over.
		_ = os.RemoveAll(filepath.Join(dir, "bin"))
		_ = os.RemoveAll(filepath.Join(dir, "data"))
		logger.Info("process logs kept", "dir", filepath.Join(dir, "logs"))
	}()

	opts := suite.Options{
		Concurrency: concs, Duration: *dur, Warmup: *warmup, Settle: *settle, Rounds: *rounds,
		Keys: *keys, ValueSize: *valueSize, RequestTimeout: *timeout, Engine: eng, Logger: logger,
	}
	if *progress || isTerminal(os.Stderr) {
		opts.Progress = os.Stderr
	}
	rep, err := runMatrix(ctx, logger, dir, plan, opts, *pprof)
	if err != nil {
		logger.Error("matrix failed", "error", err)
		return 1
	}
	rep.Command = "go run ./bench/matrix"
	if args := strings.Join(os.Args[1:], " "); args != "" {
		rep.Command += " " + args
	}
	if *jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			logger.Error("write JSON", "error", err)
			return 1
		}
	} else {
		rep.WriteMarkdown(os.Stdout)
	}
	if ctx.Err() != nil {
		logger.Warn("interrupted: the report covers only the rows that ran")
		return 1
	}
	return 0
}

// runMatrix builds, starts the cluster, preloads and runs the plan. The
// cluster is closed before it returns, whatever happens.
func runMatrix(ctx context.Context, logger *slog.Logger, dir string, plan []suite.Workload, opts suite.Options, pprof bool) (suite.Report, error) {
	rep := suite.Report{Machine: suite.ThisMachine()}
	root, err := cluster.ModuleRoot(ctx)
	if err != nil {
		return rep, err
	}
	bin := filepath.Join(dir, "bin")
	ccfg := cluster.DefaultConfig()
	ccfg.Dir, ccfg.Logger = dir, logger
	ccfg.Hraftd = filepath.Join(bin, "hraftd")
	if pprof {
		ccfg.NodeArgs = []string{"-pprof"}
		ccfg.DistributorArgs = []string{"-pprof"}
	}
	logger.Info("building", "module", root, "into", bin)
	if err := cluster.Build(ctx, root, ccfg.Hraftd, "."); err != nil {
		return rep, err
	}
	// The distributor is being written alongside this tool; until it
	// builds, its rows are skipped with the reason rather than failing
	// the node rows.
	distBin, distSkip := filepath.Join(bin, "distributor"), ""
	if err := cluster.Build(ctx, root, distBin, "./distributor"); err != nil {
		distSkip = "distributor does not build: " + firstLine(err.Error())
		logger.Warn("skipping the distributor rows", "error", err)
	}
	benchBin, helloSkip := filepath.Join(bin, "bench"), ""
	if err := cluster.Build(ctx, root, benchBin, "./bench"); err != nil {
		helloSkip = "bench does not build: " + firstLine(err.Error())
		logger.Warn("skipping the hello rows", "error", err)
	}

	cl, err := cluster.Start(ctx, ccfg)
	if err != nil {
		return rep, err
	}
	defer func() {
		logger.Info("stopping the cluster")
		cl.Close()
	}()
	rep.LogDir = cl.LogDir
	// A distributor or hello server that will not start costs its own
	// rows, not the whole matrix.
	if distSkip == "" {
		if err := cl.StartDistributor(ctx, distBin); err != nil {
			distSkip = "distributor did not start (logs in " + cl.LogDir + ")"
			logger.Warn("skipping the distributor rows", "error", err)
		}
	}
	if helloSkip == "" {
		if err := cl.StartHello(ctx, benchBin); err != nil {
			helloSkip = "hello server did not start (logs in " + cl.LogDir + ")"
			logger.Warn("skipping the hello rows", "error", err)
		}
	}

	leader, err := cl.Leader(ctx, 0)
	if err != nil {
		return rep, err
	}
	follower, err := cl.Follower(ctx, 0)
	if err != nil {
		return rep, err
	}
	logger.Info("targets", "leader", leader.ID, "leader_http", leader.HTTP, "follower", follower.ID,
		"follower_http", follower.HTTP, "distributor", cl.DistributorURL, "hello", cl.HelloURL)
	oneShardURL, oneShardSkip := "", distSkip
	if distSkip == "" && wants(plan, suite.DistSetOneShard) {
		if oneShardURL, err = cl.StartExtraDistributor(ctx, "distributor-shard0", distBin, []int{0}); err != nil {
			oneShardSkip = "one-shard distributor did not start (logs in " + cl.LogDir + ")"
			logger.Warn("skipping the one-shard distributor row", "error", err)
		}
	}

	opts.Quiesce = func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return cl.Quiesce(ctx)
	}
	// After every process has started: the CPU groups are fixed here.
	if opts.CPU = cpuSampler(ctx, logger, cl); opts.CPU != nil {
		rep.CPUMethod = cpuMethod
	}

	// Reads need their keys in place: through the distributor so each
	// key lands in its own shard, and straight into shard 0 for the
	// follower; then wait until the follower has applied them, or its
	// "none" reads would miss.
	const distReads, nodeReads = "rd", "rn"
	client := load.NewClient(4, opts.RequestTimeout)
	defer client.CloseIdleConnections()
	if distSkip == "" && wants(plan, suite.DistGetLin) {
		logger.Info("preloading through the distributor", "keys", opts.Keys)
		if err := load.Preload(ctx, client, cl.DistributorURL, distReads, opts.Keys, opts.ValueSize); err != nil {
			distSkip = "preload through the distributor failed: " + firstLine(err.Error())
			logger.Warn("skipping the distributor rows", "error", err)
		}
	}
	if wants(plan, suite.NodeGetNone) {
		logger.Info("preloading shard 0", "keys", opts.Keys, "leader", leader.ID)
		if err := load.Preload(ctx, client, leader.URL(), nodeReads, opts.Keys, opts.ValueSize); err != nil {
			return rep, err
		}
		last := string(load.AppendReadKey(nil, nodeReads, opts.Keys-1))
		if err := cl.WaitKey(ctx, follower, last); err != nil {
			return rep, err
		}
	}

	endpoints := map[string]suite.Endpoint{
		suite.DistSetOneShard: {URL: oneShardURL, Skip: oneShardSkip},
		suite.DistSet:         {URL: cl.DistributorURL, Skip: distSkip},
		suite.NodeSet:         {URL: leader.URL()},
		suite.DistGetLin:      {URL: cl.DistributorURL, ReadPrefix: distReads, Skip: distSkip},
		suite.NodeGetNone:     {URL: follower.URL(), ReadPrefix: nodeReads},
		suite.Hello:           {URL: cl.HelloURL, Skip: helloSkip},
	}
	rep.Method = fmt.Sprintf("Each row: %s measured in %d slice(s); at each c the workloads take turns slice by slice, "+
		"so the rows a target compares ran interleaved over the same minutes; %s warmup before a row's first slice, "+
		"up to %s before each later one. c closed-loop workers (one request in flight each, "+
		"one keep-alive connection each, %s client) in the matrix process on the same machine; %d B values; every write a new key; "+
		"reads over %d preloaded keys; req/s counts successful answers only. 2 shards × 3 hraftd nodes (disk-backed, "+
		"fsync on), distributor and hello server, all on 127.0.0.1; before each slice, every node has applied all its leader had committed.",
		opts.Duration, max(opts.Rounds, 1), opts.Warmup, min(opts.Warmup, 250*time.Millisecond), opts.Engine, opts.ValueSize, opts.Keys)
	rep.Rows = suite.Run(ctx, plan, endpoints, opts)
	rep.Checks = suite.Checks(rep.Rows)
	return rep, nil
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
// the standard ones.
func selectPlan(only string) ([]suite.Workload, error) {
	if strings.TrimSpace(only) == "" {
		return suite.Standard, nil
	}
	want := map[string]bool{}
	for id := range strings.SplitSeq(only, ",") {
		want[strings.TrimSpace(id)] = true
	}
	var plan []suite.Workload
	for _, w := range append(append([]suite.Workload(nil), suite.Standard...), suite.Diagnostic...) {
		if want[w.ID] {
			plan = append(plan, w)
			delete(want, w.ID)
		}
	}
	for id := range want {
		return nil, fmt.Errorf("unknown workload %q", id)
	}
	return plan, nil
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
