package suite

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/kvraft/hraftd/bench/load"
)

// Machine describes where a matrix ran: numbers mean little without it.
type Machine struct {
	CPUs      int       `json:"cpus"`
	CPUModel  string    `json:"cpu_model"`
	OS        string    `json:"os"`
	Arch      string    `json:"arch"`
	GoVersion string    `json:"go_version"`
	Date      time.Time `json:"date"`
}

// ThisMachine describes the machine the process runs on now.
func ThisMachine() Machine {
	return Machine{
		CPUs:      runtime.NumCPU(),
		CPUModel:  cpuModel("/proc/cpuinfo"),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
		GoVersion: runtime.Version(),
		Date:      time.Now().UTC(),
	}
}

// cpuModel reads the first "model name" of a /proc/cpuinfo-style file;
// "unknown" where there is none (not Linux, or an ARM kernel that does not
// report one).
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return "unknown"
}

// Report is everything one matrix run produced; it is also the -json
// output.
type Report struct {
	Machine Machine `json:"machine"`
	// Command is how the run was started, for reproducing it.
	Command string `json:"command"`
	// Method describes how every row was measured, in one sentence.
	Method string  `json:"method"`
	Rows   []Row   `json:"rows"`
	Checks []Check `json:"checks"`
	// CPUMethod says how the rows' CPU numbers were measured, in one
	// sentence; empty for a generic one.
	CPUMethod string `json:"cpu_method,omitempty"`
	// LogDir is where the processes' logs were left.
	LogDir string `json:"log_dir,omitempty"`
}

// WriteMarkdown prints r as the table the README or BENCHMARKS.md carries.
func (r Report) WriteMarkdown(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "Machine: %d CPUs (%s), %s/%s, %s, %s.\n\n",
		m.CPUs, m.CPUModel, m.OS, m.Arch, m.GoVersion, m.Date.Format("2006-01-02 15:04 MST"))
	if r.Command != "" {
		fmt.Fprintf(w, "Command: `%s`. ", r.Command)
	}
	fmt.Fprintf(w, "%s\n\n", r.Method)

	fmt.Fprintln(w, "| workload | c | req/s | errors | p50 | p90 | p99 | p99.9 |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|")
	for _, row := range r.Rows {
		res := row.Result
		if res == nil {
			fmt.Fprintf(w, "| %s | %d | skipped: %s | | | | | |\n", oneLine(row.Label), row.Concurrency, oneLine(row.Skipped))
			continue
		}
		l := res.Latency
		label := oneLine(row.Label)
		if res.Interrupted {
			label += " (interrupted)"
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %d | %s | %s | %s | %s |\n",
			label, row.Concurrency, res.Throughput, res.ErrorCount,
			load.FormatDuration(l.P50), load.FormatDuration(l.P90), load.FormatDuration(l.P99), load.FormatDuration(l.P999))
	}
	r.writeCPUTable(w)

	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | goal | met |")
	fmt.Fprintln(w, "|---|--:|--:|:-:|")
	for _, ch := range r.Checks {
		met := ch.Met
		if ch.Note != "" {
			met += " (" + ch.Note + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", oneLine(ch.Name), ch.Measured, ch.Goal, met)
	}
	first := true
	for _, row := range r.Rows {
		if res := row.Result; res != nil && res.FirstError != "" {
			if first {
				fmt.Fprintln(w, "\nFirst error of each row that had errors:")
				first = false
			}
			fmt.Fprintf(w, "- %s, c=%d: %s\n", row.Label, row.Concurrency, oneLine(res.FirstError))
		}
	}
}

// oneLine keeps a multi-line reason (a compiler's output) from breaking
// the table: its first line, with pipes escaped.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.ReplaceAll(s, "|", `\|`)
}
