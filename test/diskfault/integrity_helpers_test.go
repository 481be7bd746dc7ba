package diskfault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/cluster"
)

// Helpers of the integrity scenarios (damaged files); their names start
// with ig so that they cannot clash with the other scenarios' helpers.

// igSnapArgs make every node snapshot after 20 entries and keep only 10
// behind it, so a few dozen writes leave a snapshot and a compacted log.
var igSnapArgs = []string{"-snapshot-threshold", "20", "-snapshot-interval", "100ms", "-trailing-logs", "10"}

// igStart starts one shard of three nodes and a distributor.
func igStart(t *testing.T, nodeArgs ...string) *cluster.Test {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real hraftd processes; skipped with -short")
	}
	return cluster.NewTest(t, cluster.Config{Shards: 1, PerShard: 3, Distributor: true,
		NodeArgs: nodeArgs, Timeout: 60 * time.Second})
}

// igAcked records every write the distributor acknowledged.
type igAcked struct {
	mu   sync.Mutex
	vals map[string]string
}

// write sets key=value through the distributor, retrying (with the same
// Idempotency-Key) until it is acknowledged, and records it.
func (a *igAcked) write(t *testing.T, c *cluster.Test, key, value string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{key: value})
	id := "ig-" + key + "-" + value
	cluster.WaitFor(t, 30*time.Second, "an acknowledged write of "+key, func() error {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, c.Dist.URL()+"/key", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(api.HeaderWriteID, id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST /key: HTTP %d", resp.StatusCode)
		}
		return nil
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.vals == nil {
		a.vals = map[string]string{}
	}
	a.vals[key] = value
}

// writeMany writes n keys prefix-0..n-1.
func (a *igAcked) writeMany(t *testing.T, c *cluster.Test, prefix string, n int) {
	t.Helper()
	for i := range n {
		a.write(t, c, fmt.Sprintf("%s-%03d", prefix, i), fmt.Sprintf("value-%s-%03d", prefix, i))
	}
}

// checkAll reads every acknowledged write back through the distributor at
// level=linearizable.
func (a *igAcked) checkAll(t *testing.T, c *cluster.Test) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	lost := 0
	for k, want := range a.vals {
		got, found, err := igGet(t.Context(), c.Dist.URL(), k, "linearizable")
		if err != nil || !found || got != want {
			lost++
			t.Errorf("acknowledged %s=%q reads back as %q (found=%v, err=%v)", k, want, got, found, err)
		}
	}
	t.Logf("%d acknowledged writes checked at level=linearizable, %d lost", len(a.vals), lost)
}

// igGet reads key at level from base (a node or the distributor); err is
// set for any answer but 200.
func igGet(ctx context.Context, base, key, level string) (value string, found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/key/"+url.PathEscape(key)+"?level="+level, nil)
	if err != nil {
		return "", false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	var m map[string]string
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return "", false, fmt.Errorf("HTTP %d: %s", resp.StatusCode, e.Error)
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return "", false, err
	}
	return m[key], resp.Header.Get(api.HeaderFound) == "true", nil
}

// igFollower returns a node of shard 0 that does not lead.
func igFollower(t *testing.T, c *cluster.Test) *cluster.Node {
	t.Helper()
	leader := c.WaitLeader(30*time.Second, c.Shards[0]...)
	for _, n := range c.Shards[0] {
		if n != leader {
			return n
		}
	}
	t.Fatal("no follower")
	return nil
}

// igFlipAll flips one bit in every copy of marker in the file at path and
// returns how many it flipped. Every copy, because bbolt leaves stale
// copies of rewritten pages in its free pages, and a flip there would
// damage nothing; the flipped byte is in the middle of marker, so inside
// the entry's command bytes, whichever copy is the live one.
func igFlipAll(t *testing.T, path, marker string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(marker))
		if j < 0 {
			break
		}
		b[i+j+len(marker)/2] ^= 0x02
		i += j + len(marker)
		n++
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

// igNoPanic fails t if the process's log shows a panic or a fatal runtime
// error.
func igNoPanic(t *testing.T, p *cluster.Proc) {
	t.Helper()
	b, err := os.ReadFile(p.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"panic", "fatal error", "SIGSEGV", "SIGBUS"} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("%s's log holds %q:\n%s", p.Name(), bad, igTail(b, 30))
		}
	}
}

func igTail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// igRunExpectingExit runs node n's binary by hand on its data directory,
// as its restart would, and returns its exit code, how long it ran and its
// output; it fails t if the process has not exited after timeout.
func igRunExpectingExit(t *testing.T, n *cluster.Node, timeout time.Duration) (code int, took time.Duration, out string) {
	t.Helper()
	bin, err := cluster.Build(t.Context(), cluster.PkgHraftd)
	if err != nil {
		t.Fatal(err)
	}
	cmd := cluster.Command(bin, "-id", n.ID, "-haddr", n.HTTP, "-raddr", n.Raft, n.Dir)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s still running %s after its restart on damaged files; output:\n%s", n.ID, timeout, buf.String())
	}
	took = time.Since(start)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, took, buf.String()
}

// igWantCleanExit requires out to be one error line naming want and -join,
// with no panic.
func igWantCleanExit(t *testing.T, code int, took time.Duration, out, want string) {
	t.Helper()
	if code != 1 || took > 5*time.Second {
		t.Errorf("exit code %d after %s, want 1 within 5s; output:\n%s", code, took, out)
	}
	var errLines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "level=ERROR") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], want) || !strings.Contains(errLines[0], "-join") {
		t.Errorf("want one error line naming %s and saying what to do (-join); got:\n%s", want, out)
	}
	for _, bad := range []string{"panic", "fatal error", "SIGSEGV", "SIGBUS"} {
		if strings.Contains(out, bad) {
			t.Errorf("output holds %q:\n%s", bad, out)
		}
	}
	t.Logf("exit %d after %s: %s", code, took.Round(time.Millisecond), strings.TrimSpace(out))
}

// igNewestSnapshot waits until n has a snapshot at index min or beyond,
// and returns its directory.
func igNewestSnapshot(t *testing.T, n *cluster.Node, min uint64) string {
	t.Helper()
	var dir string
	cluster.WaitFor(t, 30*time.Second, fmt.Sprintf("%s to snapshot past index %d", n.ID, min), func() error {
		metas, _ := filepath.Glob(filepath.Join(n.Dir, "snapshots", "*", "meta.json"))
		var best uint64
		for _, m := range metas {
			b, err := os.ReadFile(m)
			if err != nil {
				continue
			}
			var meta struct{ Index uint64 }
			if json.Unmarshal(b, &meta) == nil && meta.Index >= best {
				best, dir = meta.Index, filepath.Dir(m)
			}
		}
		if best < min {
			return fmt.Errorf("newest snapshot at index %d", best)
		}
		return nil
	})
	return dir
}

// igMakeLeader restarts whoever leads shard 0 until n does: each election
// picks n about half the time, so ten tries fail once in a thousand runs.
func igMakeLeader(t *testing.T, c *cluster.Test, n *cluster.Node) { igSetRole(t, c, n, true) }

// igMakeFollower restarts n while it leads shard 0, until another node does.
func igMakeFollower(t *testing.T, c *cluster.Test, n *cluster.Node) { igSetRole(t, c, n, false) }

func igSetRole(t *testing.T, c *cluster.Test, n *cluster.Node, lead bool) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		leader := c.WaitLeader(30*time.Second, c.Shards[0]...)
		if (leader == n) == lead {
			return
		}
		if attempt == 10 {
			t.Fatalf("%s: no election in %d gave the role wanted (leader: %v)", n.ID, attempt, lead)
		}
		c.Term(leader.Proc, 10*time.Second)
		c.Restart(leader.Proc)
	}
}

// igSnapIndex is the index in a snapshot directory's meta.json.
func igSnapIndex(t *testing.T, dir string) uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct{ Index uint64 }
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	return meta.Index
}

// igWantDamaged requires n to report damage naming file in /status, to
// answer /readyz and every read with 503, and hraftd_damaged 1.
func igWantDamaged(t *testing.T, c *cluster.Test, n *cluster.Node, file string, keys ...string) api.Status {
	t.Helper()
	var st api.Status
	cluster.WaitFor(t, 20*time.Second, n.ID+" to report damage", func() error {
		st = c.Status(n)
		if st.Damage == nil {
			return fmt.Errorf("state %s, no damage", st.State)
		}
		return nil
	})
	if st.State != "Damaged" || !strings.Contains(st.Damage.File, file) || !strings.Contains(st.Damage.Fix, "-join") {
		t.Errorf("%s /status: state %s, damage %+v; want Damaged naming %s with a fix", n.ID, st.State, st.Damage, file)
	}
	code, body, err := c.Do(t.Context(), http.MethodGet, n.URL()+"/readyz", nil)
	if err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("%s /readyz: %d %s %v, want 503", n.ID, code, body, err)
	}
	_, metrics, err := c.Do(t.Context(), http.MethodGet, n.URL()+"/metrics", nil)
	if err != nil || !bytes.Contains(metrics, []byte("\nhraftd_damaged 1\n")) {
		t.Errorf("%s /metrics lacks hraftd_damaged 1 (%v)", n.ID, err)
	}
	for _, k := range keys {
		for _, level := range []string{"none", "weak", "linearizable"} {
			if v, found, err := igGet(t.Context(), n.URL(), k, level); err == nil || !strings.Contains(err.Error(), "503") {
				t.Errorf("%s served %s at level %s: %q (found=%v, err=%v); want 503", n.ID, k, level, v, found, err)
			}
		}
	}
	t.Logf("%s: %s", n.ID, st.Damage.File+": "+st.Damage.Problem)
	return st
}

// igReplace does what a damaged node's message says: stop it, delete its
// data directory, start it again with -join a healthy member. It then
// waits until the shard has three healthy replicas holding the same data.
func igReplace(t *testing.T, c *cluster.Test, n *cluster.Node) {
	t.Helper()
	c.Kill(n.Proc)
	if err := os.RemoveAll(n.Dir); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Shards[0] {
		if m != n && n.Join == "" {
			n.Join = m.HTTP
		}
	}
	c.Restart(n.Proc)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := c.WaitHealthy(ctx, 0); err != nil {
		t.Fatalf("after replacing %s: %v", n.ID, err)
	}
	d := c.WaitConverged(60*time.Second, 0)
	t.Logf("%s replaced: 3 replicas at applied index %d, %d keys", n.ID, d.AppliedIndex, d.Keys)
}
