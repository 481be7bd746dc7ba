// Command chaos runs a chaos session against real hraftd and distributor
// processes on this machine and prints what it found: `make chaos`.
//
// It builds both programs from the module it is run in, starts 2 shards × 3
// nodes and a distributor on free 127.0.0.1 ports, runs concurrent clients
// through the distributor while killing, pausing and partitioning nodes and
// restarting the distributor, then heals everything and checks that the
// history is linearizable (porcupine), that no acknowledged write was lost,
// that the replicas of each shard converged, and that a shard whose three
// nodes are all killed at once recovers every acknowledged write.
//
// Exit status: 0 all checks passed; 1 a check failed (the artifacts
// directory printed holds porcupine's HTML view of the history and every
// process's log); 2 the harness could not run; 3 the linearizability check
// ran out of time, so there is no verdict.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/kvraft/hraftd/chaos"
)

func main() {
	os.Exit(run())
}

func run() int {
	def := chaos.DefaultConfig()
	cfg := def
	var (
		faults  string
		keep    bool
		verbose bool
	)
	flag.DurationVar(&cfg.Duration, "duration", def.Duration, "how long to inject faults while clients run (every fault kind is injected at least once, however short)")
	flag.IntVar(&cfg.Clients, "clients", def.Clients, "concurrent clients")
	flag.IntVar(&cfg.OneShotClients, "one-shot", def.OneShotClients, "how many of the clients make a single attempt per call, leaving failed writes with an unknown outcome (the others retry with the same Idempotency-Key)")
	flag.IntVar(&cfg.Keys, "keys", def.Keys, "size of the shared key set (small, so operations collide)")
	flag.Uint64Var(&cfg.Seed, "seed", 0, "seed for the fault schedule and the clients' choices; 0 means one from the clock (the summary prints it, to repeat a run's schedule)")
	flag.StringVar(&cfg.Via, "via", def.Via, "where clients send requests: distributor, or nodes (a random node of the key's shard)")
	flag.StringVar(&cfg.ReadLevel, "level", def.ReadLevel, "read level of every client read; anything but linearizable is expected to fail the check")
	flag.StringVar(&faults, "faults", strings.Join(chaos.AllFaults, ","), "comma-separated fault kinds to inject")
	flag.DurationVar(&cfg.HoldMin, "hold-min", def.HoldMin, "shortest time a fault is held")
	flag.DurationVar(&cfg.HoldMax, "hold-max", def.HoldMax, "longest time a fault is held")
	flag.DurationVar(&cfg.CheckTimeout, "check-timeout", def.CheckTimeout, "time limit of the linearizability check; past it the verdict is unknown")
	flag.BoolVar(&cfg.CrashRecovery, "crash", def.CrashRecovery, "also kill all nodes of one shard under load and check every acknowledged write survives")
	flag.StringVar(&cfg.ArtifactsDir, "artifacts", "", "where to write the history and logs if a check fails (default: a new directory under $TMPDIR)")
	flag.BoolVar(&keep, "keep", false, "keep the work directory (data dirs and logs of every process) after the run")
	flag.BoolVar(&verbose, "v", false, "print progress and every fault as it happens")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "chaos: unexpected arguments %q; see chaos -h\n", flag.Args())
		return 2
	}
	if cfg.Seed == 0 {
		cfg.Seed = def.Seed
	}
	cfg.Faults = nil
	known := map[string]bool{}
	for _, k := range chaos.AllFaults {
		known[k] = true
	}
	for f := range strings.SplitSeq(faults, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !known[f] {
			fmt.Fprintf(os.Stderr, "chaos: unknown fault kind %q; known: %s\n", f, strings.Join(chaos.AllFaults, ", "))
			return 2
		}
		if f == chaos.FaultRestartDistributor && cfg.Via != chaos.ViaDistributor {
			continue
		}
		cfg.Faults = append(cfg.Faults, f)
	}
	if len(cfg.Faults) == 0 {
		fmt.Fprintln(os.Stderr, "chaos: no fault kinds to inject")
		return 2
	}
	if cfg.Via != chaos.ViaDistributor && cfg.Via != chaos.ViaNodes {
		fmt.Fprintf(os.Stderr, "chaos: -via %q: use distributor or nodes\n", cfg.Via)
		return 2
	}
	if cfg.HoldMax < cfg.HoldMin {
		fmt.Fprintln(os.Stderr, "chaos: -hold-max is below -hold-min")
		return 2
	}

	// On SIGINT or SIGTERM the run stops early and every process it
	// started is killed (the children are in their own process group, so
	// a Ctrl-C reaches only this process, which cleans up). A second
	// signal kills this process at once; the kernel then kills the
	// children (they were started with a parent-death signal).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()

	work, err := os.MkdirTemp("", "chaos-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	if keep {
		fmt.Fprintf(os.Stderr, "chaos: work directory (kept): %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	cfg.Dir = filepath.Join(work, "cluster")
	start := time.Now()
	logf := func(format string, args ...any) {
		if verbose {
			fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
		}
	}
	cfg.Logf = logf

	fmt.Fprintf(os.Stderr, "chaos: building hraftd and the distributor...\n")
	bins, err := chaos.Build(ctx, filepath.Join(work, "bin"), cfg.Via == chaos.ViaDistributor)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	cfg.Bin = bins
	fmt.Fprintf(os.Stderr, "chaos: running for %s with faults %s (seed %d; -v for progress)...\n", cfg.Duration, strings.Join(cfg.Faults, ","), cfg.Seed)
	rep, err := chaos.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	fmt.Print(rep.Summary())
	switch {
	case ctx.Err() != nil:
		return 1
	case rep.OK():
		return 0
	case rep.Check.Result == porcupine.Unknown && rep.Lost() == 0 && len(rep.Problems) == 0:
		return 3
	}
	return 1
}
