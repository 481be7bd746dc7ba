package hist

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestRank(t *testing.T) {
	tests := []struct {
		q    float64
		n    uint64
		want uint64
	}{
		{0.5, 10, 5},
		{0.9, 10, 9}, // 0.9*10 is 9.000000000000002 in floating point
		{0.99, 10, 10},
		{0.999, 1000, 999},
		{0.999, 1001, 1000},
		{0.5, 1, 1},
		{0, 5, 1},
		{1, 5, 5},
		{-1, 5, 1},
		{2, 5, 5},
		{0.5, 0, 0},
	}
	for _, tt := range tests {
		if got := Rank(tt.q, tt.n); got != tt.want {
			t.Errorf("Rank(%v, %d) = %d, want %d", tt.q, tt.n, got, tt.want)
		}
	}
}

// Buckets must tile the number line: contiguous, each value in the bucket
// bucketOf names, and no wider than 1/128 of its lower bound.
func TestBucketsTile(t *testing.T) {
	var prevHi uint64
	for i := range nBuckets {
		lo, hi := bounds(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d = [%d, %d] but bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= sub && float64(hi-lo+1)/float64(lo) > 1.0/half {
			t.Fatalf("bucket %d = [%d, %d] is wider than 1/%d of its start", i, lo, hi, half)
		}
		prevHi = hi
	}
	if prevHi != math.MaxUint64 {
		t.Fatalf("last bucket ends at %d, want MaxUint64", prevHi)
	}
}

func TestEmpty(t *testing.T) {
	var h Histogram
	if h.Count() != 0 || h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Min() != 0 || h.Max() != 0 {
		t.Fatalf("empty histogram reports non-zero: n=%d p50=%v mean=%v min=%v max=%v",
			h.Count(), h.Quantile(0.5), h.Mean(), h.Min(), h.Max())
	}
}

// Below 256 ns every value has its own bucket, so percentiles are exact.
func TestSmallValuesExact(t *testing.T) {
	var h Histogram
	for v := 1; v <= 100; v++ {
		h.Record(time.Duration(v))
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 50}, {0.9, 90}, {0.99, 99}, {0.999, 100}, {1, 100}} {
		if got := h.Quantile(tt.q); got != tt.want {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if h.Mean() != 51 { // 50.5, rounded half away from zero
		t.Errorf("Mean = %v, want 51", h.Mean())
	}
}

func TestMinMaxClamp(t *testing.T) {
	var h Histogram
	h.Record(1_000_003 * time.Nanosecond) // one sample: every quantile is it exactly
	for _, q := range []float64{0, 0.5, 0.999, 1} {
		if got := h.Quantile(q); got != 1_000_003 {
			t.Errorf("Quantile(%v) = %d, want the single sample 1000003", q, got)
		}
	}
	h.Record(-5) // clamped to zero
	if h.Min() != 0 {
		t.Errorf("Min after negative = %v, want 0", h.Min())
	}
}

// Against the exact nearest-rank percentile of sorted samples, the
// histogram must never understate and must be within one bucket (1/128).
func TestQuantileMatchesSortedSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2)) // fixed seed: deterministic
	var h Histogram
	samples := make([]time.Duration, 0, 50_000)
	for range cap(samples) {
		// Log-normal-ish latencies from ~50 µs to ~1 s, like a real run's
		// body plus its tail.
		d := time.Duration(math.Exp(rng.NormFloat64()*1.5+math.Log(2e6))) + 50*time.Microsecond
		samples = append(samples, d)
		h.Record(d)
	}
	slices.Sort(samples)
	for _, q := range []float64{0, 0.25, 0.5, 0.9, 0.99, 0.999, 1} {
		exact := samples[Rank(q, uint64(len(samples)))-1]
		got := h.Quantile(q)
		if got < exact {
			t.Errorf("Quantile(%v) = %v understates the exact %v", q, got, exact)
		}
		if float64(got-exact) > float64(exact)/half {
			t.Errorf("Quantile(%v) = %v, more than 1/%d above the exact %v", q, got, half, exact)
		}
	}
	if h.Min() != samples[0] || h.Max() != samples[len(samples)-1] {
		t.Errorf("Min/Max = %v/%v, want %v/%v", h.Min(), h.Max(), samples[0], samples[len(samples)-1])
	}
}

func TestMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var all, a, b Histogram
	for i := range 10_000 {
		d := time.Duration(rng.Int64N(int64(time.Second)))
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	// Comparing whole structs includes the float sum: exact here, since
	// integer nanosecond sums stay far below 2^53.
	var merged Histogram
	merged.Merge(&a)
	merged.Merge(&Histogram{}) // merging an empty one changes nothing
	merged.Merge(&b)
	if merged != all {
		t.Fatalf("merged histogram differs from one that recorded everything: n=%d/%d min=%v/%v max=%v/%v",
			merged.Count(), all.Count(), merged.Min(), all.Min(), merged.Max(), all.Max())
	}
}
