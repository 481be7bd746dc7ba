package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/kvraft/hraftd/bench/load"
	"github.com/kvraft/hraftd/bench/suite"
	"github.com/kvraft/hraftd/internal/auth"
)

// TLSGroup is the -only name of the TLS comparison (-tls adds it to the
// standard matrix).
const TLSGroup = "tls"

// The clients of the TLS comparison: how each row's load reaches the
// cluster and authenticates.
const (
	viaPlain    = "plain"    // the plain cluster: HTTP, no -auth
	viaPassword = "password" // secure cluster, HTTP Basic, no certificate
	viaCert     = "cert"     // secure cluster, client certificate
	viaResumed  = "resumed"  // secure cluster, password, TLS sessions resumed
)

// viaLabel is each client's name in the table.
var viaLabel = map[string]string{
	viaPlain:    "plain HTTP, no auth",
	viaPassword: "TLS + password",
	viaCert:     "TLS + client certificate",
	viaResumed:  "TLS + password, sessions resumed",
}

// tlsCase is one comparison: a standard write workload at some
// concurrencies, over kept-alive connections or a new one per request,
// from several clients.
type tlsCase struct {
	base    suite.Workload
	c       []int
	newConn bool
	via     []string
}

// tlsCases are the rows of the TLS comparison. Writes only: they cross
// every hop (client, distributor, leader, Raft to the followers), and
// need no preload.
func tlsCases() []tlsCase {
	all := []string{viaPlain, viaPassword, viaCert}
	return []tlsCase{
		{base: standard(suite.NodeSet), c: []int{1, 64}, via: all},
		{base: standard(suite.DistSet), c: []int{64}, via: all},
		{base: standard(suite.NodeSet), c: []int{1}, newConn: true, via: append(all, viaResumed)},
	}
}

// standard is the standard workload id.
func standard(id string) suite.Workload {
	for _, w := range suite.Standard {
		if w.ID == id {
			return w
		}
	}
	panic("no standard workload " + id)
}

// tlsID is the workload ID of a case's row for one client.
func tlsID(tc tlsCase, via string) string {
	return fmt.Sprintf("tls.%s.%s.%s", tc.base.ID, connName(tc.newConn), via)
}

func connName(newConn bool) string {
	if newConn {
		return "new-conn"
	}
	return "keep-alive"
}

// tlsPlan is the comparison's plan and endpoints: the plain rows against
// s's cluster, the others against sec's. In each case the plain row comes
// first, and at each concurrency the rows take turns slice by slice
// (suite.Run), so plain and secure runs alternate.
func tlsPlan(s *setup, sec *secureSetup) ([]suite.Workload, map[string]suite.Endpoint) {
	var plan []suite.Workload
	eps := map[string]suite.Endpoint{}
	for _, tc := range tlsCases() {
		dist := tc.base.Target == load.TargetDistributor
		for _, via := range tc.via {
			w := tc.base
			w.ID, w.Label, w.Concurrency, w.NewConnPerRequest = tlsID(tc, via), tc.base.Label, tc.c, tc.newConn
			plan = append(plan, w)
			ep := suite.Endpoint{URL: s.leader.URL()}
			if dist {
				ep = suite.Endpoint{URL: s.distURL(), Skip: s.distSkip}
			}
			if via != viaPlain {
				ep = sec.endpoint(dist, via)
			}
			eps[w.ID] = ep
		}
	}
	return plan, eps
}

// endpoint is where and how a secure row's load goes.
func (sec *secureSetup) endpoint(dist bool, via string) suite.Endpoint {
	ep := suite.Endpoint{URL: sec.leader.URL(), CPU: sec.cpu}
	if dist {
		ep.URL, ep.Skip = sec.distURL(), sec.distSkip
	}
	switch via {
	case viaPassword:
		ep.TLS, ep.Authorization = sec.password, sec.basic
	case viaResumed:
		ep.TLS, ep.Authorization = sec.resumed, sec.basic
		if !sec.resumes {
			ep.Skip = "the server did not resume a TLS session in the probe"
		}
	case viaCert:
		ep.TLS = sec.cert
	}
	return ep
}

// tlsReport is the TLS comparison's part of the output.
type tlsReport struct {
	Method string      `json:"method"`
	Rows   []suite.Row `json:"rows"`
	// LoadBefore and LoadAfter are /proc/loadavg's 1, 5 and 15 minute
	// load averages when the comparison began and ended: the box is
	// shared, and the numbers mean little if it was busy.
	LoadBefore string `json:"loadavg_before,omitempty"`
	LoadAfter  string `json:"loadavg_after,omitempty"`
}

// loadAvg is the first three fields of /proc/loadavg, or "" where there
// is none.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// tlsMethod is the sentence under the comparison's heading.
func tlsMethod(opts suite.Options, sec *secureSetup) string {
	return fmt.Sprintf("Two 2×3 clusters with a distributor each, up at the same time on this box: one plain (HTTP, no -auth), "+
		"one secure (HTTPS on every node's and the distributor's API, Raft over mutual TLS, -auth; internal/cluster's secure mode). "+
		"Each row: %s in %d slice(s); at each c the rows take turns slice by slice, plain first, so plain and secure alternate; "+
		"req/s by round lists the slices. Client: the matrix's %s engine with Go's crypto/tls; negotiated: %s. "+
		"Password: HTTP Basic on every request as user %q (bcrypt cost %d; each process runs bcrypt once per cache TTL of %s "+
		"and otherwise computes an HMAC-SHA256 cache key per request; when the entry expires, every request then in flight "+
		"runs its own bcrypt, one at a time, which can stall a c=64 row for seconds: the \"median slice\" ratios are blind to that one slice); "+
		"the secure distributor passes no password on but calls the leader with its own client certificate. "+
		"Certificate: role client, CN %q, verified in the handshake. "+
		"new-conn: a TCP connection (and TLS handshake) per request, Connection: close; \"sessions resumed\" keeps a client "+
		"session cache, so each handshake is a TLS 1.3 resumption (PSK) instead of a full one. "+
		"Ratios are to the plain row of the same workload, c and connections.",
		opts.Duration, max(opts.Rounds, 1), opts.Engine, sec.negotiated, benchUser, bcryptCost, auth.DefaultCacheTTL, benchUser)
}

// writeMarkdown prints the comparison: every row's numbers, their ratios
// to the plain row, then where the CPU went.
func (r tlsReport) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "\n## TLS and authentication\n\n%s\n\n", r.Method)
	if r.LoadBefore != "" {
		fmt.Fprintf(w, "Load average (1, 5, 15 min) when the comparison began: %s; when it ended: %s.\n\n", r.LoadBefore, r.LoadAfter)
	}
	rows := r.ordered()
	fmt.Fprintln(w, "| workload | c | connections | client | req/s | req/s by round | p50 | p99 | p99.9 | CPU µs/req |")
	fmt.Fprintln(w, "|---|--:|---|---|--:|---|--:|--:|--:|--:|")
	for _, row := range rows {
		fmt.Fprint(w, rowLead(row))
		res := row.Result
		if res == nil {
			fmt.Fprintf(w, " skipped: %s | | | | | |\n", oneLineCell(row.Skipped))
			continue
		}
		l := res.Latency
		fmt.Fprintf(w, " %.0f | %s | %s | %s | %s | %s |\n", res.Throughput, roundsCell(row.Rounds),
			load.FormatDuration(l.P50), load.FormatDuration(l.P99), load.FormatDuration(l.P999), micros(cpuPerReq(row)))
	}
	r.writeRatios(w, rows)
	writeTLSCPU(w, rows)
	for _, row := range rows {
		if res := row.Result; res != nil && res.FirstError != "" {
			fmt.Fprintf(w, "\n- %s, c=%d: %d errors; first: %s\n", row.ID, row.Concurrency, res.ErrorCount, oneLineCell(res.FirstError))
		}
	}
}

// rowLead is the first four cells of a row's line.
func rowLead(row suite.Row) string {
	_, conn, via := splitTLSID(row.ID)
	return fmt.Sprintf("| %s | %d | %s | %s |", row.Label, row.Concurrency, conn, viaLabel[via])
}

// writeRatios prints each secure row's numbers divided by its plain
// twin's: over the whole row, and as the median of the slices, which one
// slice's stall does not move.
func (r tlsReport) writeRatios(w io.Writer, rows []suite.Row) {
	fmt.Fprintln(w, "\nSecure ÷ plain (same workload, c and connections; below 1× is slower for req/s, above 1× is slower for the others):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workload | c | connections | client | req/s | req/s, median slice | p50 | p99 | CPU/req | CPU/req, median slice |")
	fmt.Fprintln(w, "|---|--:|---|---|--:|--:|--:|--:|--:|--:|")
	for _, row := range rows {
		base, conn, via := splitTLSID(row.ID)
		if via == viaPlain || row.Result == nil {
			continue
		}
		plain := r.find(fmt.Sprintf("tls.%s.%s.%s", base, conn, viaPlain), row.Concurrency)
		fmt.Fprintf(w, "%s %s | %s | %s | %s | %s | %s |\n", rowLead(row),
			ratio(plain, row, func(r suite.Row) float64 { return r.Result.Throughput }),
			ratio(plain, row, medianOf(func(rd suite.Round) float64 { return rd.Throughput })),
			ratio(plain, row, func(r suite.Row) float64 { return float64(r.Result.Latency.P50) }),
			ratio(plain, row, func(r suite.Row) float64 { return float64(r.Result.Latency.P99) }),
			ratio(plain, row, cpuPerReq), ratio(plain, row, medianOf(func(rd suite.Round) float64 { return rd.CPU })))
	}
}

// ordered is the rows grouped for reading: each case (workload and
// connections) at each c, its clients in plan order, plain first.
func (r tlsReport) ordered() []suite.Row {
	group := map[string]int{} // workload and connections -> first appearance
	key := func(row suite.Row) int {
		base, conn, _ := splitTLSID(row.ID)
		return group[base+"."+conn]
	}
	for _, row := range r.Rows {
		base, conn, _ := splitTLSID(row.ID)
		if _, ok := group[base+"."+conn]; !ok {
			group[base+"."+conn] = len(group)
		}
	}
	rows := slices.Clone(r.Rows)
	slices.SortStableFunc(rows, func(a, b suite.Row) int {
		return cmp.Or(cmp.Compare(key(a), key(b)), cmp.Compare(a.Concurrency, b.Concurrency))
	})
	return rows
}

// writeTLSCPU prints the CPU per request of each process group, the table
// that says where a secure row's extra cost went.
func writeTLSCPU(w io.Writer, rows []suite.Row) {
	fmt.Fprintln(w, "\nCPU per request (µs), by process, in the cluster each row loaded:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workload | c | connections | client | load | distributor | leaders | followers | total |")
	fmt.Fprintln(w, "|---|--:|---|---|--:|--:|--:|--:|--:|")
	for _, row := range rows {
		if row.CPU == nil || row.Result == nil {
			continue
		}
		fmt.Fprint(w, rowLead(row))
		for _, g := range []string{suite.CPULoad, suite.CPUDistributor, suite.CPULeaders, suite.CPUFollowers} {
			fmt.Fprintf(w, " %s |", micros(row.CPU.PerRequest[g]))
		}
		fmt.Fprintf(w, " %s |\n", micros(row.CPU.TotalPerRequest))
	}
}

func (r tlsReport) find(id string, c int) *suite.Row {
	for i := range r.Rows {
		if row := &r.Rows[i]; row.ID == id && row.Concurrency == c && row.Result != nil {
			return row
		}
	}
	return nil
}

// splitTLSID undoes tlsID: the base workload, the connection mode and the
// client.
func splitTLSID(id string) (base, conn, via string) {
	parts := strings.Split(strings.TrimPrefix(id, "tls."), ".")
	if len(parts) != 3 {
		return id, "", ""
	}
	return parts[0], parts[1], parts[2]
}

// medianOf is the metric of a row that is the median of f over its
// slices: unlike the whole row's figure, one slice that met a stall (a
// password cache expiring) does not move it.
func medianOf(f func(suite.Round) float64) func(suite.Row) float64 {
	return func(r suite.Row) float64 {
		v := make([]float64, len(r.Rounds))
		for i, rd := range r.Rounds {
			v[i] = f(rd)
		}
		if len(v) == 0 {
			return 0
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
}

func cpuPerReq(r suite.Row) float64 {
	if r.CPU == nil {
		return 0
	}
	return r.CPU.TotalPerRequest
}

// ratio is metric(row) ÷ metric(plain), "–" when either is missing or
// zero.
func ratio(plain *suite.Row, row suite.Row, metric func(suite.Row) float64) string {
	if plain == nil {
		return "–"
	}
	a, b := metric(row), metric(*plain)
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// roundsCell lists each slice's req/s.
func roundsCell(rounds []suite.Round) string {
	parts := make([]string, len(rounds))
	for i, rd := range rounds {
		parts[i] = fmt.Sprintf("%.0f", rd.Throughput)
	}
	return strings.Join(parts, ", ")
}

// micros formats µs per request to three significant digits.
func micros(us float64) string {
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

// oneLineCell keeps a multi-line reason from breaking the table.
func oneLineCell(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.ReplaceAll(s, "|", `\|`)
}
