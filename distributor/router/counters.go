package router

import "sync/atomic"

// Counters are the router's totals since it started. Operations count each
// shard's part of a request once, however many attempts it took.
type Counters struct {
	Sets    uint64 `json:"sets"`
	Gets    uint64 `json:"gets"`
	Deletes uint64 `json:"deletes"`
	// Failed counts operations that ended in an error.
	Failed uint64 `json:"failed"`
	// Retries counts attempts beyond each operation's first.
	Retries uint64 `json:"retries"`
	// Redirects counts 307 answers followed to a leader.
	Redirects uint64 `json:"redirects"`
	// Refreshes counts rounds of /status polls, periodic or triggered by a
	// failure.
	Refreshes uint64 `json:"refreshes"`
	// LeaderChanges counts the times a shard's leader moved to another
	// node.
	LeaderChanges uint64 `json:"leader_changes"`

	// Write coalescing (group commit): sets without a client
	// Idempotency-Key are merged into batches, one POST /key (one Raft
	// entry) each. A write counts once in Sets whether batched or not.

	// Batches counts batches formed (each is one POST /key, however many
	// attempts it took), a batch of one included.
	Batches uint64 `json:"batches"`
	// BatchedWrites counts writes sent in batches: the sum of batch sizes.
	BatchedWrites uint64 `json:"batched_writes"`
	// CoalescedWrites counts writes that shared their batch with at least
	// one other write.
	CoalescedWrites uint64 `json:"coalesced_writes"`
	// BatchSizeMax is the largest batch formed.
	BatchSizeMax uint64 `json:"batch_size_max"`
	// BatchSizes is the distribution of batch sizes, as a cumulative
	// histogram (Prometheus style): Count batches had at most LE writes;
	// the last bucket's LE is 0, meaning +Inf, and its Count is Batches.
	BatchSizes []BatchSizeBucket `json:"batch_sizes"`
	// BatchSplits counts batches a node refused as bad input, whose
	// writes were then resent one by one.
	BatchSplits uint64 `json:"batch_splits"`

	// Read coalescing: linearizable and weak reads are merged into
	// batches, one request (one leadership check at the node) each. A
	// read counts once in Gets whether batched or not.

	// ReadBatches counts read batches sent (one POST /read, or a GET for
	// a batch of one, however many attempts it took).
	ReadBatches uint64 `json:"read_batches"`
	// BatchedReads counts reads sent in batches: the sum of their sizes.
	BatchedReads uint64 `json:"batched_reads"`
	// CoalescedReads counts reads that shared their batch with at least
	// one other read.
	CoalescedReads uint64 `json:"coalesced_reads"`
	// ReadBatchSizeMax is the largest read batch formed.
	ReadBatchSizeMax uint64 `json:"read_batch_size_max"`
}

// BatchSizeBucket is one bucket of the cumulative batch-size histogram.
type BatchSizeBucket struct {
	// LE is the bucket's upper bound, inclusive; 0 means +Inf.
	LE    uint64 `json:"le"`
	Count uint64 `json:"count"`
}

type counters struct {
	sets, gets, deletes, failed                  atomic.Uint64
	retries, redirects, refreshes, leaderChanges atomic.Uint64

	batches, batchedWrites, coalescedWrites, batchSplits atomic.Uint64
	batchSizeMax                                         atomic.Uint64

	readBatches, batchedReads, coalescedReads, readBatchSizeMax atomic.Uint64
	// batchSizes counts batches by size bucket, not cumulative: bucket i
	// is (batchSizeBounds[i-1], batchSizeBounds[i]], the last is the rest.
	batchSizes [len(batchSizeBounds) + 1]atomic.Uint64
}

// observeBatch counts one batch of n writes.
func (c *counters) observeBatch(n int) {
	u := uint64(n)
	c.batches.Add(1)
	c.batchedWrites.Add(u)
	if n > 1 {
		c.coalescedWrites.Add(u)
	}
	storeMax(&c.batchSizeMax, u)
	i := 0
	for i < len(batchSizeBounds) && u > batchSizeBounds[i] {
		i++
	}
	c.batchSizes[i].Add(1)
}

// storeMax raises a to u if u is larger, without a lock.
func storeMax(a *atomic.Uint64, u uint64) {
	for {
		m := a.Load()
		if u <= m || a.CompareAndSwap(m, u) {
			return
		}
	}
}

// observeReadBatch counts one batch of n reads.
func (c *counters) observeReadBatch(n int) {
	u := uint64(n)
	c.readBatches.Add(1)
	c.batchedReads.Add(u)
	if n > 1 {
		c.coalescedReads.Add(u)
	}
	storeMax(&c.readBatchSizeMax, u)
}

func (c *counters) snapshot() Counters {
	out := Counters{
		Sets: c.sets.Load(), Gets: c.gets.Load(), Deletes: c.deletes.Load(),
		Failed: c.failed.Load(), Retries: c.retries.Load(), Redirects: c.redirects.Load(),
		Refreshes: c.refreshes.Load(), LeaderChanges: c.leaderChanges.Load(),
		Batches: c.batches.Load(), BatchedWrites: c.batchedWrites.Load(),
		CoalescedWrites: c.coalescedWrites.Load(), BatchSizeMax: c.batchSizeMax.Load(),
		BatchSplits: c.batchSplits.Load(),
		ReadBatches: c.readBatches.Load(), BatchedReads: c.batchedReads.Load(),
		CoalescedReads: c.coalescedReads.Load(), ReadBatchSizeMax: c.readBatchSizeMax.Load(),
	}
	var cum uint64
	for i := range c.batchSizes {
		cum += c.batchSizes[i].Load()
		var le uint64
		if i < len(batchSizeBounds) {
			le = batchSizeBounds[i]
		}
		out.BatchSizes = append(out.BatchSizes, BatchSizeBucket{LE: le, Count: cum})
	}
	return out
}
