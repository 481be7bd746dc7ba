package server

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
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

// routerCollector reads the router's counters and the watcher's view when
// scraped, so that they cost nothing between scrapes and are exactly what
// GET /status would show.
type routerCollector struct {
	rt  Router
	obs Observer
}

var (
	descHasLeader = prometheus.NewDesc(ns+"_shard_has_leader", "1 if the router knows a leader for the shard.", []string{"shard"}, nil)
	descNodeUp    = prometheus.NewDesc(ns+"_node_up", "1 if the node answered the router's last poll.", []string{"shard", "node"}, nil)
	descNodeTerm  = prometheus.NewDesc(ns+"_node_term", "The node's Raft term at its last answer.", []string{"shard", "node"}, nil)
)

// counterHelp documents the router counters known when this was written;
// any other counter the router grows is exported too, with a generic help.
var counterHelp = map[string]string{
	"sets":           "Set operations (one per shard part of a write).",
	"gets":           "Get operations.",
	"deletes":        "Delete operations.",
	"failed":         "Operations that ended in an error.",
	"retries":        "Attempts beyond each operation's first.",
	"redirects":      "307 answers followed to a leader.",
	"refreshes":      "Rounds of /status polls of a shard, periodic or triggered by a failure.",
	"leader_changes": "Times a shard's leader moved to another node.",
	// Write coalescing, when the router batches writes.
	"batches":          "Coalesced write batches sent (one POST /key, one Raft entry each), batches of one included.",
	"batched_writes":   "Writes sent in batches: the sum of batch sizes.",
	"coalesced_writes": "Writes that shared their batch with at least one other write.",
	"batch_size_max":   "The largest batch formed so far.",
	"batch_splits":     "Batches a node refused as bad input, whose writes were then resent one by one.",
}

// counterFields lists router.Counters' numeric fields by JSON name (a
// nested struct's fields as parent_child). It is computed by reflection so
// that counters added to the router (write coalescing's batch statistics,
// for one) are exported without a change here.
var counterFields = collectFields(reflect.TypeFor[router.Counters](), nil, "")

func collectFields(t reflect.Type, index []int, prefix string) []counterField {
	var out []counterField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		name = prefix + name
		idx := append(slices.Clone(index), i)
		switch f.Type.Kind() {
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Float32, reflect.Float64:
		case reflect.Struct:
			out = append(out, collectFields(f.Type, idx, name+"_")...)
			continue
		case reflect.Slice:
			if le, count, ok := bucketFields(f.Type.Elem()); ok {
				metric := ns + "_" + strings.TrimSuffix(name, "s")
				help := "Distribution of the router's " + strings.ReplaceAll(strings.TrimSuffix(name, "s"), "_", " ") + "s (see GET /status)."
				if name == "batch_sizes" {
					help = "Writes per coalesced batch (one POST /key, one Raft entry), a batch of one included."
				}
				out = append(out, counterField{name: name, index: idx, hist: true, le: le, count: count,
					desc: prometheus.NewDesc(metric, help, nil, nil)})
			}
			continue
		default:
			continue
		}
		help := counterHelp[name]
		if help == "" {
			help = "The router's " + strings.ReplaceAll(name, "_", " ") + " counter (see GET /status)."
		}
		// A field that is a level rather than a running total (a maximum,
		// a size in flight) is a gauge; everything else only grows.
		gauge := strings.HasPrefix(name, "max") || strings.HasSuffix(name, "_max") || strings.Contains(name, "pending") ||
			strings.Contains(name, "in_flight") || strings.HasPrefix(name, "current")
		metric := ns + "_router_" + name
		vt := prometheus.GaugeValue
		if !gauge {
			metric += "_total"
			vt = prometheus.CounterValue
		}
		out = append(out, counterField{name: name, index: idx, vt: vt, desc: prometheus.NewDesc(metric, help, nil, nil)})
	}
	return out
}

type counterField struct {
	name  string // the JSON name
	index []int
	vt    prometheus.ValueType
	desc  *prometheus.Desc
	// hist marks a cumulative histogram: a slice of buckets whose fields
	// le (upper bound, 0 for +Inf) and count are at those indexes.
	hist      bool
	le, count int
}

// bucketFields reports whether t is a histogram bucket, a struct with
// unsigned fields tagged "le" and "count", and where they are.
func bucketFields(t reflect.Type) (le, count int, ok bool) {
	if t.Kind() != reflect.Struct {
		return 0, 0, false
	}
	le, count = -1, -1
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if !t.Field(i).Type.ConvertibleTo(reflect.TypeFor[uint64]()) {
			continue
		}
		switch name {
		case "le":
			le = i
		case "count":
			count = i
		}
	}
	return le, count, le >= 0 && count >= 0
}

// histogramSumField is the counter that is the sum of the batch-size
// histogram's observations: the writes that went into batches.
const histogramSumField = "batched_writes"

func (c *routerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range counterFields {
		ch <- f.desc
	}
	ch <- descHasLeader
	if c.obs != nil {
		ch <- descNodeUp
		ch <- descNodeTerm
	}
}

func (c *routerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.rt.Status()
	v := reflect.ValueOf(st.Counters)
	var sum float64
	for _, f := range counterFields {
		if f.name == histogramSumField && v.FieldByIndex(f.index).CanUint() {
			sum = float64(v.FieldByIndex(f.index).Uint())
		}
	}
	for _, f := range counterFields {
		fv := v.FieldByIndex(f.index)
		if f.hist {
			ch <- histogram(f, fv, sum)
			continue
		}
		var x float64
		switch {
		case fv.CanUint():
			x = float64(fv.Uint())
		case fv.CanInt():
			x = float64(fv.Int())
		case fv.CanFloat():
			x = fv.Float()
		}
		ch <- prometheus.MustNewConstMetric(f.desc, f.vt, x)
	}
	for _, sh := range st.Shards {
		has := 0.0
		if sh.Leader != nil {
			has = 1
		}
		ch <- prometheus.MustNewConstMetric(descHasLeader, prometheus.GaugeValue, has, strconv.Itoa(sh.Shard))
	}
	if c.obs == nil {
		return
	}
	for _, sh := range c.obs.Status().Shards {
		for _, n := range sh.Nodes {
			name := n.ID
			if name == "" {
				name = n.HTTP
			}
			up := 0.0
			if n.Reachable {
				up = 1
			}
			labels := []string{strconv.Itoa(sh.Shard), name}
			ch <- prometheus.MustNewConstMetric(descNodeUp, prometheus.GaugeValue, up, labels...)
			ch <- prometheus.MustNewConstMetric(descNodeTerm, prometheus.GaugeValue, float64(n.Term), labels...)
		}
	}
}

// histogram turns a cumulative bucket slice into a Prometheus histogram.
// The bucket with bound 0 (+Inf) holds the total count; Prometheus adds
// +Inf itself, so it is not passed as a bucket.
func histogram(f counterField, buckets reflect.Value, sum float64) prometheus.Metric {
	var total uint64
	bounds := map[float64]uint64{}
	for i := range buckets.Len() {
		b := buckets.Index(i)
		le, n := b.Field(f.le).Uint(), b.Field(f.count).Uint()
		if le == 0 {
			total = n
			continue
		}
		bounds[float64(le)] = n
		total = max(total, n)
	}
	return prometheus.MustNewConstHistogram(f.desc, total, sum, bounds)
}
