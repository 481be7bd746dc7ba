package suite

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Process groups of the CPU table, in its column order. The suite only
// names them; whoever supplies Options.CPU decides which processes belong
// to each.
const (
	CPULoad        = "load" // the process generating the load
	CPUDistributor = "distributor"
	CPULeaders     = "leaders"   // each shard's leader node
	CPUFollowers   = "followers" // every other node
	CPUHello       = "hello"
)

// CPUGroups lists the groups in the order the table shows them.
var CPUGroups = []string{CPULoad, CPUDistributor, CPULeaders, CPUFollowers, CPUHello}

// CPUTimes is the CPU time (user + system) each process group has used
// since its processes started, keyed by group name.
type CPUTimes map[string]time.Duration

// CPUSampler returns the current CPUTimes. Run calls it right before and
// right after each measured window and reports the difference, so only
// the differences need to be meaningful. It is called from a goroutine
// other than Run's, but never concurrently with itself.
type CPUSampler func() (CPUTimes, error)

// CPU is where the box's CPU went during one row's measured window.
type CPU struct {
	// Window is the wall time between the two samples.
	Window time.Duration `json:"window_ns"`
	// Used is the CPU time each group spent in the window.
	Used map[string]time.Duration `json:"used_ns"`
	// Total is the sum of Used.
	Total time.Duration `json:"total_ns"`
	// PerRequest is Used in µs per successful request of the row; absent
	// when no request succeeded.
	PerRequest map[string]float64 `json:"per_request_us,omitempty"`
	// TotalPerRequest is Total in µs per successful request; 0 when no
	// request succeeded.
	TotalPerRequest float64 `json:"total_per_request_us,omitempty"`
	// BusyPercent is Total ÷ (CPUs × Window), in percent: how much of the
	// whole box the measured processes kept busy.
	BusyPercent float64 `json:"box_busy_pct"`
}

// cpuOver computes a row's CPU from the samples taken before and after its
// measured window. A group missing from either sample is left out: it did
// not exist for the whole window, so no difference can be taken.
func cpuOver(before, after CPUTimes, window time.Duration, ok uint64, cpus int) *CPU {
	u := &CPU{Window: window, Used: map[string]time.Duration{}}
	for g, end := range after {
		start, found := before[g]
		if !found {
			continue
		}
		// Cumulative counters do not go backwards; clamp in case a
		// process was replaced between the samples.
		d := max(end-start, 0)
		u.Used[g] = d
		u.Total += d
	}
	u.derive(ok, cpus)
	return u
}

// add sums o, the CPU of another slice of the same row, into u; ok is the
// row's successful requests over all its slices so far.
func (u *CPU) add(o *CPU, ok uint64, cpus int) {
	u.Window += o.Window
	for g, d := range o.Used {
		u.Used[g] += d
		u.Total += d
	}
	u.derive(ok, cpus)
}

// derive computes the per-request numbers and the busy share from Used,
// Total and Window.
func (u *CPU) derive(ok uint64, cpus int) {
	u.PerRequest, u.TotalPerRequest, u.BusyPercent = nil, 0, 0
	if ok > 0 {
		u.PerRequest = map[string]float64{}
		for g, d := range u.Used {
			u.PerRequest[g], _ = perRequestMicros(d, ok)
		}
		u.TotalPerRequest, _ = perRequestMicros(u.Total, ok)
	}
	if u.Window > 0 && cpus > 0 {
		u.BusyPercent = 100 * float64(u.Total) / (float64(cpus) * float64(u.Window))
	}
}

// perRequestMicros is cpu in µs per request; false when there were no
// requests to divide by.
func perRequestMicros(cpu time.Duration, requests uint64) (float64, bool) {
	if requests == 0 {
		return 0, false
	}
	return float64(cpu) / float64(time.Microsecond) / float64(requests), true
}

// cpuWindow takes the two samples of one measured window. The first is
// taken when the load run says its measured window begins
// (load.Config.MeasureStart), so that the warmup's CPU (connection set-up,
// first allocations, or wrk's separate warmup process) stays out of the
// numbers just as its latencies do.
type cpuWindow struct {
	sample CPUSampler
	once   sync.Once
	done   chan struct{} // closed once the first sample is taken
	before CPUTimes
	at     time.Time
	err    error
}

// errNoWindow means the run ended before its measured window began (it
// was interrupted during the warmup): there is nothing to report.
var errNoWindow = errors.New("the run ended before its measured window began")

// newCPUWindow returns a window for sample, or nil, and the row gets no
// CPU, when there is no sampler.
func newCPUWindow(sample CPUSampler) *cpuWindow {
	if sample == nil {
		return nil
	}
	return &cpuWindow{sample: sample, done: make(chan struct{})}
}

// begin takes the first sample; it is load.Config.MeasureStart. Only the
// first call counts.
func (w *cpuWindow) begin() {
	w.once.Do(func() {
		defer close(w.done)
		w.before, w.err = w.sample()
		w.at = time.Now()
	})
}

// measureStart is what to hand load.Config.MeasureStart: nil without a
// window.
func (w *cpuWindow) measureStart() func() {
	if w == nil {
		return nil
	}
	return w.begin
}

// finish takes the second sample, right after the run, and returns the
// row's CPU.
func (w *cpuWindow) finish(ok uint64, cpus int) (*CPU, error) {
	if w == nil {
		return nil, nil
	}
	select {
	case <-w.done:
	default:
		// The run never began measuring (cut short in its warmup);
		// make sure a late begin cannot sample now.
		began := true
		w.once.Do(func() { began = false; close(w.done) })
		if !began {
			return nil, errNoWindow
		}
		<-w.done
	}
	if w.err != nil {
		return nil, fmt.Errorf("CPU sample before the window: %w", w.err)
	}
	after, err := w.sample()
	if err != nil {
		return nil, fmt.Errorf("CPU sample after the window: %w", err)
	}
	return cpuOver(w.before, after, time.Since(w.at), ok, cpus), nil
}

// defaultCPUMethod describes the CPU table when the sampler's supplier
// gave no description of its own.
const defaultCPUMethod = "CPU time of each process group over each row's measured window (warmup and settle pause excluded), " +
	"divided by the row's successful requests; box busy = all that CPU time ÷ (CPUs × window)."

// writeCPUTable prints the CPU table of the rows that have CPU numbers,
// and nothing when none has.
func (r Report) writeCPUTable(w io.Writer) {
	var rows []Row
	for _, row := range r.Rows {
		if row.CPU != nil && row.Result != nil {
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "\nCPU per request (µs), by process:")
	fmt.Fprintln(w)
	fmt.Fprint(w, "| workload | c |")
	for _, g := range CPUGroups {
		fmt.Fprintf(w, " %s |", g)
	}
	fmt.Fprintln(w, " total | box busy |")
	fmt.Fprint(w, "|---|--:|")
	for range CPUGroups {
		fmt.Fprint(w, "--:|")
	}
	fmt.Fprintln(w, "--:|--:|")
	for _, row := range rows {
		u := row.CPU
		fmt.Fprintf(w, "| %s | %d |", oneLine(row.Label), row.Concurrency)
		for _, g := range CPUGroups {
			fmt.Fprintf(w, " %s |", microsCell(u.PerRequest[g]))
		}
		fmt.Fprintf(w, " %s | %.0f%% |\n", microsCell(u.TotalPerRequest), u.BusyPercent)
	}
	method := r.CPUMethod
	if method == "" {
		method = defaultCPUMethod
	}
	fmt.Fprintf(w, "\n%s\n", method)
}

// microsCell formats µs with three significant digits, like the latency
// columns; "–" for a group that used no CPU (or is absent, or the row had
// no successful request), which reads better than a column of zeros.
func microsCell(us float64) string {
	switch {
	case us <= 0:
		return "–"
	case us >= 100:
		return fmt.Sprintf("%.0f", us)
	case us >= 10:
		return fmt.Sprintf("%.1f", us)
	}
	return fmt.Sprintf("%.2f", us)
}
