package cluster

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
)

// Main runs a test package's tests and then removes the binaries Build
// made for them. Call it from the package's TestMain:
//
//	func TestMain(m *testing.M) { cluster.Main(m) }
func Main(m *testing.M) {
	builds.Lock()
	builds.main = true
	builds.Unlock()
	code := m.Run()
	RemoveBuilds()
	os.Exit(code)
}

// Test is a Cluster for a test: errors fail the test with t.Fatalf, and
// the cluster is closed when the test ends.
type Test struct {
	*Cluster
	t testing.TB
}

// NewTest starts cfg's cluster for t (cfg.Dir defaults to a t.TempDir,
// cfg.Logf to t.Logf, and cfg.Timeout to 60 s). When the test ends every
// process is killed, and if the test failed the last lines of every log
// are shown. The test package must call Main from its TestMain.
func NewTest(t testing.TB, cfg Config) *Test {
	t.Helper()
	builds.Lock()
	managed := builds.main
	builds.Unlock()
	if !managed {
		t.Fatal("cluster.NewTest needs the package's TestMain to call cluster.Main, which removes the binaries it builds")
	}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	c, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("starting the cluster: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			t.Logf("logs of the cluster's processes:\n%s", c.LogTails(40))
		}
	})
	return &Test{Cluster: c, t: t}
}

// ctx is the test's context, bounded by timeout.
func (x *Test) ctx(timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(x.t.Context(), timeout)
}

// AddNode is Cluster.AddNode.
func (x *Test) AddNode(id, join string) *Node {
	x.t.Helper()
	n, err := x.Cluster.AddNode(x.t.Context(), id, join)
	if err != nil {
		x.t.Fatalf("starting %s: %v", id, err)
	}
	return n
}

// Kill kills p with SIGKILL, as a crash would, and waits until it is gone.
func (x *Test) Kill(p *Proc) {
	x.t.Helper()
	if err := p.Kill(); err != nil {
		x.t.Fatalf("killing %s: %v", p.Name(), err)
	}
}

// Restart starts a stopped p again with its command line and waits until
// it serves.
func (x *Test) Restart(p *Proc) {
	x.t.Helper()
	if err := p.Start(x.t.Context()); err != nil {
		x.t.Fatalf("restarting %s: %v", p.Name(), err)
	}
}

// Term sends p SIGTERM and requires it to exit with status 0 within
// timeout.
func (x *Test) Term(p *Proc, timeout time.Duration) {
	x.t.Helper()
	if err := p.Term(timeout); err != nil {
		x.t.Fatalf("SIGTERM %s: %v", p.Name(), err)
	}
	if err := p.ExitErr(); err != nil {
		x.t.Errorf("%s after SIGTERM: %v, want exit status 0", p.Name(), err)
	}
}

// WaitLeader is Cluster.WaitLeader within timeout.
func (x *Test) WaitLeader(timeout time.Duration, nodes ...*Node) *Node {
	x.t.Helper()
	ctx, cancel := x.ctx(timeout)
	defer cancel()
	l, err := x.Cluster.WaitLeader(ctx, nodes...)
	if err != nil {
		x.t.Fatal(err)
	}
	return l
}

// WaitConverged is Cluster.WaitConverged within timeout.
func (x *Test) WaitConverged(timeout time.Duration, s int) api.Digest {
	x.t.Helper()
	ctx, cancel := x.ctx(timeout)
	defer cancel()
	d, err := x.Cluster.WaitConverged(ctx, s)
	if err != nil {
		x.t.Fatal(err)
	}
	return d
}

// WaitReady is Cluster.WaitReady within timeout.
func (x *Test) WaitReady(timeout time.Duration, n *Node) {
	x.t.Helper()
	ctx, cancel := x.ctx(timeout)
	defer cancel()
	if err := x.Cluster.WaitReady(ctx, n); err != nil {
		x.t.Fatal(err)
	}
}

// Status is Cluster.Status.
func (x *Test) Status(n *Node) api.Status {
	x.t.Helper()
	st, err := x.Cluster.Status(x.t.Context(), n)
	if err != nil {
		x.t.Fatal(err)
	}
	return st
}

// WaitFor polls cond every 50 ms until it returns nil, failing t with
// cond's last error if it still has not after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := Poll(t.Context(), timeout, what, cond); err != nil {
		t.Fatal(err)
	}
}
