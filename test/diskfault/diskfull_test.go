package diskfault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/cluster"
)

// dfMount moves n's data directory onto a tmpfs of size bytes (n must be
// stopped), or skips the test where mounting is not allowed.
func dfMount(t *testing.T, n *cluster.Node, size string) {
	t.Helper()
	keep := t.TempDir()
	if out, err := exec.Command("cp", "-a", n.Dir+"/.", keep).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v: %s", n.Dir, err, out)
	}
	if err := syscall.Mount("tmpfs", n.Dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): this scenario needs root, as CI has", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(n.Dir, syscall.MNT_DETACH) })
	if out, err := exec.Command("cp", "-a", keep+"/.", n.Dir).CombinedOutput(); err != nil {
		t.Fatalf("copy back: %v: %s", err, out)
	}
}

// dfFill writes a file into dir until its filesystem is full, and returns
// its path.
func dfFill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return p
		}
	}
}

// dfWriter writes distinct keys through the distributor until stopped,
// each until acknowledged, and counts the answers by status.
type dfWriter struct {
	mu    sync.Mutex
	codes map[int]int
	acked map[string]string
}

func (w *dfWriter) run(t *testing.T, c *cluster.Test, stop <-chan struct{}) {
	for i := 0; ; i++ {
		k, v := fmt.Sprintf("full-%05d", i), "v"
		for {
			select {
			case <-stop:
				return
			default:
			}
			body, _ := json.Marshal(map[string]string{"clave": k, "valor": v})
			resp, err := http.Post(c.Dist.URL()+"/set", "application/json", bytes.NewReader(body))
			if err != nil {
				continue
			}
			resp.Body.Close()
			w.mu.Lock()
			w.codes[resp.StatusCode]++
			if resp.StatusCode == http.StatusOK {
				w.acked[k] = v
			}
			w.mu.Unlock()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
	}
}

// A node's disk fills up while the distributor keeps writing. The writes
// go on through the other nodes (a leader that cannot append steps down,
// and its writes are retried, never answered 500 or 502); the full node
// says why it is not ready, or exits with one line saying what to do,
// without a panic; once space is freed and it is restarted, it catches up
// and nothing acknowledged is lost.
// It runs twice: the full node a follower, and the full node the leader.
// (Long: one scenario with real processes, step after step.)
func TestDiskFullOnOneNode(t *testing.T) {
	for _, role := range []string{"Follower", "Leader"} {
		t.Run(role, func(t *testing.T) { dfScenario(t, role) })
	}
}

func dfScenario(t *testing.T, want string) {
	c := igStart(t)
	var acked igAcked
	acked.writeMany(t, c, "before", 10)
	n := c.WaitLeader(30*time.Second, c.Shards[0]...)
	c.Kill(n.Proc)
	dfMount(t, n, "4m")
	c.Restart(n.Proc)
	if want == "Leader" {
		igMakeLeader(t, c, n)
	} else {
		igMakeFollower(t, c, n)
	}
	role := c.Status(n).State
	if role != want {
		t.Fatalf("%s is %s, want %s", n.ID, role, want)
	}
	filler := dfFill(t, n.Dir)
	t.Logf("%s (%s) has a full disk", n.ID, role)

	w := &dfWriter{codes: map[int]int{}, acked: map[string]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { w.run(t, c, stop) })
	why := ""
	cluster.WaitFor(t, 60*time.Second, n.ID+" to say its disk is full", func() error {
		if !n.Running() {
			why = "exited"
			return nil
		}
		resp, err := http.Get(n.URL() + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var e struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(e.Error, "cannot write its log") {
			why = e.Error
			return nil
		}
		return fmt.Errorf("/readyz %d %q", resp.StatusCode, e.Error)
	})
	t.Logf("%s: %s", n.ID, why)
	w.mu.Lock()
	before := len(w.acked)
	w.mu.Unlock()
	cluster.WaitFor(t, 60*time.Second, "writes acknowledged while one disk is full", func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.acked) < before+50 {
			return fmt.Errorf("%d acknowledged so far", len(w.acked))
		}
		return nil
	})
	close(stop)
	wg.Wait()
	w.mu.Lock()
	t.Logf("answers while the disk was full: %v", w.codes)
	for code := range w.codes {
		if code >= 500 && code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout {
			t.Errorf("the distributor answered %d %d times", code, w.codes[code])
		}
	}
	for k, v := range w.acked {
		acked.vals[k] = v
	}
	w.mu.Unlock()

	if !n.Running() {
		b, _ := os.ReadFile(n.LogPath())
		if !bytes.Contains(b, []byte("free space on the data directory")) {
			t.Errorf("%s exited without saying what to do:\n%s", n.ID, igTail(b, 20))
		}
	}
	igNoPanic(t, n.Proc)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	c.Kill(n.Proc)
	c.Restart(n.Proc)
	c.WaitReady(60*time.Second, n)
	acked.checkAll(t, c)
	c.WaitConverged(60*time.Second, 0)
}
