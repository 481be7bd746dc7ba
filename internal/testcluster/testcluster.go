// Package testcluster starts the real product for end-to-end tests (the
// distributor's e2e test, the browser test, the newman run): both binaries built from this module, 2 shards of 3 hraftd nodes and
// a distributor, all on free 127.0.0.1 ports, killed when the test ends.
package testcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/freeport"
)

// Proc is one running process of the cluster.
type Proc struct {
	Name string
	args []string
	bin  string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// Running reports whether the process is alive.
func (p *Proc) Running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Node is one hraftd process.
type Node struct {
	Proc
	ID    string
	HTTP  string // host:port of its HTTP API
	Shard int
}

// Cluster is the running product.
type Cluster struct {
	t      testing.TB
	dir    string
	Shards [][]*Node
	Dist   *Proc
	// URL is the distributor's base URL, http://127.0.0.1:port.
	URL    string
	client *http.Client
}

// Start builds both binaries and starts 2×3 nodes and a distributor
// (polling every 250ms, so the tests see changes quickly), and waits until
// both shards have a leader with two followers and the distributor routes
// to it. Everything is killed at the test's end; the logs are shown if it
// failed.
func Start(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{t: t, dir: t.TempDir(),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}}
	hraftd, dist := build(t, c.dir)
	addrs := freeAddrs(t, 2*3*2+1)
	t.Cleanup(c.stopAll)
	var shardFlags []string
	for s := range 2 {
		var group []*Node
		var https []string
		for i := range 3 {
			k := s*3 + i
			n := &Node{ID: fmt.Sprintf("node%d", k), HTTP: addrs[2*k], Shard: s}
			n.Name, n.bin, n.log = n.ID, hraftd, filepath.Join(c.dir, n.ID+".log")
			n.args = []string{"-id", n.ID, "-haddr", n.HTTP, "-raddr", addrs[2*k+1]}
			if i > 0 {
				n.args = append(n.args, "-join", group[0].HTTP)
			}
			n.args = append(n.args, filepath.Join(c.dir, n.ID))
			group = append(group, n)
			https = append(https, n.HTTP)
		}
		c.Shards = append(c.Shards, group)
		shardFlags = append(shardFlags, "-shard", strings.Join(https, ","))
	}
	for _, g := range c.Shards {
		for _, n := range g {
			c.start(&n.Proc)
		}
	}
	distAddr := addrs[len(addrs)-1]
	c.URL = "http://" + distAddr
	c.Dist = &Proc{Name: "distributor", bin: dist, log: filepath.Join(c.dir, "distributor.log"),
		args: append([]string{"-addr", distAddr, "-poll", "250ms"}, shardFlags...)}
	c.start(c.Dist)

	WaitFor(t, 60*time.Second, "both shards to elect a leader with two followers, seen by the distributor", func() bool {
		for s := range c.Shards {
			l := c.Leader(s)
			if l == nil {
				return false
			}
			if st, err := c.NodeStatus(l); err != nil || len(st.Followers) != 2 {
				return false
			}
			if c.DistributorLeader(s) != l.ID {
				return false
			}
		}
		return true
	})
	return c
}

// build compiles both binaries into dir.
func build(t testing.TB, dir string) (hraftd, dist string) {
	t.Helper()
	hraftd, dist = filepath.Join(dir, "hraftd"), filepath.Join(dir, "distributor")
	for _, b := range []struct{ out, pkg string }{
		{hraftd, "github.com/kvraft/hraftd"},
		{dist, "github.com/kvraft/hraftd/distributor"},
	} {
		if out, err := exec.Command("go", "build", "-o", b.out, b.pkg).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", b.pkg, err, out)
		}
	}
	return hraftd, dist
}

// freeAddrs returns n distinct free 127.0.0.1 addresses (freeport.Ports).
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	ports, err := freeport.Ports(n)
	if err != nil {
		t.Fatal(err)
	}
	addrs := make([]string, n)
	for i, p := range ports {
		addrs[i] = freeport.Addr(p)
	}
	return addrs
}

func (c *Cluster) start(p *Proc) {
	c.t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		c.t.Fatalf("starting %s: %v", p.Name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
}

// Kill9 kills p with SIGKILL, as a crash would, and waits for it to exit.
func (c *Cluster) Kill9(p *Proc) {
	c.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		c.t.Fatalf("killing %s: %v", p.Name, err)
	}
	<-p.done
}

// Restart starts a stopped process again with the same arguments.
func (c *Cluster) Restart(p *Proc) {
	c.t.Helper()
	if p.Running() {
		c.t.Fatalf("%s is still running", p.Name)
	}
	c.start(p)
}

func (c *Cluster) stopAll() {
	procs := []*Proc{c.Dist}
	for _, g := range c.Shards {
		for _, n := range g {
			procs = append(procs, &n.Proc)
		}
	}
	for _, p := range procs {
		if p != nil && p.Running() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if c.t.Failed() {
		for _, p := range procs {
			if p != nil {
				c.t.Logf("--- last lines of %s ---\n%s", p.Name, tail(p.log, 20))
			}
		}
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Logs returns the log file of every process, the distributor's first.
func (c *Cluster) Logs() []string {
	logs := []string{c.Dist.log}
	for _, g := range c.Shards {
		for _, n := range g {
			logs = append(logs, n.log)
		}
	}
	return logs
}

// GetJSON GETs u and decodes its JSON answer into v.
func (c *Cluster) GetJSON(u string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// NodeStatus is n's own GET /status.
func (c *Cluster) NodeStatus(n *Node) (api.Status, error) {
	var st api.Status
	err := c.GetJSON("http://"+n.HTTP+"/status", &st)
	return st, err
}

// Leader returns the running node of shard s that says it leads, or nil.
func (c *Cluster) Leader(s int) *Node {
	for _, n := range c.Shards[s] {
		if !n.Running() {
			continue
		}
		if st, err := c.NodeStatus(n); err == nil && st.State == "Leader" && st.Me.ID == st.Leader.ID {
			return n
		}
	}
	return nil
}

// DistributorLeader is the ID of the node the distributor routes shard s
// to, or "" if none (or the distributor does not answer).
func (c *Cluster) DistributorLeader(s int) string {
	var st struct {
		Shards []struct {
			Leader *struct {
				ID string `json:"id"`
			} `json:"leader"`
		} `json:"shards"`
	}
	if err := c.GetJSON(c.URL+"/status", &st); err != nil || len(st.Shards) <= s || st.Shards[s].Leader == nil {
		return ""
	}
	return st.Shards[s].Leader.ID
}

// WaitFor polls cond every 50ms until it holds, failing the test after
// timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}
