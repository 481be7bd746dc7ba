package load

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/kvraft/hraftd/bench/hist"
)

// Latency summarises the latency of successful requests. In JSON every
// field is an integer number of nanoseconds.
type Latency struct {
	Min  time.Duration `json:"min_ns"`
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
}

func latencyOf(h *hist.Histogram) Latency {
	return Latency{
		Min:  h.Min(),
		Mean: h.Mean(),
		P50:  h.Quantile(0.50),
		P90:  h.Quantile(0.90),
		P99:  h.Quantile(0.99),
		P999: h.Quantile(0.999),
		Max:  h.Max(),
	}
}

// Result is what one run measured.
type Result struct {
	Target      Target   `json:"target"`
	URL         string   `json:"url"`
	Workload    Workload `json:"workload"`
	Level       string   `json:"level,omitempty"`
	Concurrency int      `json:"concurrency"`
	ValueSize   int      `json:"value_size"`
	Engine      Engine   `json:"engine"`
	// Elapsed is the measured window as it ran (warmup excluded).
	Elapsed time.Duration `json:"elapsed_ns"`
	// OK counts successful answers in the window, Misses among them.
	OK     uint64 `json:"ok"`
	Misses uint64 `json:"misses"`
	// Throughput is OK per second of Elapsed: errors do not count.
	Throughput float64 `json:"throughput_rps"`
	ErrorCount uint64  `json:"error_count"`
	// Errors counts failures by kind ("HTTP 503", "timeout", ...).
	Errors map[string]uint64 `json:"errors"`
	// FirstError is one failure in full, to start debugging from.
	FirstError  string  `json:"first_error,omitempty"`
	Latency     Latency `json:"latency"`
	Interrupted bool    `json:"interrupted,omitempty"`

	// hist holds every latency behind Latency, so that results of runs of
	// one workload can be merged (Merge) into exact percentiles.
	hist *hist.Histogram
}

// Merge adds o, another run of the same workload, to r: counts and
// measured time add up, latencies are those of both runs together, and
// throughput is over both windows. The bench matrix uses it to report a
// row measured in slices interleaved with the other rows.
func (r *Result) Merge(o Result) {
	r.Elapsed += o.Elapsed
	r.OK += o.OK
	r.Misses += o.Misses
	r.ErrorCount += o.ErrorCount
	if r.Errors == nil {
		r.Errors = map[string]uint64{}
	}
	for k, n := range o.Errors {
		r.Errors[k] += n
	}
	if r.FirstError == "" {
		r.FirstError = o.FirstError
	}
	r.Interrupted = r.Interrupted || o.Interrupted
	merged := &hist.Histogram{}
	for _, h := range []*hist.Histogram{r.hist, o.hist} {
		if h != nil {
			merged.Merge(h)
		}
	}
	r.hist = merged
	r.Latency = latencyOf(merged)
	r.Throughput = 0
	if r.Elapsed > 0 {
		r.Throughput = float64(r.OK) / r.Elapsed.Seconds()
	}
}

// WriteText prints r for a person.
func (r Result) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%s %s  workload=%s", r.Target, r.URL, r.Workload)
	if r.Level != "" {
		fmt.Fprintf(w, " level=%s", r.Level)
	}
	fmt.Fprintf(w, "  c=%d  value=%d B  engine=%s  measured %s\n", r.Concurrency, r.ValueSize, r.Engine, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  throughput  %.0f req/s (%d ok, %d errors)\n", r.Throughput, r.OK, r.ErrorCount)
	l := r.Latency
	fmt.Fprintf(w, "  latency     p50 %s  p90 %s  p99 %s  p99.9 %s  (min %s, mean %s, max %s)\n",
		FormatDuration(l.P50), FormatDuration(l.P90), FormatDuration(l.P99), FormatDuration(l.P999),
		FormatDuration(l.Min), FormatDuration(l.Mean), FormatDuration(l.Max))
	if r.Misses > 0 {
		fmt.Fprintf(w, "  warning     %d reads found no key: preload the keys (-preload) or match -prefix/-keys to the preload\n", r.Misses)
	}
	for _, kind := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(w, "  errors      %d × %s\n", r.Errors[kind], kind)
	}
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first error %s\n", r.FirstError)
	}
	if r.Interrupted {
		fmt.Fprintln(w, "  (interrupted: numbers cover only the part that ran)")
	}
}

// FormatDuration prints a latency with three significant digits in a unit
// that suits it (870µs, 1.23ms, 12.3ms), which compares better across a
// table than time.Duration's full precision.
func FormatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return sig3(float64(d)/float64(time.Microsecond)) + "µs"
	case d < time.Second:
		return sig3(float64(d)/float64(time.Millisecond)) + "ms"
	}
	return sig3(d.Seconds()) + "s"
}

// sig3 formats v (>= 1) with three significant digits.
func sig3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
