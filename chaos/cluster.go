package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/freeport"
)

// Binaries are the built programs a cluster runs.
type Binaries struct {
	Node        string // hraftd
	Distributor string // distributor; empty if not built
}

// ModuleRoot returns the directory of the go.mod that the current
// directory belongs to, as `go env GOMOD` reports it.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module: run from the hraftd repository")
	}
	return filepath.Dir(gomod), nil
}

// Build compiles hraftd and, if withDistributor, the distributor into dir,
// from the module the current directory belongs to. Building from source
// every time means the run always tests the code in the tree, never a stale
// binary; the Go build cache makes it quick after the first time.
func Build(ctx context.Context, dir string, withDistributor bool) (Binaries, error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return Binaries{}, err
	}
	build := func(out, pkg string) error {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build -o %s %s: %v\n%s", out, pkg, err, b)
		}
		return nil
	}
	bins := Binaries{Node: filepath.Join(dir, "hraftd")}
	if err := build(bins.Node, "."); err != nil {
		return Binaries{}, err
	}
	if withDistributor {
		bins.Distributor = filepath.Join(dir, "distributor")
		if err := build(bins.Distributor, "./distributor"); err != nil {
			return Binaries{}, err
		}
	}
	return bins, nil
}

// ClusterConfig describes a cluster to start.
type ClusterConfig struct {
	// Dir holds every node's data directory and every process's log. The
	// cluster does not remove it: its owner does (t.TempDir, or the chaos
	// command), after copying the logs out if something failed.
	Dir string
	Bin Binaries
	// Shards and NodesPerShard give the layout; 2 and 3 by default.
	Shards, NodesPerShard int
	// Distributor starts a distributor in front of the shards (Bin must
	// have one).
	Distributor bool
	// DistributorTimeout is the distributor's -timeout: a request's whole
	// deadline, failover included.
	DistributorTimeout time.Duration
	// Logf receives progress messages; nil discards them.
	Logf func(format string, args ...any)
}

// Node is one hraftd process of the cluster.
type Node struct {
	ID    string // Raft ID: node0..node5 as in the seed layout
	Shard int
	HTTP  string // 127.0.0.1:port
	Raft  string // 127.0.0.1:port
	Dir   string
	*Proc
}

// Cluster is a running set of shards (Raft groups of hraftd processes) and
// optionally a distributor, all on 127.0.0.1 ports that were free when it
// started.
type Cluster struct {
	cfg    ClusterConfig
	Shards [][]*Node
	// Dist is the distributor process, nil without one; DistAddr its
	// address.
	Dist     *Proc
	DistAddr string

	client *http.Client
	logf   func(string, ...any)

	closeOnce sync.Once
}

// StartCluster starts the nodes (the first of each shard founds it, the
// others join it) and the distributor, and waits until every shard has a
// leader that all its nodes agree on. On error, everything it started is
// stopped.
func StartCluster(ctx context.Context, cfg ClusterConfig) (c *Cluster, err error) {
	if cfg.Shards <= 0 {
		cfg.Shards = 2
	}
	if cfg.NodesPerShard <= 0 {
		cfg.NodesPerShard = 3
	}
	if cfg.DistributorTimeout <= 0 {
		cfg.DistributorTimeout = 10 * time.Second
	}
	if cfg.Distributor && cfg.Bin.Distributor == "" {
		return nil, errors.New("chaos: a distributor was asked for but not built")
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	for _, d := range []string{"data", "logs"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	ports, err := freeport.Ports(cfg.Shards*cfg.NodesPerShard*2 + 1)
	if err != nil {
		return nil, err
	}
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	c = &Cluster{
		cfg:  cfg,
		logf: logf,
		client: &http.Client{
			Transport: &http.Transport{
				Proxy:               nil,
				DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
				MaxIdleConnsPerHost: 16,
			},
			// The harness looks at each server's own answer: a 307 is an
			// answer, not something to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	p := 0
	for s := range cfg.Shards {
		var nodes []*Node
		for i := range cfg.NodesPerShard {
			id := "node" + strconv.Itoa(s*cfg.NodesPerShard+i)
			n := &Node{ID: id, Shard: s, HTTP: addr(p), Raft: addr(p + 1), Dir: filepath.Join(cfg.Dir, "data", id)}
			p += 2
			args := []string{"-id", id, "-haddr", n.HTTP, "-raddr", n.Raft, "-fault-injection"}
			if i > 0 {
				// Every joiner points at the founder; on a restart
				// -join is harmless (README), so the command line
				// never changes.
				args = append(args, "-join", nodes[0].HTTP)
			}
			args = append(args, n.Dir)
			n.Proc = &Proc{Name: id, Bin: cfg.Bin.Node, Args: args, LogPath: filepath.Join(cfg.Dir, "logs", id+".log")}
			nodes = append(nodes, n)
		}
		c.Shards = append(c.Shards, nodes)
	}
	// Founders first: a joiner retries its join until the founder is up,
	// but starting them in order keeps the logs easy to read.
	for _, nodes := range c.Shards {
		if err := c.StartNode(ctx, nodes[0]); err != nil {
			return c, err
		}
	}
	for _, nodes := range c.Shards {
		for _, n := range nodes[1:] {
			if err := c.StartNode(ctx, n); err != nil {
				return c, err
			}
		}
	}
	for s := range c.Shards {
		if _, err := c.WaitHealthy(ctx, s, 60*time.Second); err != nil {
			return c, err
		}
	}
	if cfg.Distributor {
		c.DistAddr = addr(p)
		args := []string{"-addr", c.DistAddr, "-timeout", cfg.DistributorTimeout.String()}
		for _, nodes := range c.Shards {
			var hs []string
			for _, n := range nodes {
				hs = append(hs, n.HTTP)
			}
			args = append(args, "-shard", strings.Join(hs, ","))
		}
		c.Dist = &Proc{Name: "distributor", Bin: cfg.Bin.Distributor, Args: args, LogPath: filepath.Join(cfg.Dir, "logs", "distributor.log")}
		if err := c.StartDistributor(ctx); err != nil {
			return c, err
		}
	}
	logf("cluster up: %d shards × %d nodes%s, data and logs in %s", cfg.Shards, cfg.NodesPerShard,
		map[bool]string{true: " + distributor at " + c.DistAddr}[cfg.Distributor], cfg.Dir)
	return c, nil
}

// Close kills every process of the cluster (SIGKILL: nothing to save) and
// waits for them to exit. It is safe to call more than once.
func (c *Cluster) Close() {
	c.closeOnce.Do(func() {
		var procs []*Proc
		if c.Dist != nil {
			procs = append(procs, c.Dist)
		}
		for _, nodes := range c.Shards {
			for _, n := range nodes {
				procs = append(procs, n.Proc)
			}
		}
		var wg sync.WaitGroup
		for _, p := range procs {
			wg.Go(func() {
				if err := p.Kill(); err != nil {
					c.logf("cleanup: %v", err)
				}
			})
		}
		wg.Wait()
		c.client.CloseIdleConnections()
	})
}

// LogDir is where every process's log file is.
func (c *Cluster) LogDir() string { return filepath.Join(c.cfg.Dir, "logs") }

// Nodes returns every node, shard by shard.
func (c *Cluster) Nodes() []*Node {
	var out []*Node
	for _, nodes := range c.Shards {
		out = append(out, nodes...)
	}
	return out
}

// ShardOf is the distributor's routing rule, fnv32a(key) % shards, written
// out again here so that the tests check the distributor against an
// independent copy rather than against itself.
func (c *Cluster) ShardOf(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(len(c.Shards)))
}

// StartNode starts (or restarts) a node with its original command line and
// waits until it answers /status. A restart can fail if another program
// took the port while the node was down; it is retried a few times, since
// the port is usually released quickly.
func (c *Cluster) StartNode(ctx context.Context, n *Node) error {
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		if err := n.Proc.Start(); err != nil {
			return err
		}
		err := pollUntil(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
			select {
			case <-n.Exited():
				return false, fmt.Errorf("%s exited during start-up (%s); see %s", n.ID, n.LastExit(), n.LogPath)
			default:
			}
			_, err := c.Status(ctx, n)
			return err == nil, nil
		})
		if err == nil {
			return nil
		}
		last = err
		_ = n.Kill()
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("starting %s: %w", n.ID, last)
}

// StartDistributor starts (or restarts) the distributor and waits until it
// answers GET /status.
func (c *Cluster) StartDistributor(ctx context.Context) error {
	if err := c.Dist.Start(); err != nil {
		return err
	}
	return pollUntil(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		select {
		case <-c.Dist.Exited():
			return false, fmt.Errorf("distributor exited during start-up (%s); see %s", c.Dist.LastExit(), c.Dist.LogPath)
		default:
		}
		code, _, err := c.Do(ctx, http.MethodGet, "http://"+c.DistAddr+"/status", nil)
		return err == nil && code == http.StatusOK, nil
	})
}

// Status fetches a node's GET /status (1 s timeout).
func (c *Cluster) Status(ctx context.Context, n *Node) (api.Status, error) {
	var st api.Status
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	code, body, err := c.Do(ctx, http.MethodGet, "http://"+n.HTTP+"/status", nil)
	if err != nil {
		return st, err
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("%s /status answered %d: %s", n.ID, code, body)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("%s /status: %w", n.ID, err)
	}
	return st, nil
}

// Do makes one HTTP request with the harness's client and returns the
// status and the body (at most 1 MiB of it).
func (c *Cluster) Do(ctx context.Context, method, url string, body []byte) (int, []byte, error) {
	var r io.Reader = http.NoBody
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// Leader returns the node of shard s that leads it now, as the nodes report
// it: the one whose /status names itself leader with the highest term. It
// returns nil if none does.
func (c *Cluster) Leader(ctx context.Context, s int) *Node {
	var best *Node
	var term uint64
	for _, n := range c.Shards[s] {
		if !n.Running() {
			continue
		}
		st, err := c.Status(ctx, n)
		if err == nil && st.State == "Leader" && st.Me.ID == st.Leader.ID && st.Term >= term {
			best, term = n, st.Term
		}
	}
	return best
}

// WaitHealthy waits until every node of shard s is running and answers,
// all agree on one leader that is one of them, and every node is ready
// (knows the leader and has applied what it knows is committed). It
// returns the leader.
func (c *Cluster) WaitHealthy(ctx context.Context, s int, timeout time.Duration) (*Node, error) {
	var leader *Node
	var why string
	err := pollUntil(ctx, timeout, 100*time.Millisecond, func() (bool, error) {
		leader = nil
		var leaderID string
		for _, n := range c.Shards[s] {
			if !n.Running() {
				why = n.ID + " is not running"
				return false, nil
			}
			st, err := c.Status(ctx, n)
			if err != nil {
				why = err.Error()
				return false, nil
			}
			switch {
			case st.Leader.ID == "":
				why = n.ID + " knows no leader"
				return false, nil
			case leaderID == "":
				leaderID = st.Leader.ID
			case leaderID != st.Leader.ID:
				why = fmt.Sprintf("nodes disagree on the leader (%s, %s)", leaderID, st.Leader.ID)
				return false, nil
			}
			if len(st.Followers)+1 != len(c.Shards[s]) {
				why = fmt.Sprintf("%s sees %d followers", n.ID, len(st.Followers))
				return false, nil
			}
			if st.Me.ID == st.Leader.ID {
				leader = n
			}
			code, body, err := c.Do(ctx, http.MethodGet, "http://"+n.HTTP+"/readyz", nil)
			if err != nil || code != http.StatusOK {
				why = fmt.Sprintf("%s not ready: %d %s %v", n.ID, code, bytes.TrimSpace(body), err)
				return false, nil
			}
		}
		if leader == nil {
			why = "the agreed leader " + leaderID + " does not say it leads"
		}
		return leader != nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("shard %d not healthy: %w (last: %s)", s, err, why)
	}
	return leader, nil
}

// Converged waits until the nodes of shard s have applied the same index,
// and then reports whether their digests (applied index, key count, hash
// of the map) are equal. It returns the common digest.
func (c *Cluster) Converged(ctx context.Context, s int, timeout time.Duration) (api.Digest, error) {
	var ds []api.Digest
	var why string
	err := pollUntil(ctx, timeout, 100*time.Millisecond, func() (bool, error) {
		ds = ds[:0]
		for _, n := range c.Shards[s] {
			st, err := c.Status(ctx, n)
			if err != nil {
				why = err.Error()
				return false, nil
			}
			ds = append(ds, st.Digest)
		}
		for _, d := range ds[1:] {
			if d.AppliedIndex != ds[0].AppliedIndex {
				why = fmt.Sprintf("applied indexes differ: %v", ds)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return api.Digest{}, fmt.Errorf("shard %d did not reach one applied index: %w (last: %s)", s, err, why)
	}
	for i, d := range ds[1:] {
		if d != ds[0] {
			return api.Digest{}, fmt.Errorf("shard %d DIVERGED at applied index %d: %s has %+v, %s has %+v",
				s, d.AppliedIndex, c.Shards[s][0].ID, ds[0], c.Shards[s][i+1].ID, d)
		}
	}
	return ds[0], nil
}

// SetFaults posts a fault-injection request to a node (see package doc).
func (c *Cluster) SetFaults(ctx context.Context, n *Node, block []string, heal bool) error {
	body, _ := json.Marshal(map[string]any{"block": block, "heal": heal})
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	code, b, err := c.Do(ctx, http.MethodPost, "http://"+n.HTTP+"/debug/faults", body)
	if err != nil {
		return fmt.Errorf("%s /debug/faults: %w", n.ID, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("%s /debug/faults answered %d: %s", n.ID, code, b)
	}
	return nil
}

// Cut cuts Raft traffic between every node of a and every node of b, on
// both ends of each link.
func (c *Cluster) Cut(ctx context.Context, a, b []*Node) error {
	raft := func(ns []*Node) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Raft)
		}
		return out
	}
	var errs []error
	for _, n := range a {
		errs = append(errs, c.SetFaults(ctx, n, raft(b), false))
	}
	for _, n := range b {
		errs = append(errs, c.SetFaults(ctx, n, raft(a), false))
	}
	return errors.Join(errs...)
}

// Heal restores all Raft traffic of the nodes of shard s that are running.
func (c *Cluster) Heal(ctx context.Context, s int) error {
	var errs []error
	for _, n := range c.Shards[s] {
		if n.Running() {
			errs = append(errs, c.SetFaults(ctx, n, nil, true))
		}
	}
	return errors.Join(errs...)
}

// pollUntil calls cond every interval until it returns true, returns an
// error, ctx ends, or timeout passes.
func pollUntil(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s: %w", timeout, ctx.Err())
		case <-t.C:
		}
	}
}
