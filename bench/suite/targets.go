package suite

import (
	"fmt"

	"github.com/kvraft/hraftd/bench/load"
)

// Check is one goal of the matrix (a ratio of two rows, or a floor) as
// measured in one run.
type Check struct {
	Name string `json:"name"`
	// Measured is the figure the goal is about, formatted ("2.31×",
	// "16250 req/s"); "n/a" when a row it needs is missing.
	Measured string `json:"measured"`
	// Value is Measured as a number (a ratio, or req/s for a floor); 0
	// when n/a.
	Value float64 `json:"value"`
	Goal  string  `json:"goal"`
	// Met is "yes", "no" or "n/a".
	Met string `json:"met"`
	// Note flags rows whose errors make the figure doubtful.
	Note string `json:"note,omitempty"`
}

// LinearizableGoal is the floor of linearizable reads through the
// distributor, in reads per second.
const LinearizableGoal = 15000

// Checks computes the matrix's four checks from its rows: each (but the
// floor) is a ratio of two rows of the same run on the same box, which is
// what makes them comparable across machines where absolute numbers are
// not.
func Checks(rows []Row) []Check {
	return []Check{
		ratioCheck(rows, "1. `/set` via distributor ÷ direct `POST /key`, req/s at c=64",
			DistSet, NodeSet, 64, throughput, 2.0, true),
		ratioCheck(rows, "2. `/set` via distributor ÷ direct `POST /key`, p50 at c=1",
			DistSet, NodeSet, 1, p50, 1.25, false),
		floorCheck(rows, "3. linearizable `GET` via distributor, req/s at c=64",
			DistGetLin, 64, LinearizableGoal),
		ratioCheck(rows, "4. `level=none` `GET` on a follower ÷ hello, req/s at c=64",
			NodeGetNone, Hello, 64, throughput, 0.8, true),
	}
}

func throughput(r *load.Result) float64 { return r.Throughput }
func p50(r *load.Result) float64        { return float64(r.Latency.P50) }

// ratioCheck compares metric(a)/metric(b) with goal: at least goal when
// atLeast, else at most.
func ratioCheck(rows []Row, name, a, b string, c int, metric func(*load.Result) float64, goal float64, atLeast bool) Check {
	ch := Check{Name: name, Measured: "n/a", Met: "n/a"}
	if atLeast {
		ch.Goal = fmt.Sprintf("≥ %.2g×", goal)
	} else {
		ch.Goal = fmt.Sprintf("≤ %.3g×", goal)
	}
	ra, okA := Find(rows, a, c)
	rb, okB := Find(rows, b, c)
	if !okA || !okB || metric(rb) == 0 || metric(ra) == 0 {
		return ch
	}
	ch.Value = metric(ra) / metric(rb)
	ch.Measured = fmt.Sprintf("%.2f×", ch.Value)
	ch.Met = yesNo(atLeast && ch.Value >= goal || !atLeast && ch.Value <= goal)
	ch.Note = errorNote(ra, rb)
	return ch
}

func floorCheck(rows []Row, name, id string, c int, floor float64) Check {
	ch := Check{Name: name, Measured: "n/a", Met: "n/a", Goal: fmt.Sprintf("≥ %.0f req/s", floor)}
	r, ok := Find(rows, id, c)
	if !ok || r.Throughput == 0 {
		return ch
	}
	ch.Value = r.Throughput
	ch.Measured = fmt.Sprintf("%.0f req/s (%.2f× goal)", r.Throughput, r.Throughput/floor)
	if h, ok := Find(rows, Hello, c); ok && h.Throughput > 0 {
		// An absolute floor depends on the box and on the load's own
		// cost; the share of the same run's hello ceiling does not.
		ch.Measured = fmt.Sprintf("%.0f req/s (%.2f× goal; %.2f× hello)", r.Throughput, r.Throughput/floor, r.Throughput/h.Throughput)
	}
	ch.Met = yesNo(r.Throughput >= floor)
	ch.Note = errorNote(r)
	return ch
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// errorNote warns when a row behind a figure had failed requests: a
// throughput that sheds errors fast is not a result to claim.
func errorNote(rs ...*load.Result) string {
	var n uint64
	for _, r := range rs {
		n += r.ErrorCount
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d failed requests in these rows", n)
}
