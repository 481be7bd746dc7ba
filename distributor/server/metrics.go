package server

import (
	"errors"
	"maps"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/distributor/watch"
)

// metrics are the distributor's Prometheus metrics, in a registry of their
// own so that a test (or a second Server in one process) never collides
// with another's.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	forwards  *prometheus.CounterVec
	failovers *prometheus.CounterVec
	nodeDown  *prometheus.CounterVec
	discovery *prometheus.HistogramVec

	// The series of each label set seen, so that a request does not look
	// its series up by label values (hashing them, formatting the code) on
	// every answer. Copied on write: label sets are few, and all known
	// after the first requests.
	requestSeries atomic.Pointer[map[requestKey]requestSeries]
	forwardSeries atomic.Pointer[map[forwardKey]prometheus.Counter]
}

type requestKey struct {
	route string
	code  int
}

type requestSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

type forwardKey struct {
	shard      int
	op, result string
}

// maxCached bounds each cache of cached; beyond it, values are made on
// every call, as without a cache. Routes, codes, shards and nodes are
// bounded anyway (unknown paths are one route), so this is a backstop.
const maxCached = 4096

// cached returns (*p)[k], storing newV() under k first if it is missing.
func cached[K comparable, V any](p *atomic.Pointer[map[K]V], k K, newV func() V) V {
	if m := p.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	v := newV()
	for {
		old := p.Load()
		m := map[K]V{}
		if old != nil {
			if len(*old) >= maxCached {
				return v
			}
			m = maps.Clone(*old)
		}
		m[k] = v
		if p.CompareAndSwap(old, &m) {
			return v
		}
	}
}

const ns = "hraftd_distributor"

func newMetrics(rt Router, obs Observer) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "http_request_duration_seconds",
			Help: "HTTP request latency, by route pattern.",
			// From a forwarded local read (~200µs) to a request riding out
			// an election (seconds) or its whole 10 s deadline.
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 13),
		}, []string{"route"}),
		forwards: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "forwards_total",
			Help: "Operations forwarded to a shard, by shard, operation (set, get, delete) and result (ok, error). A multi-shard POST /key counts once per shard.",
		}, []string{"shard", "op", "result"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "failovers_total",
			Help: "Times the router started routing a shard to a different leader than before.",
		}, []string{"shard"}),
		nodeDown: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "node_down_total",
			Help: "Times a node that had answered the router's polls stopped answering (failed polls or calls).",
		}, []string{"shard", "node"}),
		discovery: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "leader_discovery_seconds",
			Help: "Time from the router last seeing a shard's old leader healthy to it knowing the new leader: how long the shard had no usable leader, as the router saw it.",
			// An election takes ~1-3 s with hashicorp/raft's defaults; the
			// low buckets catch a leader found by redirect.
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 20, 30},
		}, []string{"shard"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.forwards, m.failovers, m.nodeDown, m.discovery,
		&routerCollector{rt: rt, obs: obs},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if obs != nil {
		obs.Subscribe(m.observeEvent)
	}
	return m
}

// observeEvent turns the watcher's events into counters and latencies.
func (m *metrics) observeEvent(e watch.Event) {
	shard := strconv.Itoa(e.Shard)
	switch e.Kind {
	case watch.EventLeader:
		if e.Failover {
			m.failovers.WithLabelValues(shard).Inc()
		}
		if e.Discovery > 0 {
			m.discovery.WithLabelValues(shard).Observe(e.Discovery.Seconds())
		}
	case watch.EventNodeDown:
		m.nodeDown.WithLabelValues(shard, e.Node).Inc()
	}
}

func (m *metrics) observeRequest(route string, code int, d time.Duration) {
	s := cached(&m.requestSeries, requestKey{route, code}, func() requestSeries {
		return requestSeries{m.requests.WithLabelValues(route, strconv.Itoa(code)), m.latency.WithLabelValues(route)}
	})
	s.count.Inc()
	s.latency.Observe(d.Seconds())
}

// forwardCounter is the forwards_total series of one shard, op and result.
func (m *metrics) forwardCounter(shard int, op, result string) prometheus.Counter {
	return cached(&m.forwardSeries, forwardKey{shard, op, result}, func() prometheus.Counter {
		return m.forwards.WithLabelValues(strconv.Itoa(shard), op, result)
	})
}

// forward counts one operation per shard it reached: the shards in results
// succeeded; the shards named by err's *ShardError or *NodeError parts
// failed.
func (m *metrics) forward(op string, results []router.Result, err error) {
	for _, r := range results {
		m.forwardCounter(r.Shard, op, "ok").Inc()
	}
	for _, e := range flatten(err) {
		var se *router.ShardError
		var ne *router.NodeError
		switch {
		case errors.As(e, &ne):
			m.forwardCounter(ne.Shard, op, "error").Inc()
		case errors.As(e, &se):
			m.forwardCounter(se.Shard, op, "error").Inc()
		}
	}
}

// flatten undoes errors.Join, which a multi-shard write uses to report each
// failed shard.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
