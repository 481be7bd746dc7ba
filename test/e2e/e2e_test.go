package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/internal/cluster"
)

func TestMain(m *testing.M) { cluster.Main(m) }

// product is the whole product (2 shards of 3 nodes and a distributor
// polling every 250 ms, so the test sees changes quickly) plus the few
// helpers this test needs on top: writes through /set and local reads on
// a node.
type product struct {
	*cluster.Test
	client *http.Client // long timeout: a /set may wait out a failover
}

func startProduct(t *testing.T) *product {
	t.Helper()
	cfg := cluster.DefaultConfig()
	cfg.DistributorArgs = []string{"-poll", "250ms"}
	return &product{
		Test: cluster.NewTest(t, cfg),
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 32},
		},
	}
}

// setAnswer is the distributor's answer to POST /set.
type setAnswer struct {
	Clave, Valor, Node string
	Shard              int
}

// set writes one key through the distributor's /set.
func (c *product) set(k, v string) (setAnswer, error) {
	var ans setAnswer
	body, _ := json.Marshal(map[string]string{"clave": k, "valor": v})
	resp, err := c.client.Post(c.Dist.URL()+"/set", "application/json", bytes.NewReader(body))
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
func (c *product) readLocal(n *cluster.Node, k string) (string, bool, error) {
	resp, err := c.client.Get(n.URL() + "/key/" + url.PathEscape(k) + "?level=none")
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	var m map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
		return "", false, fmt.Errorf("GET %s /key/%s: %s: %v", n.ID, k, resp.Status, err)
	}
	return m[k], resp.Header.Get(api.HeaderFound) == "true", nil
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
	c := startProduct(t)

	// 1. 200 keys through /set, some with awkward characters, each on
	// exactly its shard's nodes.
	setAndCheckPlacement(t, c)

	// 2. Writers keep writing through the distributor while each shard's
	// leader is killed in turn.
	w := startWriters(t, c, 4)
	t.Cleanup(w.stop)
	for s := range 2 {
		failover(t, c, s, &w.perShard[s])
	}
	w.stop()
	if t.Failed() {
		t.FailNow()
	}

	// 3. Every acknowledged write is there: on every node of its shard
	// (the digests match, and the restarted nodes hold each key) and
	// through the distributor, which counted the failovers and no failure.
	checkAcked(t, c, w.acked)
	var ds router.Status
	if err := c.GetJSON(t.Context(), c.Dist.URL()+"/status", &ds); err != nil {
		t.Fatal(err)
	}
	t.Logf("distributor counters: %+v", ds.Counters)
	if ds.Counters.Failed != 0 || ds.Counters.LeaderChanges < 2 {
		t.Fatalf("counters %+v: want no failures and at least two leader changes", ds.Counters)
	}
	logHasNoPanics(t, c)
}

// setAndCheckPlacement writes 200 keys through /set and checks that each
// is on every node of its shard and on no node of the other.
func setAndCheckPlacement(t *testing.T, c *product) {
	t.Helper()
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
		c.WaitConverged(20*time.Second, s)
	}
	for _, k := range keys {
		owner := router.ShardOf(k, 2)
		for s, group := range c.Shards {
			for _, n := range group {
				v, found, err := c.readLocal(n, k)
				if err != nil {
					t.Fatal(err)
				}
				if s == owner && (!found || v != "v-"+k) {
					t.Errorf("%s (shard %d) lacks %q, which belongs to it (got %q, found %v)", n.ID, s, k, v, found)
				}
				if s != owner && found {
					t.Errorf("%s (shard %d) holds %q, which belongs to shard %d", n.ID, s, k, owner)
				}
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// writers write fresh keys through the distributor until stopped, and
// count what was acknowledged; a failed write fails the test.
type writers struct {
	mu       sync.Mutex
	acked    map[string]string
	perShard [2]atomic.Int64
	done     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
}

func startWriters(t *testing.T, c *product, n int) *writers {
	w := &writers{acked: map[string]string{}, done: make(chan struct{})}
	for id := range n {
		w.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-w.done:
					return
				default:
				}
				k, v := fmt.Sprintf("live-%d-%d", id, i), fmt.Sprintf("val-%d-%d", id, i)
				if _, err := c.set(k, v); err != nil {
					t.Errorf("write during failover failed: %v", err)
					return
				}
				w.mu.Lock()
				w.acked[k] = v
				w.mu.Unlock()
				w.perShard[router.ShardOf(k, 2)].Add(1)
			}
		})
	}
	return w
}

func (w *writers) stop() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
}

// failover kills shard s's leader under the writers' load, waits for a new
// leader and for writes to go on under it, then restarts the old leader
// and waits until it has caught up.
func failover(t *testing.T, c *product, s int, writes *atomic.Int64) {
	t.Helper()
	ctx := t.Context()
	old := c.Leader(ctx, s)
	if old == nil {
		t.Fatalf("shard %d has no leader before the kill", s)
	}
	before := writes.Load()
	cluster.WaitFor(t, 10*time.Second, fmt.Sprintf("writes to shard %d before the kill", s), func() error {
		return atLeast(writes.Load(), before+10)
	})
	killedAt := writes.Load()
	t.Logf("shard %d: killing leader %s with SIGKILL after %d writes to it", s, old.ID, killedAt)
	c.Kill(old.Proc)
	var next *cluster.Node
	cluster.WaitFor(t, 30*time.Second, fmt.Sprintf("shard %d to elect a new leader", s), func() error {
		if next = c.Leader(ctx, s); next == nil {
			return errors.New("no running node leads")
		}
		return nil
	})
	cluster.WaitFor(t, 30*time.Second, fmt.Sprintf("writes to shard %d under its new leader", s), func() error {
		return atLeast(writes.Load(), killedAt+20)
	})
	t.Logf("shard %d: %s leads; %d writes acknowledged since the kill", s, next.ID, writes.Load()-killedAt)

	c.Restart(old.Proc)
	st := c.Status(next)
	cluster.WaitFor(t, 30*time.Second, fmt.Sprintf("restarted %s to catch up to index %d", old.ID, st.CommitIndex), func() error {
		rs, err := c.Cluster.Status(ctx, old)
		switch {
		case err != nil:
			return err
		case rs.Leader.ID == "":
			return errors.New("it knows no leader")
		}
		return atLeast(rs.AppliedIndex, st.CommitIndex)
	})
	t.Logf("shard %d: restarted %s caught up past index %d", s, old.ID, st.CommitIndex)
}

// checkAcked reads every acknowledged write back from every node of its
// shard, once the shards have converged, and through the distributor.
func checkAcked(t *testing.T, c *product, acked map[string]string) {
	t.Helper()
	for s := range 2 {
		d := c.WaitConverged(30*time.Second, s)
		t.Logf("shard %d converged: %d keys at index %d", s, d.Keys, d.AppliedIndex)
	}
	t.Logf("%d writes acknowledged during the failovers", len(acked))
	for k, v := range acked {
		for _, n := range c.Shards[router.ShardOf(k, 2)] {
			got, found, err := c.readLocal(n, k)
			if err != nil || !found || got != v {
				t.Fatalf("%s: acknowledged %q=%q reads %q (found %v, err %v)", n.ID, k, v, got, found, err)
			}
		}
	}
	for k, v := range acked {
		var ans setAnswer
		if err := c.GetJSON(t.Context(), c.Dist.URL()+"/get/"+url.PathEscape(k), &ans); err != nil || ans.Valor != v {
			t.Fatalf("/get %q = %+v, %v; want %q", k, ans, err, v)
		}
	}
}

// logHasNoPanics fails the test if any process logged a panic.
func logHasNoPanics(t *testing.T, c *product) {
	t.Helper()
	for _, p := range c.Procs() {
		l := p.LogPath()
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

// atLeast is nil once got has reached want.
func atLeast[T int64 | uint64](got, want T) error {
	if got < want {
		return fmt.Errorf("at %d of %d", got, want)
	}
	return nil
}
