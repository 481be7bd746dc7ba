// Command bench puts HTTP load on an hraftd node, the distributor or a bare
// hello server and prints throughput, errors and latency percentiles.
//
// The full side-by-side matrix (a fresh 2×3 cluster, the distributor and
// every workload at c = 1, 16, 64) is bench/matrix. Flags and wiring live here; the load itself is package
// bench/load.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kvraft/hraftd/bench/load"
)

const usageText = `bench drives set, get or mixed load against an hraftd node, the
distributor, or any URL (target hello), with -c workers each keeping one
request in flight, and prints throughput, errors and p50/p90/p99/p99.9.

Usage:
  bench [flags]
  bench -serve-hello 127.0.0.1:0     serve "hello" (the box's ceiling) and print its URL

Examples:
  bench -target node -url http://127.0.0.1:11000 -workload set -c 64 -d 5s
  bench -target distributor -url http://127.0.0.1:8080 -workload get -level linearizable -c 64
  bench -target hello -url http://127.0.0.1:18000/ -c 64
  bench -engine net/http ...    # Go's pooled client instead of the lean raw one

Writes go to a new key on every request (<prefix>-w<worker>-<seq>); reads
pick at random among -keys keys (<prefix>-k<i>) that are written first
unless -preload=false. The default raw engine is a minimal HTTP/1.1 client
(one keep-alive connection per worker) that costs the box far less CPU than
net/http's, so the server, not the client, is what gets measured. Only
loopback URLs are accepted unless -allow-remote.

Flags:
`

func main() {
	os.Exit(run())
}

func run() int {
	def := load.DefaultConfig()
	var (
		target      = flag.String("target", string(def.Target), "What to load: node (POST /key, GET /key/{k}), distributor (POST /set, GET /get/{clave}) or hello (GET -url)")
		rawURL      = flag.String("url", "", "Base URL of the node or distributor, or the URL to GET for hello (default: http://127.0.0.1:11000 for node, http://127.0.0.1:8080 for distributor)")
		workload    = flag.String("workload", string(def.Workload), "set, get or mixed")
		conc        = flag.Int("c", def.Concurrency, "Concurrency: workers, each with one request in flight")
		dur         = flag.Duration("d", def.Duration, "How long to measure")
		warmup      = flag.Duration("warmup", 500*time.Millisecond, "Unrecorded load before measuring (opens connections, warms caches)")
		keys        = flag.Int("keys", def.Keys, "How many keys reads choose from")
		valueSize   = flag.Int("value-size", def.ValueSize, "Bytes per written value")
		level       = flag.String("level", "", "Read level sent as ?level= (none, weak, linearizable); empty uses the server's default")
		reads       = flag.Float64("reads", def.ReadFraction, "Share of reads in the mixed workload, 0 to 1")
		prefix      = flag.String("prefix", def.Prefix, "Prefix of every key (letters, digits, '.', '_', '-')")
		seed        = flag.Uint64("seed", def.Seed, "Seed for the choice of operations and read keys")
		timeout     = flag.Duration("timeout", def.RequestTimeout, "Deadline of each request; a slower answer counts as an error")
		preload     = flag.Bool("preload", true, "Before reading, write the -keys keys reads choose from (POST /key in batches)")
		jsonOut     = flag.Bool("json", false, "Print the result as one JSON object (latencies in nanoseconds)")
		progress    = flag.Bool("progress", false, "Show the progress bar even when stderr is not a terminal")
		allowRemote = flag.Bool("allow-remote", false, "Allow a URL that is not on this machine")
		engine      = flag.String("engine", string(def.Engine), "HTTP client: raw (minimal HTTP/1.1, one connection per worker, cheap like wrk) or net/http (Go's pooled client), or wrk (the C load generator, run as a child process; install it first, e.g. apt-get install wrk)")
		serveHello  = flag.String("serve-hello", "", "Instead of loading, serve \"hello\" on this address (e.g. 127.0.0.1:0) until interrupted")
	)
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), usageText)
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected arguments %q; run bench -h for help\n", flag.Args())
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *serveHello != "" {
		if err := serveHelloUntil(ctx, *serveHello, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		return 0
	}

	cfg := def
	cfg.Concurrency, cfg.Duration, cfg.Warmup = *conc, *dur, *warmup
	cfg.Keys, cfg.ValueSize, cfg.Level, cfg.ReadFraction = *keys, *valueSize, *level, *reads
	cfg.Prefix, cfg.Seed, cfg.RequestTimeout, cfg.AllowRemote = *prefix, *seed, *timeout, *allowRemote
	var err error
	if cfg.Target, err = load.ParseTarget(*target); err != nil {
		return usageError(err)
	}
	if cfg.Workload, err = load.ParseWorkload(*workload); err != nil {
		return usageError(err)
	}
	if cfg.Engine, err = load.ParseEngine(*engine); err != nil {
		return usageError(err)
	}
	cfg.URL = *rawURL
	if cfg.URL == "" {
		switch cfg.Target {
		case load.TargetNode:
			cfg.URL = "http://127.0.0.1:11000"
		case load.TargetDistributor:
			cfg.URL = "http://127.0.0.1:8080"
		default:
			return usageError(fmt.Errorf("-target hello needs -url, e.g. the one bench -serve-hello prints"))
		}
	}
	if err := cfg.Validate(); err != nil {
		return usageError(err)
	}
	if *progress || isTerminal(os.Stderr) {
		cfg.Progress = os.Stderr
	}
	cfg.Client = load.NewClient(cfg.Concurrency, cfg.RequestTimeout)

	return drive(ctx, cfg, *preload, *jsonOut)
}

// drive preloads the keys reads need (if asked), runs the load and prints
// its result.
func drive(ctx context.Context, cfg load.Config, preload, jsonOut bool) int {
	if preload && cfg.Workload != load.WorkloadSet && cfg.Target != load.TargetHello {
		fmt.Fprintf(os.Stderr, "bench: preloading %d keys...\n", cfg.Keys)
		// A preload that cannot finish in a minute means the server is
		// not there or not healthy; say so rather than hang.
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := load.Preload(pctx, cfg.Client, cfg.URL, cfg.Prefix, cfg.Keys, cfg.ValueSize)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}

	res, err := load.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	} else {
		res.WriteText(os.Stdout)
	}
	if res.OK == 0 {
		// Nothing succeeded: a script should not mistake this for a result.
		return 1
	}
	return 0
}

func usageError(err error) int {
	fmt.Fprintf(os.Stderr, "bench: %v\nrun bench -h for help\n", err)
	return 2
}

// isTerminal reports whether f is a character device, which is how a
// terminal looks from here without a dependency on x/term; a redirected or
// piped stderr then gets no progress bar's carriage returns.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
