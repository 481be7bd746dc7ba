// Package cluster starts a throwaway sharded cluster for benchmarks: Raft
// groups of hraftd nodes, the distributor in front of them and a hello
// server, all as child processes on free 127.0.0.1 ports, and stops every
// one of them again. It never uses the seed's fixed ports, so it can run
// while `make run` is up.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/freeport"
)

// Config says what to start.
type Config struct {
	// Dir holds data/ (one directory per node) and logs/ (one file per
	// process). It must exist.
	Dir string
	// Hraftd is the node binary; required.
	Hraftd string
	// Shards and PerShard shape the cluster: 2 and 3 in the matrix.
	Shards, PerShard int
	// ReadyTimeout bounds each wait: for leaders, joins and readiness.
	ReadyTimeout time.Duration
	// Logger reports progress; nil discards it.
	Logger *slog.Logger
	// NodeArgs and DistributorArgs are extra flags for every node and for
	// the distributor (e.g. -pprof, to profile a benchmark row).
	NodeArgs, DistributorArgs []string
}

// DefaultConfig is a 2×3 cluster with a 60 s bound on each start-up wait.
func DefaultConfig() Config {
	return Config{Shards: 2, PerShard: 3, ReadyTimeout: 60 * time.Second}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("cluster: Dir is required")
	case c.Hraftd == "":
		return errors.New("cluster: Hraftd binary is required")
	case c.Shards < 1 || c.PerShard < 1:
		return errors.New("cluster: Shards and PerShard must be at least 1")
	case c.ReadyTimeout <= 0:
		return errors.New("cluster: ReadyTimeout must be positive")
	}
	return nil
}

// Node is one hraftd process.
type Node struct {
	ID    string
	Shard int
	// HTTP and Raft are host:port addresses.
	HTTP, Raft string
	proc       *proc
}

// URL is the node's API base URL.
func (n *Node) URL() string { return "http://" + n.HTTP }

// Cluster is a running cluster. Close it.
type Cluster struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client
	// Nodes in shard order: shard s holds Nodes[s*PerShard:(s+1)*PerShard],
	// the first of each bootstrapping the group.
	Nodes []*Node
	// DistributorURL and HelloURL are set by StartDistributor and
	// StartHello.
	DistributorURL string
	HelloURL       string
	// LogDir holds one log file per process.
	LogDir string

	mu    sync.Mutex
	procs []*proc
	// distributor and hello are set once they answer, for their PIDs.
	distributor, hello *proc
	extraDistributors  []*proc // StartExtraDistributor's
}

// Start launches the nodes and waits until every shard has a leader with
// all its members and every node is ready. If anything fails it stops what
// it started before returning.
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c = &Cluster{
		cfg:    cfg,
		log:    logger,
		client: &http.Client{Timeout: 2 * time.Second},
		LogDir: filepath.Join(cfg.Dir, "logs"),
	}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	for _, d := range []string{c.LogDir, filepath.Join(cfg.Dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return c, err
		}
	}

	n := cfg.Shards * cfg.PerShard
	ports, err := freeport.Ports(2 * n)
	if err != nil {
		return c, err
	}
	for i := range n {
		c.Nodes = append(c.Nodes, &Node{
			ID:    "node" + strconv.Itoa(i),
			Shard: i / cfg.PerShard,
			HTTP:  addr(ports[2*i]),
			Raft:  addr(ports[2*i+1]),
		})
	}

	// Bootstrap nodes first, each alone until it leads its group, so that
	// the joiners find a leader to join instead of retrying.
	for s := range cfg.Shards {
		if err := c.startNode(c.shard(s)[0], ""); err != nil {
			return c, err
		}
	}
	for s := range cfg.Shards {
		if _, err := c.waitLeader(ctx, s, 1); err != nil {
			return c, err
		}
	}
	for s := range cfg.Shards {
		nodes := c.shard(s)
		for _, nd := range nodes[1:] {
			if err := c.startNode(nd, nodes[0].HTTP); err != nil {
				return c, err
			}
		}
	}
	for s := range cfg.Shards {
		if _, err := c.waitLeader(ctx, s, cfg.PerShard); err != nil {
			return c, err
		}
	}
	for _, nd := range c.Nodes {
		if err := c.waitReady(ctx, nd); err != nil {
			return c, err
		}
	}
	c.log.Info("nodes ready", "shards", cfg.Shards, "per_shard", cfg.PerShard, "logs", c.LogDir)
	return c, nil
}

// Close stops every process the cluster started, the distributor and hello
// server before the nodes, and waits for them to exit.
func (c *Cluster) Close() {
	c.mu.Lock()
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()
	// Stop front ends first so nothing is mid-forward when nodes go; then
	// the nodes together, since one by one each shutdown would wait out a
	// leadership transfer to a peer that is about to stop too.
	var front, nodes []*proc
	for _, p := range procs {
		if strings.HasPrefix(p.name, "node") {
			nodes = append(nodes, p)
		} else {
			front = append(front, p)
		}
	}
	for _, group := range [][]*proc{front, nodes} {
		var wg sync.WaitGroup
		for _, p := range group {
			wg.Go(func() { p.stop(5 * time.Second) })
		}
		wg.Wait()
	}
	c.client.CloseIdleConnections()
}

func (c *Cluster) track(p *proc) {
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
}

func (c *Cluster) shard(s int) []*Node {
	return c.Nodes[s*c.cfg.PerShard : (s+1)*c.cfg.PerShard]
}

func (c *Cluster) startNode(nd *Node, join string) error {
	args := []string{"-id", nd.ID, "-haddr", nd.HTTP, "-raddr", nd.Raft}
	if join != "" {
		args = append(args, "-join", join)
	}
	args = append(args, c.cfg.NodeArgs...)
	args = append(args, filepath.Join(c.cfg.Dir, "data", nd.ID))
	p, err := startProc(c.LogDir, nd.ID, c.cfg.Hraftd, args...)
	if err != nil {
		return err
	}
	nd.proc = p
	c.track(p)
	c.log.Info("started node", "node", nd.ID, "shard", nd.Shard, "http", nd.HTTP, "raft", nd.Raft)
	return nil
}

// StartDistributor starts bin as the distributor in front of every shard,
// on a free port, and waits until it answers /status. Close stops it.
func (c *Cluster) StartDistributor(ctx context.Context, bin string) error {
	all := make([]int, c.cfg.Shards)
	for s := range all {
		all[s] = s
	}
	url, p, err := c.startDistributor(ctx, "distributor", bin, all)
	if err != nil {
		return err
	}
	c.DistributorURL, c.distributor = url, p
	return nil
}

// StartExtraDistributor starts another distributor, named name, in front of
// only the given shards (a diagnostic: e.g. write coalescing over one shard)
// and returns its URL. Close stops it; its CPU counts as the distributor's.
func (c *Cluster) StartExtraDistributor(ctx context.Context, name, bin string, shards []int) (string, error) {
	for _, s := range shards {
		if s < 0 || s >= c.cfg.Shards {
			return "", fmt.Errorf("cluster: no shard %d (there are %d)", s, c.cfg.Shards)
		}
	}
	url, p, err := c.startDistributor(ctx, name, bin, shards)
	if err != nil {
		return "", err
	}
	c.extraDistributors = append(c.extraDistributors, p)
	return url, nil
}

func (c *Cluster) startDistributor(ctx context.Context, name, bin string, shards []int) (string, *proc, error) {
	ports, err := freeport.Ports(1)
	if err != nil {
		return "", nil, err
	}
	listen := addr(ports[0])
	args := []string{"-addr", listen}
	for _, s := range shards {
		var addrs []string
		for _, nd := range c.shard(s) {
			addrs = append(addrs, nd.HTTP)
		}
		args = append(args, "-shard", strings.Join(addrs, ","))
	}
	args = append(args, c.cfg.DistributorArgs...)
	p, err := startProc(c.LogDir, name, bin, args...)
	if err != nil {
		return "", nil, err
	}
	c.track(p)
	url := "http://" + listen
	if err := c.poll(ctx, name+" to answer /status", p, func() error {
		return c.getOK(ctx, url+"/status")
	}); err != nil {
		return "", nil, err
	}
	c.log.Info("started distributor", "name", name, "http", listen, "shards", shards)
	return url, p, nil
}

// StartHello starts `bench -serve-hello` (bench is the bench binary) on a
// free port and waits until it answers. Close stops it.
func (c *Cluster) StartHello(ctx context.Context, bench string) error {
	ports, err := freeport.Ports(1)
	if err != nil {
		return err
	}
	listen := addr(ports[0])
	p, err := startProc(c.LogDir, "hello", bench, "-serve-hello", listen)
	if err != nil {
		return err
	}
	c.track(p)
	url := "http://" + listen + "/"
	if err := c.poll(ctx, "hello server to answer", p, func() error {
		return c.getOK(ctx, url)
	}); err != nil {
		return err
	}
	c.HelloURL, c.hello = url, p
	c.log.Info("started hello server", "http", listen)
	return nil
}

// DistributorPIDs are the process IDs of the running distributors: the
// main one and any extra ones; none if none was started or all have exited.
func (c *Cluster) DistributorPIDs() []int {
	var pids []int
	for _, p := range append([]*proc{c.distributor}, c.extraDistributors...) {
		if pid := p.pid(); pid != 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// HelloPID is the hello server's process ID, or 0 if it was not started,
// did not answer, or has exited.
func (c *Cluster) HelloPID() int { return c.hello.pid() }

// Shards is the number of Raft groups.
func (c *Cluster) Shards() int { return c.cfg.Shards }

// Leader returns the node that leads shard s now.
func (c *Cluster) Leader(ctx context.Context, s int) (*Node, error) {
	return c.waitLeader(ctx, s, 1)
}

// Follower returns a node of shard s that follows its current leader.
func (c *Cluster) Follower(ctx context.Context, s int) (*Node, error) {
	var found *Node
	err := c.poll(ctx, fmt.Sprintf("a follower in shard %d", s), nil, func() error {
		for _, nd := range c.shard(s) {
			st, err := c.status(ctx, nd)
			if err != nil {
				continue
			}
			if st.State == "Follower" && st.Leader.ID != "" && st.Leader.ID != st.Me.ID {
				found = nd
				return nil
			}
		}
		return errors.New("no node is a follower with a known leader")
	})
	return found, err
}

// waitLeader waits until a node of shard s leads it with at least members
// members (itself included), and returns it.
func (c *Cluster) waitLeader(ctx context.Context, s, members int) (*Node, error) {
	var leader *Node
	err := c.poll(ctx, fmt.Sprintf("shard %d to elect a leader with %d members", s, members), nil, func() error {
		for _, nd := range c.shard(s) {
			if nd.proc == nil {
				continue // not started yet
			}
			if ok, werr := nd.proc.exited(); ok {
				return fatalError{fmt.Errorf("%s exited (%v); last lines of %s:\n%s", nd.ID, werr, nd.proc.logPath, nd.proc.logTail(15))}
			}
			st, err := c.status(ctx, nd)
			if err != nil || st.Me.ID == "" || st.Me.ID != st.Leader.ID {
				continue
			}
			if got := 1 + len(st.Followers); got < members {
				return fmt.Errorf("leader %s has %d members", nd.ID, got)
			}
			leader = nd
			return nil
		}
		return errors.New("no node leads")
	})
	return leader, err
}

func (c *Cluster) waitReady(ctx context.Context, nd *Node) error {
	return c.poll(ctx, nd.ID+" to be ready", nd.proc, func() error {
		return c.getOK(ctx, nd.URL()+"/readyz")
	})
}

func (c *Cluster) status(ctx context.Context, nd *Node) (api.Status, error) {
	var st api.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, nd.URL()+"/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /status: HTTP %d", resp.StatusCode)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func (c *Cluster) getOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// fatalError stops a poll early: waiting longer cannot help.
type fatalError struct{ error }

// poll calls cond every 50 ms until it returns nil, ctx ends, or
// ReadyTimeout passes. If p is not nil and exits meanwhile, it fails at
// once with the end of p's log, which is nearly always the reason.
func (c *Cluster) poll(ctx context.Context, what string, p *proc, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ReadyTimeout)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if p != nil {
			if ok, werr := p.exited(); ok {
				return fmt.Errorf("waiting for %s: %s exited (%v); last lines of %s:\n%s", what, p.name, werr, p.logPath, p.logTail(15))
			}
		}
		err := cond()
		var fe fatalError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &fe):
			return fmt.Errorf("waiting for %s: %w", what, fe.error)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), err)
		case <-t.C:
		}
	}
}

func addr(port int) string { return freeport.Addr(port) }

// WaitKey waits until nd itself (level=none: no forwarding, no leader
// round) holds key, which tells that a follower has applied a preload up
// to that key: entries apply in log order, so the last key of a preload
// arriving means all of it has.
func (c *Cluster) WaitKey(ctx context.Context, nd *Node, key string) error {
	url := nd.URL() + "/key/" + neturl.PathEscape(key) + "?level=" + api.LevelNone
	return c.poll(ctx, nd.ID+" to apply key "+key, nd.proc, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fatalError{err}
		}
		resp, err := c.client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get(api.HeaderFound) != "true" {
			return fmt.Errorf("HTTP %d, found=%s", resp.StatusCode, resp.Header.Get(api.HeaderFound))
		}
		return nil
	})
}

// Quiesce waits until every node of every shard has applied all that its
// shard's leader had committed when the wait began, or until ctx ends. A
// benchmark calls it between runs so that a run is not charged for the
// previous run's tail: a follower still catching up on the entries a
// write run committed without it (a quorum is the leader and one
// follower) would serve the next run's reads while applying them.
func (c *Cluster) Quiesce(ctx context.Context) error {
	for s := range c.cfg.Shards {
		leader, err := c.Leader(ctx, s)
		if err != nil {
			return err
		}
		lst, err := c.status(ctx, leader)
		if err != nil {
			return fmt.Errorf("status of shard %d's leader: %w", s, err)
		}
		for _, nd := range c.shard(s) {
			err := c.poll(ctx, nd.ID+" to apply index "+strconv.FormatUint(lst.CommitIndex, 10), nd.proc, func() error {
				st, err := c.status(ctx, nd)
				if err != nil {
					return err
				}
				if st.AppliedIndex < lst.CommitIndex {
					return fmt.Errorf("applied %d of %d", st.AppliedIndex, lst.CommitIndex)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}
