package hostile

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/cluster"
)

// floodConns is how many connections each flood opens: the 200
// unfinished 1 MB headers took the distributor from 27 MB to 494 MB.
const floodConns = 300

// floodRSSBound is the most a flood may add to a program's resident
// memory. What bounds it: a header stops being read at 64 KiB (431), and
// the bodies of all requests in flight together reserve at most 64 MiB
// (webguard.DefaultBodyBudget), each at most its -max-body.
const floodRSSBound = 128 << 20

// rss is the resident memory of pid, from /proc.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// flood opens floodConns connections to addr; each writes head, then pad
// bytes of filler in 64 KiB pieces (stopping when the server hangs up),
// and then holds the connection open without finishing its request. It
// returns once every connection has written what it could, and the
// largest RSS of pid seen meanwhile; closing done releases them.
func flood(t *testing.T, addr, head string, pad int, pid int, done <-chan struct{}) int64 {
	t.Helper()
	var peak int64
	var mu sync.Mutex
	sample := func() {
		if r, err := rss(pid); err == nil {
			mu.Lock()
			peak = max(peak, r)
			mu.Unlock()
		}
	}
	var wg sync.WaitGroup
	filler := []byte(strings.Repeat("a", 64<<10))
	for range floodConns {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Logf("dial %d: %v (the connection cap may be refusing: fine)", floodConns, err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetWriteDeadline(time.Now().Add(20 * time.Second))
			if _, err := c.Write([]byte(head)); err == nil {
				for sent := 0; sent < pad; sent += len(filler) {
					if _, err := c.Write(filler[:min(len(filler), pad-sent)]); err != nil {
						break
					}
				}
			}
			sample()
			go func() { <-done; c.Close() }()
		}()
	}
	wg.Wait()
	// The server reads what the kernel buffered after the writes
	// returned: keep sampling for a second.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(time.Second); time.Now().Before(end); <-tick.C {
		sample()
	}
	return peak
}

// TestFloodsStayWithinMemory floods a node and the distributor with
// unfinished 1 MiB headers, and then with 1 MiB bodies whose last byte
// never comes, and checks each program's resident memory stays within
// floodRSSBound of where it was before the first flood (Go keeps freed
// memory for a while, so the second flood is measured from the same
// start), and that it still answers a normal request while a flood holds
// its connections.
func TestFloodsStayWithinMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
	c := cluster.NewTest(t, cluster.Config{Shards: 1, PerShard: 3, Distributor: true, Timeout: 60 * time.Second})
	leader := c.WaitLeader(30*time.Second, c.Shards[0]...)
	targets := []struct {
		name, addr, path string // path: where the body flood posts
		pid              int
	}{
		{"node", leader.HTTP, "/key", leader.PID()},
		{"distributor", c.Dist.Addr, "/set", c.Dist.PID()},
	}
	const mib = 1 << 20
	for _, tg := range targets {
		before, err := rss(tg.pid)
		if err != nil {
			t.Fatal(err)
		}
		floods := []struct{ name, head string }{
			{"header", "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "},
			{"body", fmt.Sprintf("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", tg.path, mib)},
		}
		for _, f := range floods {
			done := make(chan struct{})
			peak := flood(t, tg.addr, f.head, mib-1, tg.pid, done)
			alive := checkServes(tg.addr, "/status")
			close(done)
			grew := peak - before
			t.Logf("%s, %s flood of %d connections: RSS %d MiB before the floods, peak %d MiB (+%d MiB); bound +%d MiB",
				tg.name, f.name, floodConns, before/mib, peak/mib, grew/mib, floodRSSBound/mib)
			if grew > floodRSSBound {
				t.Errorf("%s grew by %d MiB under the %s flood, over the bound of %d MiB", tg.name, grew/mib, f.name, floodRSSBound/mib)
			}
			if alive != nil {
				t.Errorf("%s did not answer during the %s flood: %v", tg.name, f.name, alive)
			}
		}
	}
}

// checkServes sends one GET of path on a fresh connection and reads the
// status line, with a deadline: the program must still answer while a
// flood holds connections (though a full connection cap may answer 503).
func checkServes(addr, path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "HTTP/1.1 200") && !strings.HasPrefix(line, "HTTP/1.1 503") {
		return fmt.Errorf("answered %q", strings.TrimSpace(line))
	}
	return nil
}
