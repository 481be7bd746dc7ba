// Package hist records latencies in a log-linear histogram, the layout of
// HdrHistogram: exact below 256 ns, then 128 buckets per power of two, so
// that any reported percentile is within 1/128 (0.8%) of the true sample
// while recording stays one array increment with no allocation, cheap
// enough for every request of a load test on a loaded 2-core box.
//
// Sorting every sample would be exact, but a 64-worker run at tens of
// thousands of requests a second would keep millions of samples and pay a
// sort at the end; the histogram's size is fixed (~60 KB) however long the
// run.
package hist

import (
	"math"
	"math/bits"
	"time"
)

const (
	// subBits sets the precision: 2^subBits values are stored exactly, and
	// every power of two above them is split into 2^(subBits-1) buckets.
	subBits = 8
	sub     = 1 << subBits // 256
	half    = sub / 2      // 128 buckets per power of two
	// nBuckets covers every uint64: exponents 1..64-subBits.
	nBuckets = sub + (64-subBits)*half
)

// Histogram counts durations. The zero value is empty and ready to use. It
// is not safe for concurrent use: give each worker its own and Merge them.
type Histogram struct {
	counts [nBuckets]uint64
	n      uint64
	sum    float64 // float so that a long run cannot overflow it
	min    uint64
	max    uint64
}

// bucketOf maps a value to its bucket index.
func bucketOf(v uint64) int {
	if v < sub {
		return int(v)
	}
	e := bits.Len64(v) - subBits // >= 1: how far v is shifted to keep subBits bits
	m := v >> e                  // in [half, sub)
	return sub + (e-1)*half + int(m-half)
}

// bounds returns the smallest and largest value that land in bucket i.
func bounds(i int) (lo, hi uint64) {
	if i < sub {
		return uint64(i), uint64(i)
	}
	j := i - sub
	e := uint(j/half + 1)
	m := uint64(j%half + half)
	lo = m << e
	hi = lo + (1 << e) - 1
	return lo, hi
}

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// RecordN adds n samples of d: for a distribution known only by its
// quantiles (wrk's), recorded point by point with their weights.
func (h *Histogram) RecordN(d time.Duration, n uint64) {
	if n == 0 {
		return
	}
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)] += n
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n += n
	h.sum += float64(v) * float64(n)
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of recorded samples.
func (h *Histogram) Count() uint64 { return h.n }

// Min is the smallest sample, exactly; 0 when empty.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max is the largest sample, exactly; 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the average sample; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(math.Round(h.sum / float64(h.n)))
}

// Quantile returns the nearest-rank q-quantile (q in [0, 1]; 0.999 is
// p99.9): the smallest sample that at least q of all samples are less than
// or equal to, to within the bucket's width. It reports the bucket's upper
// bound, as HdrHistogram's "highest equivalent value" does, so it never
// understates a tail; the bound is clamped to the exact min and max, so
// Quantile(0) is Min and Quantile(1) is Max. It is 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := Rank(q, h.n)
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			_, hi := bounds(i)
			return time.Duration(min(max(hi, h.min), h.max))
		}
	}
	return time.Duration(h.max) // unreachable: cum ends at n >= rank
}

// Rank is the 1-based nearest rank of the q-quantile among n sorted
// samples: ceil(q*n), at least 1 and at most n. It is exported so that
// tests and callers with sorted samples compute the same definition.
func Rank(q float64, n uint64) uint64 {
	if n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	// Rounding guards against q*n landing a hair above an integer
	// (0.9*10 = 9.000000000000002) and the ceiling skipping a rank.
	r := uint64(math.Ceil(math.Round(q*float64(n)*1e9) / 1e9))
	return min(max(r, 1), n)
}
