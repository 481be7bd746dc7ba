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
	"errors"
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
	"github.com/kvraft/hraftd/internal/cluster"
)

func main() {
	os.Exit(run())
}

// options are the command line's settings that are not the run's.
type options struct {
	keep, verbose bool
}

// parseFlags reads the command line into a run's configuration.
func parseFlags() (chaos.Config, options, error) {
	def := chaos.DefaultConfig()
	cfg := def
	var (
		faults string
		o      options
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
	flag.BoolVar(&cfg.Secure, "secure", false, "run the cluster with TLS (HTTPS, mutual-TLS Raft) and -auth")
	flag.BoolVar(&cfg.CrashRecovery, "crash", def.CrashRecovery, "also kill all nodes of one shard under load and check every acknowledged write survives")
	flag.StringVar(&cfg.ArtifactsDir, "artifacts", "", "where to write the history and logs if a check fails (default: a new directory under $TMPDIR)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (data dirs and logs of every process) after the run")
	flag.BoolVar(&o.verbose, "v", false, "print progress and every fault as it happens")
	flag.Parse()
	if flag.NArg() > 0 {
		return cfg, o, fmt.Errorf("unexpected arguments %q; see chaos -h", flag.Args())
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
			return cfg, o, fmt.Errorf("unknown fault kind %q; known: %s", f, strings.Join(chaos.AllFaults, ", "))
		}
		if f == chaos.FaultRestartDistributor && cfg.Via != chaos.ViaDistributor {
			continue
		}
		cfg.Faults = append(cfg.Faults, f)
	}
	switch {
	case len(cfg.Faults) == 0:
		return cfg, o, errors.New("no fault kinds to inject")
	case cfg.Via != chaos.ViaDistributor && cfg.Via != chaos.ViaNodes:
		return cfg, o, fmt.Errorf("-via %q: use distributor or nodes", cfg.Via)
	case cfg.HoldMax < cfg.HoldMin:
		return cfg, o, errors.New("-hold-max is below -hold-min")
	}
	return cfg, o, nil
}

func run() int {
	cfg, o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
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
	if o.keep {
		fmt.Fprintf(os.Stderr, "chaos: work directory (kept): %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	cfg.Dir = filepath.Join(work, "cluster")
	start := time.Now()
	logf := func(format string, args ...any) {
		if o.verbose {
			fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
		}
	}
	cfg.Logf = logf

	// Built up front, so that a compile error reads as one; the run
	// reuses the binaries.
	fmt.Fprintf(os.Stderr, "chaos: building hraftd and the distributor...\n")
	defer cluster.RemoveBuilds()
	pkgs := []string{cluster.PkgHraftd}
	if cfg.Via == chaos.ViaDistributor {
		pkgs = append(pkgs, cluster.PkgDistributor)
	}
	for _, pkg := range pkgs {
		if _, err := cluster.Build(ctx, pkg); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 2
		}
	}
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
