package server

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kvraft/hraftd/distributor/router"
)

// routerCollector reads the router's counters and the watcher's latest
// sample when scraped, so that they cost nothing between scrapes and are
// exactly what GET /status would show.
type routerCollector struct {
	rt  Router
	obs Observer
}

// routerMetric is one of the router's counters as a Prometheus metric.
type routerMetric struct {
	name string               // after the namespace, e.g. "router_sets_total"
	kind prometheus.ValueType // CounterValue for totals, GaugeValue for levels
	help string
	read func(*router.Counters) uint64
	desc *prometheus.Desc // made by describeAll
}

// routerMetrics are the router's counters exported, one per field of
// router.Counters except the batch-size buckets (batchSizeDesc). A total
// is a counter named *_total; a level (a maximum) is a gauge.
var routerMetrics = describeAll([]routerMetric{
	{"router_sets_total", prometheus.CounterValue, "Set operations (one per shard part of a write).",
		func(c *router.Counters) uint64 { return c.Sets }, nil},
	{"router_gets_total", prometheus.CounterValue, "Get operations.",
		func(c *router.Counters) uint64 { return c.Gets }, nil},
	{"router_deletes_total", prometheus.CounterValue, "Delete operations.",
		func(c *router.Counters) uint64 { return c.Deletes }, nil},
	{"router_failed_total", prometheus.CounterValue, "Operations that ended in an error.",
		func(c *router.Counters) uint64 { return c.Failed }, nil},
	{"router_retries_total", prometheus.CounterValue, "Attempts beyond each operation's first.",
		func(c *router.Counters) uint64 { return c.Retries }, nil},
	{"router_redirects_total", prometheus.CounterValue, "307 answers followed to a leader.",
		func(c *router.Counters) uint64 { return c.Redirects }, nil},
	{"router_refreshes_total", prometheus.CounterValue, "Rounds of /status polls of a shard, periodic or triggered by a failure.",
		func(c *router.Counters) uint64 { return c.Refreshes }, nil},
	{"router_leader_changes_total", prometheus.CounterValue, "Times a shard's leader moved to another node.",
		func(c *router.Counters) uint64 { return c.LeaderChanges }, nil},
	{"router_batches_total", prometheus.CounterValue, "Coalesced write batches sent (one POST /key, one Raft entry each), batches of one included.",
		func(c *router.Counters) uint64 { return c.Batches }, nil},
	{"router_batched_writes_total", prometheus.CounterValue, "Writes sent in batches: the sum of batch sizes.",
		func(c *router.Counters) uint64 { return c.BatchedWrites }, nil},
	{"router_coalesced_writes_total", prometheus.CounterValue, "Writes that shared their batch with at least one other write.",
		func(c *router.Counters) uint64 { return c.CoalescedWrites }, nil},
	{"router_batch_size_max", prometheus.GaugeValue, "The largest write batch formed so far.",
		func(c *router.Counters) uint64 { return c.BatchSizeMax }, nil},
	{"router_batch_splits_total", prometheus.CounterValue, "Batches a node refused as bad input, whose writes were then resent one by one.",
		func(c *router.Counters) uint64 { return c.BatchSplits }, nil},
	{"router_read_batches_total", prometheus.CounterValue, "Coalesced read batches sent (one POST /read, or one GET for a batch of one).",
		func(c *router.Counters) uint64 { return c.ReadBatches }, nil},
	{"router_batched_reads_total", prometheus.CounterValue, "Reads sent in batches: the sum of read batch sizes.",
		func(c *router.Counters) uint64 { return c.BatchedReads }, nil},
	{"router_coalesced_reads_total", prometheus.CounterValue, "Reads that shared their batch with at least one other read.",
		func(c *router.Counters) uint64 { return c.CoalescedReads }, nil},
	{"router_read_batch_size_max", prometheus.GaugeValue, "The largest read batch formed so far.",
		func(c *router.Counters) uint64 { return c.ReadBatchSizeMax }, nil},
})

func describeAll(ms []routerMetric) []routerMetric {
	for i := range ms {
		ms[i].desc = prometheus.NewDesc(ns+"_"+ms[i].name, ms[i].help, nil, nil)
	}
	return ms
}

var (
	// batchSizeDesc is the histogram of write batch sizes; its sum is the
	// batched writes.
	batchSizeDesc = prometheus.NewDesc(ns+"_batch_size",
		"Writes per coalesced batch (one POST /key, one Raft entry), a batch of one included.", nil, nil)
	descHasLeader = prometheus.NewDesc(ns+"_shard_has_leader", "1 if the router knows a leader for the shard.", []string{"shard"}, nil)
	descNodeUp    = prometheus.NewDesc(ns+"_node_up", "1 if the node answered the router's last poll.", []string{"shard", "node"}, nil)
	descNodeTerm  = prometheus.NewDesc(ns+"_node_term", "The node's Raft term at its last answer.", []string{"shard", "node"}, nil)
	descForeign   = prometheus.NewDesc(ns+"_node_foreign", "1 if the node belongs to another Raft group than its shard's: it gets no requests.", []string{"shard", "node"}, nil)
	descDamaged   = prometheus.NewDesc(ns+"_node_damaged", "1 if the node reports damaged data (a failed checksum, or a state its group's replica check found diverged): it serves nothing until replaced.", []string{"shard", "node"}, nil)
	descGroup     = prometheus.NewDesc(ns+"_shard_group_info", "The Raft group a shard is pinned to (value 1), once a majority of its nodes has reported it.", []string{"shard", "group"}, nil)
)

func (c *routerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range routerMetrics {
		ch <- m.desc
	}
	ch <- batchSizeDesc
	ch <- descHasLeader
	ch <- descGroup
	if c.obs != nil {
		ch <- descNodeUp
		ch <- descNodeTerm
		ch <- descForeign
		ch <- descDamaged
	}
}

func (c *routerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.rt.Status()
	for _, m := range routerMetrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, float64(m.read(&st.Counters)))
	}
	ch <- batchSizeHistogram(&st.Counters)
	for _, sh := range st.Shards {
		has := 0.0
		if sh.Leader != nil {
			has = 1
		}
		ch <- prometheus.MustNewConstMetric(descHasLeader, prometheus.GaugeValue, has, strconv.Itoa(sh.Shard))
		if sh.Group != "" {
			ch <- prometheus.MustNewConstMetric(descGroup, prometheus.GaugeValue, 1, strconv.Itoa(sh.Shard), sh.Group)
		}
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
			foreign := 0.0
			if n.Foreign {
				foreign = 1
			}
			ch <- prometheus.MustNewConstMetric(descForeign, prometheus.GaugeValue, foreign, labels...)
			damaged := 0.0
			if n.Damaged {
				damaged = 1
			}
			ch <- prometheus.MustNewConstMetric(descDamaged, prometheus.GaugeValue, damaged, labels...)
		}
	}
}

// batchSizeHistogram turns the router's cumulative batch-size buckets into
// a Prometheus histogram. The bucket with bound 0 (+Inf) holds the total
// count; Prometheus adds +Inf itself, so it is not passed as a bucket.
func batchSizeHistogram(c *router.Counters) prometheus.Metric {
	var total uint64
	bounds := map[float64]uint64{}
	for _, b := range c.BatchSizes {
		if b.LE == 0 {
			total = b.Count
			continue
		}
		bounds[float64(b.LE)] = b.Count
		total = max(total, b.Count)
	}
	return prometheus.MustNewConstHistogram(batchSizeDesc, total, float64(c.BatchedWrites), bounds)
}
