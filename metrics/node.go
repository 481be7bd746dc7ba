// Package metrics exposes a node's metrics in the Prometheus text format:
// HTTP requests by route and status with latency histograms, and the Raft
// and state-machine gauges and counters read from the store at scrape time.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kvraft/hraftd/kv"
)

// Source is what the node metrics read from the store.
type Source interface {
	Status() (kv.Status, error)
	Counters() kv.Counters
}

// Node holds one node's metrics.
type Node struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// series caches each (route, code)'s counter and histogram: a
	// WithLabelValues lookup hashes the labels and takes a lock on every
	// call, which is a measurable share of a level=none read's cost.
	series sync.Map // routeCode -> *requestSeries
}

type routeCode struct {
	route string
	code  int
}

type requestSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// NewNode returns the metrics of the node whose store is src.
func NewNode(src Source) *Node {
	n := &Node{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hraftd_http_requests_total",
			Help: "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hraftd_http_request_duration_seconds",
			Help: "HTTP request latency, by route pattern.",
			// From a local map read (~50µs) to a write through a slow
			// disk or a failover (seconds).
			Buckets: prometheus.ExponentialBuckets(0.00005, 2.5, 14),
		}, []string{"route"}),
	}
	n.reg.MustRegister(n.requests, n.latency, &raftCollector{src: src},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return n
}

// ObserveRequest records one served request.
func (n *Node) ObserveRequest(route string, code int, d time.Duration) {
	key := routeCode{route, code}
	v, ok := n.series.Load(key)
	if !ok {
		// Routes are the mux's patterns and codes a few dozen at most,
		// so the cache stays small.
		v, _ = n.series.LoadOrStore(key, &requestSeries{
			count:   n.requests.WithLabelValues(route, strconv.Itoa(code)),
			latency: n.latency.WithLabelValues(route),
		})
	}
	rs := v.(*requestSeries)
	rs.count.Inc()
	rs.latency.Observe(d.Seconds())
}

// Handler serves the metrics.
func (n *Node) Handler() http.Handler {
	return promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{})
}

// raftCollector reads the store when scraped, so the numbers are exactly
// the ones /status would show at that moment and cost nothing in between.
type raftCollector struct{ src Source }

var (
	descState = prometheus.NewDesc("hraftd_raft_state",
		"1 for the node's current Raft state (Leader, Follower, Candidate, Shutdown), else 0.", []string{"state"}, nil)
	descTerm          = prometheus.NewDesc("hraftd_raft_term", "Current Raft term.", nil, nil)
	descLastLog       = prometheus.NewDesc("hraftd_raft_last_log_index", "Index of the last entry in the log.", nil, nil)
	descCommit        = prometheus.NewDesc("hraftd_raft_commit_index", "Highest entry known to be committed.", nil, nil)
	descApplied       = prometheus.NewDesc("hraftd_raft_applied_index", "Highest entry the state machine has applied.", nil, nil)
	descKeys          = prometheus.NewDesc("hraftd_keys", "Keys in the state machine.", nil, nil)
	descHasLeader     = prometheus.NewDesc("hraftd_raft_has_leader", "1 if the node knows a leader.", nil, nil)
	descMembers       = prometheus.NewDesc("hraftd_raft_members", "Members of the group in the node's configuration.", nil, nil)
	descLeaderChanges = prometheus.NewDesc("hraftd_raft_leader_changes_total", "Leader changes this node observed (including to no leader).", nil, nil)
	descApplies       = prometheus.NewDesc("hraftd_fsm_applied_entries_total", "Log entries applied to the state machine.", nil, nil)
	descSnapshots     = prometheus.NewDesc("hraftd_snapshots_total", "Snapshots persisted, by result.", []string{"result"}, nil)
	descSnapSeconds   = prometheus.NewDesc("hraftd_snapshot_duration_seconds_total", "Total time spent taking successful snapshots.", nil, nil)
	descDamaged       = prometheus.NewDesc("hraftd_damaged",
		"1 if the node found its data damaged (it neither serves nor votes; /status says which file and how to recover), else 0.", nil, nil)
	descDiverged = prometheus.NewDesc("hraftd_replica_check_diverged",
		"Members whose state differed from their group's majority in the last replica check this node made as leader (they were marked damaged).", nil, nil)
	descCheckMissing = prometheus.NewDesc("hraftd_replica_check_missing",
		"Members that did not report their digest in time in the last replica check this node made as leader.", nil, nil)
	descCheckIndex = prometheus.NewDesc("hraftd_replica_check_index",
		"Log index of the checkpoint of the last replica check this node made as leader (0: none yet).", nil, nil)
)

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descState, descTerm, descLastLog, descCommit, descApplied, descKeys,
		descHasLeader, descMembers, descLeaderChanges, descApplies, descSnapshots, descSnapSeconds, descDamaged,
		descDiverged, descCheckMissing, descCheckIndex} {
		ch <- d
	}
}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	cs := c.src.Counters()
	counter(descLeaderChanges, float64(cs.LeaderChanges))
	counter(descApplies, float64(cs.AppliedEntries))
	counter(descSnapshots, float64(cs.Snapshots), "ok")
	counter(descSnapshots, float64(cs.SnapshotFailures), "error")
	counter(descSnapSeconds, cs.SnapshotSeconds)

	st, err := c.src.Status()
	if err != nil {
		gauge(descState, 1, "Shutdown")
		return
	}
	damaged := 0.0
	if st.Damage != nil {
		damaged = 1
	}
	gauge(descDamaged, damaged)
	var check kv.ReplicaCheck
	if st.ReplicaCheck != nil {
		check = *st.ReplicaCheck
	}
	gauge(descDiverged, float64(len(check.Diverged)))
	gauge(descCheckMissing, float64(len(check.Missing)))
	gauge(descCheckIndex, float64(check.Index))
	for _, s := range []string{"Leader", "Follower", "Candidate", "Shutdown"} {
		v := 0.0
		if s == st.State {
			v = 1
		}
		gauge(descState, v, s)
	}
	gauge(descTerm, float64(st.Term))
	gauge(descLastLog, float64(st.LastLogIndex))
	gauge(descCommit, float64(st.CommitIndex))
	gauge(descApplied, float64(st.AppliedIndex))
	gauge(descKeys, float64(st.Digest.Keys))
	hasLeader := 0.0
	if st.Leader.ID != "" {
		hasLeader = 1
	}
	gauge(descHasLeader, hasLeader)
	gauge(descMembers, float64(len(st.Members)))
}
