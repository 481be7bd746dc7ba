package poll

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	Until(t, 5*time.Second, "three checks", func() bool { return n.Add(1) >= 3 })
	if got := n.Load(); got != 3 {
		t.Errorf("checked %d times, want 3", got)
	}
}

// fatalTB records Fatalf instead of stopping the test.
type fatalTB struct {
	testing.TB
	failed bool
}

func (f *fatalTB) Helper()               {}
func (f *fatalTB) Fatalf(string, ...any) { f.failed = true }

func TestUntilFailsAfterTheTimeout(t *testing.T) {
	tb := &fatalTB{TB: t}
	Until(tb, 20*time.Millisecond, "never", func() bool { return false })
	if !tb.failed {
		t.Error("Until did not fail on a condition that never holds")
	}
}
