package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/cluster"
)

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

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// healAll removes every partition, resumes and restarts every process, and
// waits until every shard is healthy.
// writeArtifacts puts what is needed to study a failed run into one
// directory: porcupine's visualization, the history as JSON, the nemesis's
// timeline, the problems, and every process's log.
func writeArtifacts(rep *Report, c *cluster.Cluster) error {
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

// tally counts the calls on the shared keys by kind and outcome, and those
// that were not OK by what went wrong.
func (r *Report) tally(records []Record) {
	for _, rec := range records {
		if r.Ops[rec.Input.Op] == nil {
			r.Ops[rec.Input.Op] = map[Outcome]int{}
		}
		r.Ops[rec.Input.Op][rec.Outcome]++
		if rec.Outcome != OK {
			r.NotOK[rec.Input.Op.String()+": "+rec.Detail]++
		}
	}
}
