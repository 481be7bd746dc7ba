package load

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/kvraft/hraftd/bench/hist"
)

// wrkScript makes wrk send this package's requests (wrk.lua): the same
// paths, bodies, keys and read levels as the raw engine, configured
// through the environment, and prints the result as one JSON line.
//
//go:embed wrk.lua
var wrkScript string

// wrkQuantiles is how many quantiles of its latency histogram the script
// prints; the result's histogram is rebuilt from them (wrk does not give
// its raw samples), so a percentile is exact to 1/wrkQuantiles.
const wrkQuantiles = 1000

// wrkSummary is the script's JSON line.
type wrkSummary struct {
	Requests   uint64  `json:"requests"`
	DurationUS uint64  `json:"duration_us"`
	Status     uint64  `json:"status_errors"` // answers with a status >= 400
	Connect    uint64  `json:"connect_errors"`
	Read       uint64  `json:"read_errors"`
	Write      uint64  `json:"write_errors"`
	Timeout    uint64  `json:"timeout_errors"`
	MeanUS     float64 `json:"mean_us"`
	// QuantilesUS[i] is the (i+1)/wrkQuantiles quantile, in µs.
	QuantilesUS []float64 `json:"quantiles_us"`
}

// runWrk runs cfg with wrk: a warmup run whose numbers are dropped, then
// the measured one. wrk spreads the connections over one thread per CPU
// (at most one per connection) and, like the raw engine, keeps one
// request in flight per connection.
func runWrk(ctx context.Context, cfg Config) (Result, error) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		return Result{}, errors.New("-engine wrk: wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
	}
	script, err := os.CreateTemp("", "hraftd-bench-*.lua")
	if err != nil {
		return Result{}, err
	}
	defer os.Remove(script.Name())
	if _, err := script.WriteString(wrkScript); err != nil {
		script.Close()
		return Result{}, err
	}
	if err := script.Close(); err != nil {
		return Result{}, err
	}
	env, target, err := wrkEnv(cfg)
	if err != nil {
		return Result{}, err
	}

	res := Result{
		Target: cfg.Target, URL: cfg.URL, Workload: cfg.Workload, Level: cfg.Level,
		Concurrency: cfg.Concurrency, ValueSize: cfg.ValueSize, Engine: cfg.Engine,
		Errors: map[string]uint64{},
	}
	if cfg.Target == TargetHello {
		res.Workload = WorkloadGet
	}
	run := func(d time.Duration, phase string) (wrkSummary, error) {
		args := []string{
			"-t", strconv.Itoa(min(cfg.Concurrency, runtime.NumCPU())),
			"-c", strconv.Itoa(cfg.Concurrency),
			"-d", strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) + "s",
			"--timeout", strconv.Itoa(max(1, int(cfg.RequestTimeout/time.Second))) + "s",
			"-s", script.Name(), target,
		}
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Env = append(cmd.Env, "HB_PHASE="+phase)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			return wrkSummary{}, fmt.Errorf("wrk %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()+out.String()))
		}
		return parseWrkOutput(out.Bytes())
	}
	if cfg.Warmup > 0 {
		if _, err := run(cfg.Warmup, "warmup"); err != nil {
			return res, err
		}
	}
	if cfg.MeasureStart != nil {
		cfg.MeasureStart()
	}
	sum, err := run(cfg.Duration, "measure")
	if ctx.Err() != nil {
		res.Interrupted = true
		return res, nil
	}
	if err != nil {
		return res, err
	}
	return sum.result(res), nil
}

// wrkEnv is the script's configuration, and the URL wrk is given (the
// server's origin; the script supplies each path).
func wrkEnv(cfg Config) (env []string, target string, err error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, "", err
	}
	req, err := newRequester(&cfg)
	if err != nil {
		return nil, "", err
	}
	env = []string{
		"HB_TARGET=" + string(cfg.Target),
		"HB_BASE=" + req.path,
		"HB_HELLO=" + req.helloURI,
		"HB_PREFIX=" + cfg.Prefix,
		"HB_KEYS=" + strconv.Itoa(cfg.Keys),
		"HB_VALUE=" + string(req.value),
		"HB_READS=" + strconv.FormatFloat(cfg.readFraction(), 'f', -1, 64),
		"HB_QUANTILES=" + strconv.Itoa(wrkQuantiles),
		"HB_SEED=" + strconv.FormatUint(cfg.Seed, 10),
	}
	if cfg.Level != "" {
		env = append(env, "HB_QUERY=?level="+url.QueryEscape(cfg.Level))
	}
	return env, u.Scheme + "://" + u.Host, nil
}

// parseWrkOutput finds the script's result line in wrk's output.
func parseWrkOutput(out []byte) (wrkSummary, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "HRAFTD-BENCH ")
		if !ok {
			continue
		}
		var s wrkSummary
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			return s, fmt.Errorf("wrk's result line: %w", err)
		}
		if len(s.QuantilesUS) != wrkQuantiles {
			return s, fmt.Errorf("wrk's result line has %d quantiles, want %d", len(s.QuantilesUS), wrkQuantiles)
		}
		return s, nil
	}
	return wrkSummary{}, fmt.Errorf("no result line in wrk's output: %q", strings.TrimSpace(string(out)))
}

// result fills res from the summary. wrk times every answer, errors
// included; its quantiles are taken as the successes' latencies.
func (s wrkSummary) result(res Result) Result {
	res.Elapsed = time.Duration(s.DurationUS) * time.Microsecond
	if s.Status <= s.Requests {
		res.OK = s.Requests - s.Status
	}
	for kind, n := range map[string]uint64{
		"HTTP status >= 400": s.Status, "connect": s.Connect, "read": s.Read, "write": s.Write, "timeout": s.Timeout,
	} {
		if n > 0 {
			res.Errors[kind] = n
			res.ErrorCount += n
		}
	}
	h := &hist.Histogram{}
	var given uint64
	for i, q := range s.QuantilesUS {
		// Quantile i+1 stands for the samples between quantile i and it.
		upTo := res.OK * uint64(i+1) / uint64(len(s.QuantilesUS))
		h.RecordN(time.Duration(q*float64(time.Microsecond)), upTo-given)
		given = upTo
	}
	res.hist = h
	res.Latency = latencyOf(h)
	if s.MeanUS > 0 {
		res.Latency.Mean = time.Duration(s.MeanUS * float64(time.Microsecond))
	}
	if res.Elapsed > 0 {
		res.Throughput = float64(res.OK) / res.Elapsed.Seconds()
	}
	return res
}
