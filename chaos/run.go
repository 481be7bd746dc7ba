package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/kvraft/hraftd/internal/cluster"
	"github.com/kvraft/hraftd/kv"
)

// Config configures a chaos run. Start from DefaultConfig.
type Config struct {
	// Secure runs the cluster with TLS (HTTPS APIs, mutual-TLS Raft) and
	// -auth; the clients use the launcher's admin certificate.
	Secure bool
	// Duration is how long the clients run while the nemesis injects
	// faults; the run goes on past it until every fault kind has been
	// injected once.
	Duration time.Duration
	// Clients is the number of concurrent clients; Keys the size of the
	// key set they share (small, so that operations collide).
	Clients, Keys int
	// OneShotClients of the Clients make one attempt per call and take
	// any failure as final (so their failed writes stay Unknown); the
	// others retry a call, with the same Idempotency-Key, until it gets a
	// definite answer or ClientTimeout passes.
	OneShotClients int
	// Seed makes the fault schedule and the clients' choices repeatable
	// (timing still varies from run to run).
	Seed uint64
	// Via is ViaDistributor or ViaNodes; ReadLevel is the ?level= of
	// every read ("linearizable" is the claim under test).
	Via, ReadLevel string
	// Faults lists the fault kinds to inject; nil means AllFaults (less
	// restart-distributor when clients go ViaNodes).
	Faults []string
	// HoldMin and HoldMax bound how long each fault is held.
	HoldMin, HoldMax time.Duration
	// Quiet is the fault-free pause after each fault has healed.
	Quiet time.Duration
	// Think bounds a client's random pause between calls.
	Think time.Duration
	// OnceRatio is the share of calls that write a fresh write-once key
	// (checked to be readable at the end).
	OnceRatio float64
	// ClientTimeout bounds one call; it should exceed DistributorTimeout,
	// so that the distributor gives its definite answer first.
	ClientTimeout      time.Duration
	DistributorTimeout time.Duration
	// CheckTimeout bounds the porcupine check; past it the verdict is
	// "unknown".
	CheckTimeout time.Duration
	// CrashRecovery adds the phase that kills all three nodes of a shard
	// under a write load and restarts them.
	CrashRecovery bool
	// Dir holds the cluster's data and logs; the caller removes it.
	Dir string
	// ArtifactsDir receives, when a run fails, the porcupine visualization,
	// the history, the nemesis log and a copy of every process's log. If
	// empty, a new directory under os.TempDir() is made then (and only
	// then).
	ArtifactsDir string
	// Logf receives progress messages; nil discards them.
	Logf func(format string, args ...any)
}

// DefaultConfig is the configuration of `make chaos`.
func DefaultConfig() Config {
	return Config{
		Duration:           2 * time.Minute,
		Clients:            8,
		Keys:               8,
		OneShotClients:     2,
		Seed:               uint64(time.Now().UnixNano()),
		Via:                ViaDistributor,
		ReadLevel:          string(kv.ReadLinearizable),
		HoldMin:            2 * time.Second,
		HoldMax:            6 * time.Second,
		Quiet:              time.Second,
		Think:              5 * time.Millisecond,
		OnceRatio:          0.05,
		ClientTimeout:      15 * time.Second,
		DistributorTimeout: 10 * time.Second,
		CheckTimeout:       2 * time.Minute,
		CrashRecovery:      true,
	}
}

// Run starts a cluster, runs the clients and the nemesis, heals, checks,
// and stops the cluster. An error means the harness could not do its job
// (the cluster did not start); what the run found about the system is in
// the Report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Dir == "" {
		return nil, errors.New("chaos: Config.Dir is required")
	}
	cfg.defaults()
	logf := cfg.Logf
	rep := &Report{Config: cfg, Ops: map[OpKind]map[Outcome]int{}, NotOK: map[string]int{}, Faults: map[string]int{}}
	start := time.Now()
	defer func() { rep.Elapsed = time.Since(start) }()

	c, err := cluster.Start(ctx, clusterConfig(cfg, logf))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	cl := NewClient(c, cfg.Via, cfg.ReadLevel, cfg.ClientTimeout)
	defer cl.Close()

	keys := make([]string, cfg.Keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6e656d))
	w := &workload{cl: cl, keys: keys, clients: cfg.Clients, oneShot: cfg.OneShotClients, onceRatio: cfg.OnceRatio, think: cfg.Think, seed: cfg.Seed}
	nm := &nemesis{
		c: c, rng: rng, kinds: cfg.Faults, holdMin: cfg.HoldMin, holdMax: cfg.HoldMax, quiet: cfg.Quiet,
		logf: logf, start: time.Now(), counts: map[string]int{},
	}
	rep.base = time.Now()

	logf("running %d clients (%d of them one-shot) on %d keys via the %s for %s, faults: %v (seed %d)",
		cfg.Clients, cfg.OneShotClients, cfg.Keys, cfg.Via, cfg.Duration, cfg.Faults, cfg.Seed)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { w.run(ctx, stop) })
	nm.run(ctx, time.Now().Add(cfg.Duration))
	close(stop)
	wg.Wait()
	logf("clients stopped: %d calls on shared keys, %d write-once writes", len(w.records), len(w.once))

	rep.Faults, rep.FaultLog, rep.Problems = nm.counts, nm.log, nm.problems
	rep.MinorityRefused, rep.MinorityAccepted = nm.refused, nm.accepted

	if ctx.Err() == nil {
		checkAfter(ctx, cfg, c, cl, w, rep, rng, logf)
	} else {
		rep.problem("run interrupted: %v", ctx.Err())
	}
	rep.records = w.records
	rep.tally(w.records)

	// The processes are no longer needed: stop them before the check so
	// that it has the CPU to itself.
	c.Close()
	if ctx.Err() != nil {
		// Interrupted: calls were cut short by the harness itself, so
		// the history proves nothing either way; do not check it.
		rep.Check.Result = porcupine.Unknown
		rep.Interrupted = true
		return rep, nil
	}
	ops := Operations(w.records, rep.base)
	logf("checking %d operations with porcupine (timeout %s)", len(ops), cfg.CheckTimeout)
	rep.Check = Check(ops, cfg.CheckTimeout)
	logf("check: %s in %s", rep.Check.Result, rep.Check.Took.Round(time.Millisecond))

	if !rep.OK() {
		if err := writeArtifacts(rep, c); err != nil {
			rep.problem("writing the failure artifacts: %v", err)
		}
	}
	return rep, nil
}

// defaults fills in Faults (nil: AllFaults, less restart-distributor when
// the clients go to the nodes) and Logf.
func (cfg *Config) defaults() {
	if cfg.Faults == nil {
		for _, f := range AllFaults {
			if f != FaultRestartDistributor || cfg.Via == ViaDistributor {
				cfg.Faults = append(cfg.Faults, f)
			}
		}
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
}

// clusterConfig is the cluster a run starts: the seed's 2 shards of 3
// nodes with fault injection (for the partitions), and a distributor when
// the clients go through one.
func clusterConfig(cfg Config, logf func(string, ...any)) cluster.Config {
	cc := cluster.DefaultConfig()
	cc.Dir, cc.Logf = cfg.Dir, logf
	cc.Secure = cfg.Secure
	cc.NodeArgs = []string{"-fault-injection"}
	cc.Distributor = cfg.Via == ViaDistributor
	cc.DistributorArgs = []string{"-timeout", cfg.DistributorTimeout.String()}
	return cc
}
