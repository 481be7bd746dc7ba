package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kvraft/hraftd/internal/freeport"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// Config says what Start starts.
type Config struct {
	// Dir holds data/ (one directory per node) and logs/ (one file per
	// process). The cluster does not remove it: its owner does
	// (t.TempDir, or the tool), after copying the logs out if needed.
	Dir string
	// Shards and PerShard shape the Raft groups: shard s is nodes
	// node<s*PerShard> to node<(s+1)*PerShard-1>, the first founding the
	// group and the others joining it. Shards 0 starts no node (add them
	// with AddNode).
	Shards, PerShard int
	// NodeArgs are extra flags for every node (-pprof, -fault-injection).
	NodeArgs []string
	// Distributor starts a distributor in front of every shard.
	Distributor bool
	// DistributorArgs are extra flags for every distributor (-poll,
	// -timeout, -pprof).
	DistributorArgs []string
	// Timeout bounds each wait of the launcher's own: a start-up, a
	// restart, a leader; a wait also ends with its ctx. 0 means 60 s.
	Timeout time.Duration
	// StopGrace is how Close stops the processes: 0 kills them at once
	// (SIGKILL: nothing to save); otherwise SIGTERM, the front ends before
	// the nodes, and SIGKILL for any still running after StopGrace.
	StopGrace time.Duration
	// Logf receives progress messages; nil discards them.
	Logf func(format string, args ...any)
	// Secure starts the cluster with TLS and authentication: Start makes
	// a CA, certificates and a users file (Cluster.Security), gives every
	// process -tls-cert, -tls-key, -tls-ca and -auth, and talks HTTPS
	// with the admin certificate. HRAFTD_TEST_SECURE=1 (EnvSecure) turns
	// it on for every cluster whose Config does not say Plain.
	Secure bool
	// Plain keeps the cluster plain HTTP even under HRAFTD_TEST_SECURE=1:
	// for a test of what only a plain cluster does.
	Plain bool
}

// DefaultConfig is the seed layout's shape: 2 shards of 3 nodes and a
// distributor in front of them. Dir must still be set.
func DefaultConfig() Config {
	return Config{Shards: 2, PerShard: 3, Distributor: true, Timeout: 60 * time.Second}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("cluster: Dir is required")
	case c.Shards < 0 || c.Shards > 0 && c.PerShard < 1:
		return errors.New("cluster: Shards must not be negative, and PerShard must be at least 1")
	case c.Distributor && c.Shards == 0:
		return errors.New("cluster: a distributor needs at least one shard")
	case c.Timeout < 0 || c.StopGrace < 0:
		return errors.New("cluster: Timeout and StopGrace must not be negative")
	case c.Secure && c.Plain:
		return errors.New("cluster: Secure and Plain contradict each other")
	}
	return nil
}

// Node is one hraftd process.
type Node struct {
	*Proc
	ID string
	// Shard is the node's Raft group, -1 for a node added with AddNode.
	Shard int
	// HTTP and Raft are its 127.0.0.1:port addresses; they stay the same
	// across restarts (Raft keeps the address in its log).
	HTTP, Raft string
	// Dir is its data directory, kept across restarts.
	Dir string
	// Join is the -join flag of its next start ("" for none). On a
	// restart -join is ignored, but harmless (README), so it can stay.
	Join string
	// Cert is the certificate the node presents in a secure cluster (a
	// node certificate for its ID); zero in a plain one.
	Cert KeyPair

	scheme string // "https" in a secure cluster, else "" (http)
}

// URL is the node's API base URL, http://127.0.0.1:port, or https:// in a
// secure cluster.
func (n *Node) URL() string { return schemeOr(n.scheme) + "://" + n.HTTP }

func schemeOr(s string) string {
	if s == "" {
		return "http"
	}
	return s
}

// Distributor is one distributor process.
type Distributor struct {
	*Proc
	// Addr is its 127.0.0.1:port.
	Addr string
	// Cert is the certificate the distributor serves its API with and
	// presents to the nodes in a secure cluster (role client, CN its
	// name); zero in a plain one.
	Cert KeyPair

	scheme string
}

// URL is the distributor's base URL, http://127.0.0.1:port, or https:// in
// a secure cluster.
func (d *Distributor) URL() string { return schemeOr(d.scheme) + "://" + d.Addr }

// Cluster is a set of running processes: Raft groups of hraftd nodes,
// distributors and any helper server, all on 127.0.0.1 ports that were
// free when each started. Close it.
type Cluster struct {
	// Shards are the Raft groups Start made, in shard order.
	Shards [][]*Node
	// Dist is the distributor Start made (Config.Distributor), or nil.
	Dist *Distributor
	// Security is the TLS and authentication material of a secure
	// cluster (Config.Secure), or nil for a plain one.
	Security *Security

	cfg    Config
	logf   func(string, ...any)
	client *http.Client

	mu    sync.Mutex
	procs []*Proc // every process made, in order
	added []*Node // AddNode's
}

// Start starts cfg's cluster: the first node of each shard, which founds
// its group and is waited for until it leads; then the others, which join
// it; then waits until every shard is healthy (WaitHealthy) and, with a
// distributor, until the distributor routes every shard to its leader. On
// error it stops everything it started. A secure cluster (Config.Secure,
// or HRAFTD_TEST_SECURE=1) first makes its certificates and users file
// in Dir/certs.
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultConfig().Timeout
	}
	cfg.Secure = cfg.secure()
	c = &Cluster{cfg: cfg, logf: cfg.Logf}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	for _, d := range []string{"data", "logs"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := c.setUpClient(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	c.Shards = make([][]*Node, cfg.Shards)
	for s := range c.Shards {
		n, err := c.startNode(ctx, "node"+strconv.Itoa(s*cfg.PerShard), s, "")
		if err != nil {
			return c, err
		}
		c.Shards[s] = []*Node{n}
	}
	// Each founder leads before anyone joins it, so that the joiners
	// find a leader at once instead of retrying.
	for s := range c.Shards {
		if _, err := c.WaitLeader(ctx, c.Shards[s][0]); err != nil {
			return c, err
		}
	}
	for s := range c.Shards {
		for i := 1; i < cfg.PerShard; i++ {
			n, err := c.startNode(ctx, "node"+strconv.Itoa(s*cfg.PerShard+i), s, c.Shards[s][0].HTTP)
			if err != nil {
				return c, err
			}
			c.Shards[s] = append(c.Shards[s], n)
		}
	}
	for s := range c.Shards {
		if _, err := c.WaitHealthy(ctx, s); err != nil {
			return c, err
		}
	}
	if cfg.Distributor {
		if c.Dist, err = c.StartDistributor(ctx, "distributor", allShards(cfg.Shards)); err != nil {
			return c, err
		}
		if err := c.waitRoutes(ctx, c.Dist); err != nil {
			return c, err
		}
	}
	if cfg.Shards > 0 {
		c.logf("cluster up: %d shards × %d nodes%s; data and logs in %s", cfg.Shards, cfg.PerShard,
			map[bool]string{true: ", distributor at " + c.distAddr()}[cfg.Distributor], cfg.Dir)
	}
	return c, nil
}

func allShards(n int) []int {
	all := make([]int, n)
	for s := range all {
		all[s] = s
	}
	return all
}

func (c *Cluster) distAddr() string {
	if c.Dist == nil {
		return ""
	}
	return c.Dist.Addr
}

// waitRoutes waits until distributor d routes every shard to the node
// that leads it.
func (c *Cluster) waitRoutes(ctx context.Context, d *Distributor) error {
	return poll(ctx, c.cfg.Timeout, d.name+" to route every shard to its leader", []*Proc{d.Proc}, func() error {
		for s := range c.Shards {
			l := c.Leader(ctx, s)
			if l == nil {
				return fmt.Errorf("no node of shard %d says it leads", s)
			}
			if got := c.distributorLeader(ctx, d, s); got != l.ID {
				return fmt.Errorf("it routes shard %d to %q, not %s", s, got, l.ID)
			}
		}
		return nil
	})
}

// AddNode starts one more node, outside the shards, with its own ID, fresh
// ports and a fresh data directory, and -join join ("" founds a group of
// its own); it waits until the node answers GET /status. Close stops it.
func (c *Cluster) AddNode(ctx context.Context, id, join string) (*Node, error) {
	n, err := c.startNode(ctx, id, -1, join)
	if n != nil {
		c.mu.Lock()
		c.added = append(c.added, n)
		c.mu.Unlock()
	}
	return n, err
}

func (c *Cluster) startNode(ctx context.Context, id string, shard int, join string) (*Node, error) {
	bin, err := Build(ctx, PkgHraftd)
	if err != nil {
		return nil, err
	}
	n := &Node{ID: id, Shard: shard, Dir: filepath.Join(c.cfg.Dir, "data", id), Join: join}
	if c.Security != nil {
		n.scheme = "https"
		if n.Cert, err = c.Security.issue(id, tlsconf.RoleNode); err != nil {
			return nil, err
		}
	}
	args := func() []string {
		a := []string{"-id", n.ID, "-haddr", n.HTTP, "-raddr", n.Raft}
		if n.Join != "" {
			a = append(a, "-join", n.Join)
		}
		if c.Security != nil {
			a = append(a, c.Security.processArgs(n.Cert)...)
		}
		a = append(a, c.cfg.NodeArgs...)
		a = append(a, envNodeArgs()...)
		return append(a, n.Dir)
	}
	n.Proc = c.newProc(id, bin, args, func(ctx context.Context) error {
		_, err := c.Status(ctx, n)
		return err
	})
	err = c.firstStart(ctx, n.Proc, func() error {
		ports, err := freeport.Ports(2)
		if err != nil {
			return err
		}
		n.HTTP, n.Raft = freeport.Addr(ports[0]), freeport.Addr(ports[1])
		// A failed start may have left state behind: begin afresh.
		return os.RemoveAll(n.Dir)
	})
	if err != nil {
		return n, err
	}
	c.logf("started %s (shard %d): http %s, raft %s", id, shard, n.HTTP, n.Raft)
	return n, nil
}

// StartDistributor starts a distributor named name in front of the given
// shards (a second one over fewer shards is a diagnostic of its own), on
// a free port, and waits until it answers GET /status. Close stops it.
func (c *Cluster) StartDistributor(ctx context.Context, name string, shards []int) (*Distributor, error) {
	for _, s := range shards {
		if s < 0 || s >= len(c.Shards) {
			return nil, fmt.Errorf("cluster: no shard %d (there are %d)", s, len(c.Shards))
		}
	}
	bin, err := Build(ctx, PkgDistributor)
	if err != nil {
		return nil, err
	}
	d := &Distributor{}
	if c.Security != nil {
		d.scheme = "https"
		if d.Cert, err = c.Security.issue(name, tlsconf.RoleClient); err != nil {
			return nil, err
		}
	}
	args := func() []string {
		a := []string{"-addr", d.Addr}
		for _, s := range shards {
			var addrs []string
			for _, n := range c.Shards[s] {
				addrs = append(addrs, n.HTTP)
			}
			a = append(a, "-shard", strings.Join(addrs, ","))
		}
		if c.Security != nil {
			a = append(a, c.Security.processArgs(d.Cert)...)
		}
		return append(a, c.cfg.DistributorArgs...)
	}
	d.Proc = c.newProc(name, bin, args, func(ctx context.Context) error {
		return c.getOK(ctx, d.URL()+"/status")
	})
	err = c.firstStart(ctx, d.Proc, func() error {
		ports, err := freeport.Ports(1)
		if err != nil {
			return err
		}
		d.Addr = freeport.Addr(ports[0])
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.logf("started %s: http %s, shards %v", name, d.Addr, shards)
	return d, nil
}

// StartProcess starts any other server (bin with args) as part of the
// cluster, and waits until GET readyURL answers 200. Close stops it.
func (c *Cluster) StartProcess(ctx context.Context, name, bin string, args []string, readyURL string) (*Proc, error) {
	p := c.newProc(name, bin, func() []string { return args }, func(ctx context.Context) error {
		return c.getOK(ctx, readyURL)
	})
	if err := c.firstStart(ctx, p, nil); err != nil {
		return nil, err
	}
	c.logf("started %s: %s", name, readyURL)
	return p, nil
}

func (c *Cluster) newProc(name, bin string, args func() []string, ready func(context.Context) error) *Proc {
	p := &Proc{name: name, bin: bin, args: args, ready: ready, timeout: c.cfg.Timeout,
		logPath: filepath.Join(c.LogDir(), name+".log")}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p
}

// firstStart starts p for the first time and waits until it is ready. If
// pick is not nil it chooses p's ports, and is called again when another
// program took one of them between the choice and the bind (nobody knows
// p's addresses yet, so they can still change), up to three times.
func (c *Cluster) firstStart(ctx context.Context, p *Proc, pick func() error) error {
	for attempt := 1; ; attempt++ {
		if pick != nil {
			if err := pick(); err != nil {
				return err
			}
		}
		if err := p.spawn(); err != nil {
			return err
		}
		err := p.waitReady(ctx)
		if err == nil {
			return nil
		}
		_ = p.Kill()
		if pick == nil || attempt == 3 || !p.portTaken() {
			return err
		}
		c.logf("%s: a port was taken; retrying on others", p.name)
	}
}

// Nodes returns every node: the shards' in shard order, then AddNode's.
func (c *Cluster) Nodes() []*Node {
	var out []*Node
	for _, nodes := range c.Shards {
		out = append(out, nodes...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append(out, c.added...)
}

// Procs returns every process the cluster made, in the order it made them.
func (c *Cluster) Procs() []*Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.procs)
}

// LogDir holds one log file per process, <name>.log.
func (c *Cluster) LogDir() string { return filepath.Join(c.cfg.Dir, "logs") }

// LogTails returns the last lines of every process's log, each under a
// header naming the file: what to print when a test fails.
func (c *Cluster) LogTails(lines int) string {
	var b strings.Builder
	for _, p := range c.Procs() {
		if _, err := os.Stat(p.logPath); err != nil {
			continue
		}
		fmt.Fprintf(&b, "--- last %d lines of %s ---\n%s\n", lines, p.logPath, p.logTail(lines))
	}
	return b.String()
}

// Close stops every process the cluster made (see Config.StopGrace) and
// waits for them to exit. It is safe to call more than once.
func (c *Cluster) Close() {
	procs := c.Procs()
	nodes := map[*Proc]bool{}
	for _, n := range c.Nodes() {
		nodes[n.Proc] = true
	}
	stop := func(p *Proc) {
		if err := p.Kill(); err != nil {
			c.logf("close: %v", err)
		}
	}
	groups := [][]*Proc{procs}
	if c.cfg.StopGrace > 0 {
		// Front ends first, so nothing is mid-forward when the nodes
		// go; then the nodes together, since one by one each would
		// wait out a leadership transfer to a peer about to stop too.
		stop = func(p *Proc) { _ = p.Term(c.cfg.StopGrace) }
		var front, back []*Proc
		for _, p := range procs {
			if nodes[p] {
				back = append(back, p)
			} else {
				front = append(front, p)
			}
		}
		groups = [][]*Proc{front, back}
	}
	for _, g := range groups {
		var wg sync.WaitGroup
		for _, p := range g {
			wg.Go(func() { stop(p) })
		}
		wg.Wait()
	}
	c.client.CloseIdleConnections()
}

// envNodeArgs are the flags in HRAFTD_TEST_NODE_ARGS, given to every node
// after Config.NodeArgs: a way to run any suite with another setting,
// e.g. HRAFTD_TEST_NODE_ARGS="-log-store wal" make chaos.
func envNodeArgs() []string { return strings.Fields(os.Getenv("HRAFTD_TEST_NODE_ARGS")) }
