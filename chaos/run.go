package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/kvraft/hraftd/api"
)

// Config configures a chaos run. Start from DefaultConfig.
type Config struct {
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
	// Bin are the programs to run (see Build).
	Bin Binaries
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
		ReadLevel:          api.LevelLinearizable,
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

// Report is what a run found.
type Report struct {
	Config  Config
	Elapsed time.Duration

	// Ops counts client calls on the shared keys by kind and outcome.
	Ops map[OpKind]map[Outcome]int
	// NotOK counts the calls that were not OK by what went wrong.
	NotOK map[string]int

	// Faults counts injected faults by kind; FaultLog is the nemesis's
	// timeline.
	Faults   map[string]int
	FaultLog []string
	// MinorityRefused and MinorityAccepted count the calls sent straight
	// to the minority side of a partition (must all be refused).
	MinorityRefused, MinorityAccepted int

	// Check is porcupine's verdict on the shared keys' history, final
	// reads included.
	Check CheckResult

	// Write-once keys: acknowledged, and of those lost; unknown writes
	// found applied or not (either is allowed).
	OnceAcked, OnceLost, OnceUnknownPresent, OnceUnknownAbsent int

	// Digests are each shard's converged state after healing.
	Digests []api.Digest

	Crash *CrashReport

	// Interrupted is set when the run was cut short (ctx ended); the
	// history was then not checked.
	Interrupted bool

	// Problems lists everything that makes the run fail, besides a
	// non-linearizable history.
	Problems []string
	// ArtifactsDir is where the failure artifacts went, if anywhere.
	ArtifactsDir string

	records []Record
	base    time.Time
}

// CrashReport is what the crash-recovery phase found.
type CrashReport struct {
	Shard int
	// Acked is how many writes were acknowledged in the phase; OnShard
	// how many of them went to the crashed shard before it crashed; Lost
	// how many acknowledged writes could not be read back.
	Acked, OnShard, Unknown, Lost int
	// Down is how long the shard had no running node.
	Down time.Duration
	// Recovery is how long from restart until the shard was healthy.
	Recovery time.Duration
}

// Lost is the number of acknowledged writes that could not be read back
// (write-once keys and crash-recovery keys; the shared keys' writes are
// covered by the linearizability check, final reads included).
func (r *Report) Lost() int {
	n := r.OnceLost
	if r.Crash != nil {
		n += r.Crash.Lost
	}
	return n
}

// OK reports whether the run proved what it set out to: a linearizable
// history, no acknowledged write lost, replicas converged, and no other
// problem.
func (r *Report) OK() bool {
	return r.Check.Result == porcupine.Ok && r.Lost() == 0 && len(r.Problems) == 0
}

// Run starts a cluster, runs the clients and the nemesis, heals, checks,
// and stops the cluster. An error means the harness could not do its job
// (the cluster did not start); what the run found about the system is in
// the Report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Dir == "" {
		return nil, errors.New("chaos: Config.Dir is required")
	}
	if cfg.Faults == nil {
		for _, f := range AllFaults {
			if f != FaultRestartDistributor || cfg.Via == ViaDistributor {
				cfg.Faults = append(cfg.Faults, f)
			}
		}
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	rep := &Report{Config: cfg, Ops: map[OpKind]map[Outcome]int{}, NotOK: map[string]int{}, Faults: map[string]int{}}
	start := time.Now()
	defer func() { rep.Elapsed = time.Since(start) }()

	c, err := StartCluster(ctx, ClusterConfig{
		Dir: cfg.Dir, Bin: cfg.Bin, Distributor: cfg.Via == ViaDistributor,
		DistributorTimeout: cfg.DistributorTimeout, Logf: logf,
	})
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

	for _, r := range w.records {
		if rep.Ops[r.Input.Op] == nil {
			rep.Ops[r.Input.Op] = map[Outcome]int{}
		}
		rep.Ops[r.Input.Op][r.Outcome]++
		if r.Outcome != OK {
			rep.NotOK[r.Input.Op.String()+": "+r.Detail]++
		}
	}

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

// checkAfter heals the cluster and checks what must hold once it is whole:
// final reads of the shared keys (added to the history), every write-once
// key, converged replicas; then runs the crash-recovery phase. Each phase
// has its own deadline, so one that hangs cannot starve the next.
func checkAfter(ctx context.Context, cfg Config, c *Cluster, cl *Client, w *workload, rep *Report, rng *rand.Rand, logf func(string, ...any)) {
	phase := func(d time.Duration) (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, d) }

	pctx, cancel := phase(2 * time.Minute)
	err := healAll(pctx, c)
	cancel()
	if err != nil {
		rep.problem("healing the cluster after the run: %v", err)
	}

	// Final reads: the last word on every shared key, checked along with
	// the history.
	pctx, cancel = phase(time.Minute)
	w.records = append(w.records, finalReads(pctx, cl, w.keys, cfg.Clients)...)
	cancel()

	pctx, cancel = phase(2 * time.Minute)
	verifyOnce(pctx, cl, w.once, rep)
	cancel()

	converge := func(when string) {
		rep.Digests = rep.Digests[:0]
		for s := range c.Shards {
			pctx, cancel := phase(30 * time.Second)
			d, err := c.Converged(pctx, s, 30*time.Second)
			cancel()
			if err != nil {
				rep.problem("%s%v", when, err)
			}
			rep.Digests = append(rep.Digests, d)
		}
	}
	converge("")
	if cfg.CrashRecovery && ctx.Err() == nil {
		pctx, cancel = phase(3 * time.Minute)
		cr, err := crashRecovery(pctx, c, cl, rng, logf)
		cancel()
		rep.Crash = cr
		if err != nil {
			rep.problem("crash recovery: %v", err)
		}
		converge("after crash recovery: ")
	}
	if ctx.Err() != nil {
		rep.problem("run interrupted: %v", ctx.Err())
	}
}

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// healAll removes every partition, resumes and restarts every process, and
// waits until every shard is healthy.
func healAll(ctx context.Context, c *Cluster) error {
	var errs []error
	for s, nodes := range c.Shards {
		for _, n := range nodes {
			if !n.Running() {
				errs = append(errs, c.StartNode(ctx, n))
			} else {
				_ = n.Resume()
			}
		}
		errs = append(errs, c.Heal(ctx, s))
	}
	if c.Dist != nil && !c.Dist.Running() {
		errs = append(errs, c.StartDistributor(ctx))
	}
	for s := range c.Shards {
		_, err := c.WaitHealthy(ctx, s, 60*time.Second)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// finalReads reads every key once, retrying a read that gets no answer (a
// few times, within ctx), as a client of its own.
func finalReads(ctx context.Context, cl *Client, keys []string, client int) []Record {
	rng := rand.New(rand.NewPCG(1, 2))
	var out []Record
	for _, k := range keys {
		for attempt := 0; attempt < 10; attempt++ {
			in := Input{Op: OpGet, Key: k}
			start := time.Now()
			o, oc, detail := cl.Do(ctx, in, rng)
			out = append(out, Record{Client: client, Input: in, Output: o, Outcome: oc, Start: start, End: time.Now(), Detail: "final read; " + detail})
			if oc == OK || !sleepCtx(ctx, nil, 200*time.Millisecond) {
				break
			}
		}
	}
	return out
}

// readBack reads key until it gets a definite answer (up to 30 s).
func readBack(ctx context.Context, cl *Client, key string) (Output, error) {
	rng := rand.New(rand.NewPCG(3, 4))
	var last string
	var out Output
	err := pollUntil(ctx, 30*time.Second, 200*time.Millisecond, func() (bool, error) {
		o, oc, detail := cl.Do(ctx, Input{Op: OpGet, Key: key}, rng)
		if oc == OK {
			out = o
			return true, nil
		}
		last = detail
		return false, nil
	})
	if err != nil {
		return Output{}, fmt.Errorf("reading %q back: %w (last: %s)", key, err, last)
	}
	return out, nil
}

// verifyOnce reads back every write-once key: an acknowledged one must
// hold exactly the value written; an unknown one may be there or not.
func verifyOnce(ctx context.Context, cl *Client, once []Record, rep *Report) {
	type result struct {
		r   Record
		out Output
		err error
	}
	var todo []Record
	for _, r := range once {
		if r.Outcome != Failed {
			todo = append(todo, r)
		}
	}
	results := parallelMap(todo, 8, func(r Record) result {
		out, err := readBack(ctx, cl, r.Input.Key)
		return result{r, out, err}
	})
	for _, res := range results {
		switch {
		case res.err != nil:
			rep.problem("write-once: %v", res.err)
		case res.r.Outcome == OK:
			rep.OnceAcked++
			if !res.out.Found || res.out.Value != res.r.Input.Value {
				rep.OnceLost++
				rep.problem("LOST WRITE: set(%s, %s) was acknowledged at %s but a read now returns %s",
					res.r.Input.Key, res.r.Input.Value, res.r.End.Format(time.RFC3339Nano), describe(res.out))
			}
		case res.out.Found && res.out.Value == res.r.Input.Value:
			rep.OnceUnknownPresent++
		case res.out.Found:
			rep.problem("write-once key %s holds %q, which nobody wrote", res.r.Input.Key, res.out.Value)
		default:
			rep.OnceUnknownAbsent++
		}
	}
}

func describe(o Output) string {
	if !o.Found {
		return "absent"
	}
	return fmt.Sprintf("%q", o.Value)
}

// parallelMap applies f to every item with n workers, keeping the order.
func parallelMap[T, R any](items []T, n int, f func(T) R) []R {
	out := make([]R, len(items))
	next := make(chan int)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for i := range next {
				out[i] = f(items[i])
			}
		})
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// crashRecovery kills all the nodes of one shard with SIGKILL in the middle
// of a write load, restarts them on their data directories, and reads back
// every acknowledged write.
func crashRecovery(ctx context.Context, c *Cluster, cl *Client, rng *rand.Rand, logf func(string, ...any)) (*CrashReport, error) {
	cr := &CrashReport{Shard: rng.IntN(len(c.Shards))}
	logf("crash recovery: write load, then kill -9 every node of shard %d", cr.Shard)
	var (
		mu      sync.Mutex
		recs    []Record
		crashed = make(chan struct{})
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for id := range 4 {
		wg.Go(func() {
			wrng := rand.New(rand.NewPCG(uint64(id), 99))
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				in := Input{Op: OpPut, Key: fmt.Sprintf("crash/w%d/%d", id, seq), Value: fmt.Sprintf("crash-%d-%d", id, seq)}
				start := time.Now()
				_, oc, detail := cl.Do(ctx, in, wrng)
				r := Record{Client: id, Input: in, Outcome: oc, Start: start, End: time.Now(), Detail: detail}
				select {
				case <-crashed:
				default:
					// Acknowledged before the kill began: these are
					// the writes the crash must not lose.
					if oc == OK && c.ShardOf(in.Key) == cr.Shard {
						r.Detail = "before-crash"
					}
				}
				mu.Lock()
				recs = append(recs, r)
				mu.Unlock()
				if oc != OK && !sleepCtx(ctx, stop, 50*time.Millisecond) {
					return
				}
			}
		})
	}
	stopWriters := func() { close(stop); wg.Wait() }

	// Let acknowledgements pile up on the doomed shard first.
	_ = pollUntil(ctx, 10*time.Second, 50*time.Millisecond, func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range recs {
			if r.Detail == "before-crash" {
				n++
			}
		}
		return n >= 50, nil
	})
	close(crashed)
	nodes := c.Shards[cr.Shard]
	var kwg sync.WaitGroup
	for _, n := range nodes {
		kwg.Go(func() { _ = n.Kill() })
	}
	kwg.Wait()
	down := time.Now()
	logf("crash recovery: every node of shard %d killed", cr.Shard)
	sleepCtx(ctx, nil, time.Second)
	var serrs = make([]error, len(nodes))
	for i, n := range nodes {
		kwg.Go(func() { serrs[i] = c.StartNode(ctx, n) })
	}
	kwg.Wait()
	cr.Down = time.Since(down)
	t0 := time.Now()
	if err := errors.Join(serrs...); err != nil {
		stopWriters()
		return cr, err
	}
	if _, err := c.WaitHealthy(ctx, cr.Shard, 60*time.Second); err != nil {
		stopWriters()
		return cr, err
	}
	cr.Recovery = time.Since(t0)
	logf("crash recovery: shard %d healthy %.1fs after the restart", cr.Shard, cr.Recovery.Seconds())
	// A little more load on the recovered shard, then read everything.
	sleepCtx(ctx, nil, time.Second)
	stopWriters()

	var acked []Record
	for _, r := range recs {
		switch r.Outcome {
		case OK:
			cr.Acked++
			acked = append(acked, r)
			if r.Detail == "before-crash" {
				cr.OnShard++
			}
		case Unknown:
			cr.Unknown++
		}
	}
	var errs []error
	outs := parallelMap(acked, 8, func(r Record) error {
		out, err := readBack(ctx, cl, r.Input.Key)
		if err != nil {
			return err
		}
		if !out.Found || out.Value != r.Input.Value {
			return fmt.Errorf("LOST WRITE: set(%s, %s) acknowledged at %s, now reads %s", r.Input.Key, r.Input.Value, r.End.Format(time.RFC3339Nano), describe(out))
		}
		return nil
	})
	for _, err := range outs {
		if err != nil {
			if strings.HasPrefix(err.Error(), "LOST") {
				cr.Lost++
			}
			errs = append(errs, err)
		}
	}
	logf("crash recovery: %d writes acknowledged (%d on shard %d before the crash), %d unknown, %d lost", cr.Acked, cr.OnShard, cr.Shard, cr.Unknown, cr.Lost)
	return cr, errors.Join(errs...)
}

// writeArtifacts puts what is needed to study a failed run into one
// directory: porcupine's visualization, the history as JSON, the nemesis's
// timeline, the problems, and every process's log.
func writeArtifacts(rep *Report, c *Cluster) error {
	dir := rep.Config.ArtifactsDir
	if dir == "" {
		d, err := os.MkdirTemp("", "chaos-failure-*")
		if err != nil {
			return err
		}
		dir = d
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return err
	}
	rep.ArtifactsDir = dir
	var errs []error
	if rep.Check.Ops > 0 {
		errs = append(errs, Visualize(rep.Check, filepath.Join(dir, "history.html")))
	}
	errs = append(errs, writeJSONFile(filepath.Join(dir, "history.json"), historyJSON(rep)))
	errs = append(errs, os.WriteFile(filepath.Join(dir, "nemesis.log"), []byte(strings.Join(rep.FaultLog, "\n")+"\n"), 0o644))
	errs = append(errs, os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(rep.Summary()), 0o644))
	entries, err := os.ReadDir(c.LogDir())
	errs = append(errs, err)
	for _, e := range entries {
		errs = append(errs, copyFile(filepath.Join(c.LogDir(), e.Name()), filepath.Join(dir, "logs", e.Name())))
	}
	return errors.Join(errs...)
}

type jsonRecord struct {
	Client  int    `json:"client"`
	Op      string `json:"op"`
	Key     string `json:"key"`
	Value   string `json:"value,omitempty"`
	Outcome string `json:"outcome"`
	Found   *bool  `json:"found,omitempty"`
	Read    string `json:"read,omitempty"`
	StartNs int64  `json:"start_ns"`
	EndNs   int64  `json:"end_ns"`
	Detail  string `json:"detail,omitempty"`
}

func historyJSON(rep *Report) []jsonRecord {
	recs := slices.Clone(rep.records)
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Start.Before(recs[j].Start) })
	out := make([]jsonRecord, 0, len(recs))
	for _, r := range recs {
		j := jsonRecord{Client: r.Client, Op: r.Input.Op.String(), Key: r.Input.Key, Value: r.Input.Value,
			Outcome: r.Outcome.String(), StartNs: int64(r.Start.Sub(rep.base)), EndNs: int64(r.End.Sub(rep.base)), Detail: r.Detail}
		if r.Input.Op == OpGet && r.Outcome == OK {
			f := r.Output.Found
			j.Found, j.Read = &f, r.Output.Value
		}
		out = append(out, j)
	}
	return out
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Summary is the human-readable account of a run.
func (r *Report) Summary() string {
	var b strings.Builder
	cfg := r.Config
	fmt.Fprintf(&b, "chaos run: %s of faults (%s in all), %d clients (%d one-shot) on %d keys via the %s, reads at level %s, seed %d\n",
		cfg.Duration, r.Elapsed.Round(time.Second), cfg.Clients, cfg.OneShotClients, cfg.Keys, cfg.Via, cfg.ReadLevel, cfg.Seed)
	var tot [3]int
	var kinds []string
	for _, k := range []OpKind{OpPut, OpGet, OpDelete} {
		m := r.Ops[k]
		kinds = append(kinds, fmt.Sprintf("%s %d/%d/%d", k, m[OK], m[Failed], m[Unknown]))
		for o := range tot {
			tot[o] += m[Outcome(o)]
		}
	}
	fmt.Fprintf(&b, "operations:  %d (ok %d, failed %d, unknown %d); by kind ok/failed/unknown: %s\n",
		tot[0]+tot[1]+tot[2], tot[0], tot[1], tot[2], strings.Join(kinds, ", "))
	if len(r.NotOK) > 0 {
		var why []string
		for k, n := range r.NotOK {
			why = append(why, fmt.Sprintf("%4d × %s", n, k))
		}
		slices.Sort(why)
		slices.Reverse(why)
		if len(why) > 12 {
			why = append(why[:12], fmt.Sprintf("… and %d more kinds", len(why)-12))
		}
		fmt.Fprintf(&b, "             not ok:\n               %s\n", strings.Join(why, "\n               "))
	}
	var fs []string
	total := 0
	for _, k := range AllFaults {
		if n := r.Faults[k]; n > 0 {
			fs = append(fs, fmt.Sprintf("%s %d", k, n))
			total += n
		}
	}
	fmt.Fprintf(&b, "faults:      %d (%s)\n", total, strings.Join(fs, ", "))
	fmt.Fprintf(&b, "minority:    %d calls to a partition's minority side refused, %d accepted\n", r.MinorityRefused, r.MinorityAccepted)
	verdict := map[porcupine.CheckResult]string{
		porcupine.Ok:      "yes",
		porcupine.Illegal: "NO: the history is not linearizable",
		porcupine.Unknown: "unknown: the check ran out of time (" + cfg.CheckTimeout.String() + "); no verdict",
	}[r.Check.Result]
	if r.Interrupted {
		verdict = "not checked: the run was interrupted"
	}
	fmt.Fprintf(&b, "linearizable: %s (porcupine, %d operations, %s)\n", verdict, r.Check.Ops, r.Check.Took.Round(time.Millisecond))
	fmt.Fprintf(&b, "write-once:  %d acknowledged, %d lost; unknown outcome: %d applied, %d not\n",
		r.OnceAcked, r.OnceLost, r.OnceUnknownPresent, r.OnceUnknownAbsent)
	for s, d := range r.Digests {
		fmt.Fprintf(&b, "shard %d:     replicas converged at applied index %d (%d keys, hash %s)\n", s, d.AppliedIndex, d.Keys, d.Hash)
	}
	if cr := r.Crash; cr != nil {
		fmt.Fprintf(&b, "crash:       all nodes of shard %d killed -9 under load, down %s, healthy %s after restart; %d writes acknowledged (%d on that shard before the kill), %d unknown, %d lost\n",
			cr.Shard, cr.Down.Round(time.Millisecond), cr.Recovery.Round(time.Millisecond), cr.Acked, cr.OnShard, cr.Unknown, cr.Lost)
	}
	fmt.Fprintf(&b, "acknowledged writes lost: %d\n", r.Lost())
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "PROBLEM: %s\n", p)
	}
	if r.ArtifactsDir != "" {
		fmt.Fprintf(&b, "artifacts (history.html, history.json, nemesis.log, logs/): %s\n", r.ArtifactsDir)
	}
	if r.OK() {
		b.WriteString("result: PASS\n")
	} else {
		b.WriteString("result: FAIL\n")
	}
	return b.String()
}
