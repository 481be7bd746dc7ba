package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/distributor/router"
)

// bin holds the paths of the binaries TestMain builds.
var bin struct{ hraftd, distributor string }

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "distributor-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.hraftd = filepath.Join(dir, "hraftd")
	bin.distributor = filepath.Join(dir, "distributor")
	for _, b := range []struct{ out, pkg string }{
		{bin.hraftd, "github.com/kvraft/hraftd"},
		{bin.distributor, "github.com/kvraft/hraftd/distributor"},
	} {
		out, err := exec.Command("go", "build", "-o", b.out, b.pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b.pkg, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one running process of the cluster.
type proc struct {
	name string
	args []string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

func (p *proc) running() bool {
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

// node is one hraftd process and where it listens.
type node struct {
	proc
	id, http, raft string
	shard          int
}

// cluster is 2 shards of 3 real hraftd nodes each plus a distributor, on
// free 127.0.0.1 ports, torn down when the test ends.
type cluster struct {
	t      *testing.T
	dir    string
	shards [][]*node
	dist   *proc
	url    string // the distributor's base URL
	client *http.Client
}

// freeAddrs returns n distinct free 127.0.0.1 addresses. They are held open
// together so they are distinct, then released for the processes to take.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var lns []net.Listener
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{
		t:   t,
		dir: t.TempDir(),
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 32},
		},
	}
	addrs := freeAddrs(t, 2*3*2+1)
	t.Cleanup(c.stopAll)
	var shardFlags []string
	for s := range 2 {
		var group []*node
		var https []string
		for i := range 3 {
			k := s*3 + i
			n := &node{id: fmt.Sprintf("node%d", k), http: addrs[2*k], raft: addrs[2*k+1], shard: s}
			n.name = n.id
			n.log = filepath.Join(c.dir, n.id+".log")
			n.args = []string{"-id", n.id, "-haddr", n.http, "-raddr", n.raft}
			if i > 0 {
				// Like the seed: the first node of a shard founds it, the
				// others join it.
				n.args = append(n.args, "-join", group[0].http)
			}
			n.args = append(n.args, filepath.Join(c.dir, n.id))
			group = append(group, n)
			https = append(https, n.http)
		}
		c.shards = append(c.shards, group)
		shardFlags = append(shardFlags, "-shard", strings.Join(https, ","))
	}
	for _, group := range c.shards {
		for _, n := range group {
			c.start(&n.proc, bin.hraftd)
		}
	}
	distAddr := addrs[len(addrs)-1]
	c.url = "http://" + distAddr
	c.dist = &proc{name: "distributor", log: filepath.Join(c.dir, "distributor.log"),
		args: append([]string{"-addr", distAddr, "-poll", "250ms"}, shardFlags...)}
	c.start(c.dist, bin.distributor)

	// Ready when every shard has a leader with both followers joined, and
	// the distributor sees that leader.
	waitFor(t, 60*time.Second, "both shards to elect a leader with two followers", func() bool {
		for s := range c.shards {
			l := c.leader(s)
			if l == nil {
				return false
			}
			st, err := c.nodeStatus(l)
			if err != nil || len(st.Followers) != 2 {
				return false
			}
			var ds router.Status
			if err := c.getJSON(c.url+"/status", &ds); err != nil || ds.Shards[s].Leader == nil || ds.Shards[s].Leader.ID != l.id {
				return false
			}
		}
		return true
	})
	return c
}

// start launches p, appending its output to its log file.
func (c *cluster) start(p *proc, binary string) {
	c.t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(binary, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		c.t.Fatalf("starting %s: %v", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
}

// kill9 kills p with SIGKILL, as a crash would, and waits for it to exit.
func (c *cluster) kill9(p *proc) {
	c.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		c.t.Fatalf("killing %s: %v", p.name, err)
	}
	<-p.done
}

// stopAll kills every process still running and, if the test failed, shows
// the end of every log.
func (c *cluster) stopAll() {
	procs := []*proc{c.dist}
	for _, group := range c.shards {
		for _, n := range group {
			procs = append(procs, &n.proc)
		}
	}
	for _, p := range procs {
		if p != nil && p.running() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if c.t.Failed() {
		for _, p := range procs {
			if p != nil {
				c.t.Logf("--- last lines of %s ---\n%s", p.name, tail(p.log, 25))
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

func (c *cluster) getJSON(u string, v any) error {
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

func (c *cluster) nodeStatus(n *node) (api.Status, error) {
	var st api.Status
	err := c.getJSON("http://"+n.http+"/status", &st)
	return st, err
}

// leader returns the running node of shard s that says it leads, or nil.
func (c *cluster) leader(s int) *node {
	for _, n := range c.shards[s] {
		if !n.running() {
			continue
		}
		if st, err := c.nodeStatus(n); err == nil && st.Me.ID == st.Leader.ID && st.State == "Leader" {
			return n
		}
	}
	return nil
}

// setAnswer is the distributor's answer to POST /set.
type setAnswer struct {
	Clave, Valor, Node string
	Shard              int
}

// set writes one key through the distributor's /set.
func (c *cluster) set(k, v string) (setAnswer, error) {
	var ans setAnswer
	body, _ := json.Marshal(map[string]string{"clave": k, "valor": v})
	resp, err := c.client.Post(c.url+"/set", "application/json", bytes.NewReader(body))
	if err != nil {
		return ans, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return ans, fmt.Errorf("POST /set %q: %s: %s", k, resp.Status, b)
	}
	return ans, json.Unmarshal(b, &ans)
}

// readLocal reads k from one node's own map (level none).
func (c *cluster) readLocal(n *node, k string) (string, bool, error) {
	resp, err := c.client.Get("http://" + n.http + "/key/" + url.PathEscape(k) + "?level=none")
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	var m map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
		return "", false, fmt.Errorf("GET %s /key/%s: %s: %v", n.id, k, resp.Status, err)
	}
	return m[k], resp.Header.Get(api.HeaderFound) == "true", nil
}

// waitConverged waits until every node of shard s reports the same digest
// (applied index and hash of its whole map), which proves that each holds
// exactly the same data.
func (c *cluster) waitConverged(s int, timeout time.Duration) api.Digest {
	c.t.Helper()
	var d api.Digest
	waitFor(c.t, timeout, fmt.Sprintf("shard %d's nodes to converge", s), func() bool {
		var ds []api.Digest
		for _, n := range c.shards[s] {
			st, err := c.nodeStatus(n)
			if err != nil {
				return false
			}
			ds = append(ds, st.Digest)
		}
		for _, x := range ds[1:] {
			if x != ds[0] {
				return false
			}
		}
		d = ds[0]
		return true
	})
	return d
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
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

// TestShardingAndFailover runs the whole product: 2 shards of 3 hraftd
// processes and a distributor. Keys written through /set land on exactly
// their shard's three nodes; then each shard's leader is killed with
// SIGKILL in turn while writers keep writing through the distributor: no
// write may fail, every acknowledged write must be readable, and the killed
// node, restarted, must catch up.
func TestShardingAndFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
	c := startCluster(t)

	// 1. 200 keys through /set, some with awkward characters.
	const nkeys = 200
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
		switch i % 4 {
		case 1:
			keys[i] = fmt.Sprintf("dir/sub %d", i)
		case 2:
			keys[i] = fmt.Sprintf("%d%%ñ", i)
		}
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < nkeys; i += 8 {
				ans, err := c.set(keys[i], "v-"+keys[i])
				if err != nil {
					t.Error(err)
					continue
				}
				if want := router.ShardOf(keys[i], 2); ans.Shard != want || ans.Clave != keys[i] || ans.Valor != "v-"+keys[i] {
					t.Errorf("/set %q answered %+v, want shard %d", keys[i], ans, want)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for s := range 2 {
		c.waitConverged(s, 20*time.Second)
	}
	for _, k := range keys {
		owner := router.ShardOf(k, 2)
		for s, group := range c.shards {
			for _, n := range group {
				v, found, err := c.readLocal(n, k)
				if err != nil {
					t.Fatal(err)
				}
				if s == owner && (!found || v != "v-"+k) {
					t.Errorf("%s (shard %d) lacks %q, which belongs to it (got %q, found %v)", n.id, s, k, v, found)
				}
				if s != owner && found {
					t.Errorf("%s (shard %d) holds %q, which belongs to shard %d", n.id, s, k, owner)
				}
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// 2. Writers keep writing through the distributor while each shard's
	// leader is killed in turn.
	var (
		mu       sync.Mutex
		acked    = map[string]string{}
		perShard [2]atomic.Int64
		stop     = make(chan struct{})
		writers  sync.WaitGroup
	)
	for w := range 4 {
		writers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k, v := fmt.Sprintf("live-%d-%d", w, i), fmt.Sprintf("val-%d-%d", w, i)
				if _, err := c.set(k, v); err != nil {
					t.Errorf("write during failover failed: %v", err)
					return
				}
				mu.Lock()
				acked[k] = v
				mu.Unlock()
				perShard[router.ShardOf(k, 2)].Add(1)
			}
		})
	}
	stopWriters := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		writers.Wait()
	}
	t.Cleanup(stopWriters)

	for s := range 2 {
		old := c.leader(s)
		if old == nil {
			t.Fatalf("shard %d has no leader before the kill", s)
		}
		before := perShard[s].Load()
		waitFor(t, 10*time.Second, fmt.Sprintf("writes to shard %d before the kill", s), func() bool { return perShard[s].Load() >= before+10 })
		killedAt := perShard[s].Load()
		t.Logf("shard %d: killing leader %s with SIGKILL after %d writes to it", s, old.id, killedAt)
		c.kill9(&old.proc)
		var next *node
		waitFor(t, 30*time.Second, fmt.Sprintf("shard %d to elect a new leader", s), func() bool {
			next = c.leader(s)
			return next != nil
		})
		waitFor(t, 30*time.Second, fmt.Sprintf("writes to shard %d under its new leader", s), func() bool {
			return perShard[s].Load() >= killedAt+20
		})
		t.Logf("shard %d: %s leads; %d writes acknowledged since the kill", s, next.id, perShard[s].Load()-killedAt)

		c.start(&old.proc, bin.hraftd)
		st, err := c.nodeStatus(next)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, fmt.Sprintf("restarted %s to catch up to index %d", old.id, st.CommitIndex), func() bool {
			rs, err := c.nodeStatus(old)
			return err == nil && rs.AppliedIndex >= st.CommitIndex && rs.Leader.ID != ""
		})
		t.Logf("shard %d: restarted %s caught up past index %d", s, old.id, st.CommitIndex)
	}
	stopWriters()
	if t.Failed() {
		t.FailNow()
	}

	// 3. Every acknowledged write is there: on every node of its shard
	// (the digests match, and the restarted nodes hold each key) and
	// through the distributor.
	for s := range 2 {
		d := c.waitConverged(s, 30*time.Second)
		t.Logf("shard %d converged: %d keys at index %d", s, d.Keys, d.AppliedIndex)
	}
	t.Logf("%d writes acknowledged during the failovers", len(acked))
	for k, v := range acked {
		for _, n := range c.shards[router.ShardOf(k, 2)] {
			got, found, err := c.readLocal(n, k)
			if err != nil || !found || got != v {
				t.Fatalf("%s: acknowledged %q=%q reads %q (found %v, err %v)", n.id, k, v, got, found, err)
			}
		}
	}
	for k, v := range acked {
		var ans setAnswer
		if err := c.getJSON(c.url+"/get/"+url.PathEscape(k), &ans); err != nil || ans.Valor != v {
			t.Fatalf("/get %q = %+v, %v; want %q", k, ans, err, v)
		}
	}
	var ds router.Status
	if err := c.getJSON(c.url+"/status", &ds); err != nil {
		t.Fatal(err)
	}
	t.Logf("distributor counters: %+v", ds.Counters)
	if ds.Counters.Failed != 0 || ds.Counters.LeaderChanges < 2 {
		t.Fatalf("counters %+v: want no failures and at least two leader changes", ds.Counters)
	}
	logHasNoPanics(t, c)
}

// logHasNoPanics fails the test if any process logged a panic.
func logHasNoPanics(t *testing.T, c *cluster) {
	t.Helper()
	logs := []string{c.dist.log}
	for _, g := range c.shards {
		for _, n := range g {
			logs = append(logs, n.log)
		}
	}
	for _, l := range logs {
		f, err := os.Open(l)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "panic:") || strings.Contains(sc.Text(), "DATA RACE") {
				t.Errorf("%s: %s", filepath.Base(l), sc.Text())
			}
		}
		f.Close()
	}
}
