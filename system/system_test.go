package system

import (
	"bytes"
	"encoding/json"
	"errors"
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
	"syscall"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
)

// hraftdBin is the binary TestMain built from the tree under test.
var hraftdBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test skips itself
	}
	dir, err := os.MkdirTemp("", "hraftd-system-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		hraftdBin = filepath.Join(dir, "hraftd")
		if err := build(hraftdBin); err != nil {
			fmt.Fprintln(os.Stderr, "building hraftd:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// build compiles hraftd from the module this package belongs to, so the
// tests always run the code in the tree, never a stale binary.
func build(out string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(gomod))
	if mod == "" || mod == os.DevNull {
		return errors.New("not inside a Go module")
	}
	cmd := exec.Command("go", "build", "-o", out, "github.com/kvraft/hraftd")
	cmd.Dir = filepath.Dir(mod)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v\n%s", err, b)
	}
	return nil
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real hraftd processes; skipped with -short")
	}
}

// client talks to the nodes. Its timeout only bounds a request to a node
// that hangs; every wait for a condition is a poll with its own deadline.
var client = &http.Client{Timeout: 5 * time.Second}

// node is one hraftd process (and its restarts) on fixed addresses.
type node struct {
	id    string
	dir   string // data directory
	haddr string // -haddr, 127.0.0.1:port
	raddr string // -raddr, 127.0.0.1:port
	join  string // -join, "" for none

	logDir string
	runs   int // how many times it was started; names the log files

	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current process has exited
	waitErr error         // the current process's exit, once exited is closed
}

// freeAddrs returns n distinct 127.0.0.1 addresses whose ports were free a
// moment ago. The ports have to be named on the command line, so the
// listeners are closed before a node binds them; startNode retries if
// another process took one in between.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close() // held until all are chosen, so they differ
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// startNode starts a node on fresh ports with a fresh data directory and
// waits until its HTTP API answers. Its output goes to files under the
// test's temporary directory, shown if the test fails; the process is
// killed when the test ends.
func startNode(t *testing.T, id, join string) *node {
	t.Helper()
	n := &node{id: id, join: join, dir: filepath.Join(t.TempDir(), id), logDir: t.TempDir()}
	t.Cleanup(func() {
		if t.Failed() {
			n.dumpLogs(t)
		}
	})
	const attempts = 3
	for i := 1; ; i++ {
		addrs := freeAddrs(t, 2)
		n.haddr, n.raddr = addrs[0], addrs[1]
		err := n.start(t)
		if err == nil {
			return n
		}
		if !errors.Is(err, errPortTaken) || i == attempts {
			t.Fatalf("start %s: %v", id, err)
		}
		t.Logf("start %s: %v; retrying on other ports", id, err)
		// A failed start may have created state; begin afresh.
		if err := os.RemoveAll(n.dir); err != nil {
			t.Fatal(err)
		}
	}
}

var errPortTaken = errors.New("a port was taken")

// args are the node's command line, as in the hraftd README.
func (n *node) args() []string {
	args := []string{"-id", n.id, "-haddr", n.haddr, "-raddr", n.raddr}
	if n.join != "" {
		args = append(args, "-join", n.join)
	}
	return append(args, n.dir)
}

// start runs the node with its current flags and waits until its HTTP API
// answers, or fails if the process exits first.
func (n *node) start(t *testing.T) error {
	t.Helper()
	n.runs++
	logPath := filepath.Join(n.logDir, fmt.Sprintf("%s-run%d.log", n.id, n.runs))
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer f.Close() // the child has its own copy
	fmt.Fprintf(f, "$ hraftd %s\n", strings.Join(n.args(), " "))
	cmd := exec.Command(hraftdBin, n.args()...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	n.cmd, n.exited = cmd, exited
	go func() {
		n.waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() { n.kill(t) })

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			out, _ := os.ReadFile(logPath)
			if bytes.Contains(out, []byte("address already in use")) {
				return fmt.Errorf("%w: %s", errPortTaken, lastLines(out, 3))
			}
			return fmt.Errorf("exited during start-up (%v):\n%s", n.waitErr, lastLines(out, 10))
		default:
		}
		if _, err := n.status(); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("HTTP API not answering after 15s: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// kill sends SIGKILL, as kill -9 does, and waits for the process to go.
func (n *node) kill(t *testing.T) {
	t.Helper()
	if n.cmd == nil {
		return
	}
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Kill()
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not exit 10s after SIGKILL", n.id)
	}
}

func (n *node) dumpLogs(t *testing.T) {
	t.Helper()
	for i := 1; i <= n.runs; i++ {
		path := filepath.Join(n.logDir, fmt.Sprintf("%s-run%d.log", n.id, i))
		b, err := os.ReadFile(path)
		if err != nil {
			t.Logf("%s: %v", path, err)
			continue
		}
		t.Logf("==== %s, run %d (%s) ====\n%s", n.id, i, path, b)
	}
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (n *node) url(path string) string { return "http://" + n.haddr + path }

func (n *node) status() (api.Status, error) {
	var st api.Status
	resp, err := client.Get(n.url("/status"))
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /status: %s: %s", resp.Status, b)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("GET /status: %v in %q", err, b)
	}
	return st, nil
}

// get reads a key at a read level; servedBy is the node that answered.
func (n *node) get(key, level string) (value string, found bool, servedBy string, err error) {
	resp, err := client.Get(n.url("/key/" + url.PathEscape(key) + "?level=" + level))
	if err != nil {
		return "", false, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", false, "", fmt.Errorf("GET /key/%s on %s: %s: %s", key, n.id, resp.Status, bytes.TrimSpace(b))
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return "", false, "", fmt.Errorf("GET /key/%s on %s: %v in %q", key, n.id, err, b)
	}
	v, ok := m[key]
	if !ok || len(m) != 1 {
		return "", false, "", fmt.Errorf("GET /key/%s on %s answered %s", key, n.id, b)
	}
	return v, resp.Header.Get(api.HeaderFound) == "true", resp.Header.Get(api.HeaderNode), nil
}

// set writes pairs with POST /key, as the README's curl does; servedBy is
// the node that applied it.
func (n *node) set(pairs map[string]string) (servedBy string, err error) {
	body, _ := json.Marshal(pairs)
	resp, err := client.Post(n.url("/key"), "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST /key %s on %s: %s: %s", body, n.id, resp.Status, bytes.TrimSpace(b))
	}
	return resp.Header.Get(api.HeaderNode), nil
}

// poll calls cond until it returns nil, failing the test if it still has
// not after timeout.
func poll(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// waitForLeader waits until every one of nodes reports the same leader in
// GET /status, and that leader is one of nodes and says it is the leader
// (me.id == leader.id, state Leader). It returns the leader.
func waitForLeader(t *testing.T, timeout time.Duration, nodes ...*node) *node {
	t.Helper()
	var leader *node
	poll(t, timeout, "a leader all nodes agree on", func() error {
		leader = nil
		leaderID := ""
		for _, n := range nodes {
			st, err := n.status()
			if err != nil {
				return err
			}
			if st.Leader.ID == "" {
				return fmt.Errorf("%s knows no leader", n.id)
			}
			if leaderID != "" && st.Leader.ID != leaderID {
				return fmt.Errorf("%s says %s leads, another says %s", n.id, st.Leader.ID, leaderID)
			}
			leaderID = st.Leader.ID
			if st.Me.ID == st.Leader.ID {
				if st.State != "Leader" {
					return fmt.Errorf("%s is named leader but is in state %s", n.id, st.State)
				}
				leader = n
			}
		}
		if leader == nil {
			return fmt.Errorf("the agreed leader %s is not among the nodes asked", leaderID)
		}
		return nil
	})
	return leader
}

// waitForValue polls a read of key at level none until it finds want.
func waitForValue(t *testing.T, n *node, key, want string) {
	t.Helper()
	poll(t, 15*time.Second, fmt.Sprintf("%s=%s on %s", key, want, n.id), func() error {
		v, found, _, err := n.get(key, "none")
		if err != nil {
			return err
		}
		if !found || v != want {
			return fmt.Errorf("got %q (found=%v)", v, found)
		}
		return nil
	})
}

// mustSet writes pairs through n, retrying while the group answers 503
// (between leaders), and returns the node that applied the write.
func mustSet(t *testing.T, n *node, pairs map[string]string) string {
	t.Helper()
	var servedBy string
	poll(t, 15*time.Second, fmt.Sprintf("a write of %v through %s", pairs, n.id), func() error {
		var err error
		servedBy, err = n.set(pairs)
		return err
	})
	return servedBy
}

func others(all []*node, not *node) []*node {
	var out []*node
	for _, n := range all {
		if n != not {
			out = append(out, n)
		}
	}
	return out
}

// TestWalkthrough follows the hraftd README with its commands: one node,
// two more joining it, replication, kill -9 of the leader, re-election,
// and the old leader restarted on its data directory catching up.
func TestWalkthrough(t *testing.T) {
	skipShort(t)
	t.Parallel()

	// hraftd -id node0 ~/node0: no -join, so it founds the group.
	node0 := startNode(t, "node0", "")
	waitForLeader(t, 15*time.Second, node0)
	mustSet(t, node0, map[string]string{"user1": "batman"})
	if v, found, _, err := node0.get("user1", "none"); err != nil || !found || v != "batman" {
		t.Fatalf("read back user1 on node0 = %q (found=%v, err=%v), want batman", v, found, err)
	}

	// The README joins with "-join :11000"; node2 uses the full address.
	node1 := startNode(t, "node1", ":"+port(node0.haddr))
	node2 := startNode(t, "node2", node0.haddr)
	all := []*node{node0, node1, node2}
	leader := waitForLeader(t, 20*time.Second, all...)
	poll(t, 20*time.Second, "node1 and node2 to be followers", func() error {
		st, err := leader.status()
		if err != nil {
			return err
		}
		if len(st.Followers) != 2 {
			return fmt.Errorf("followers = %+v", st.Followers)
		}
		return nil
	})
	for _, n := range all {
		waitForValue(t, n, "user1", "batman")
		waitReady(t, n)
	}

	mustSet(t, leader, map[string]string{"user2": "robin"})
	for _, n := range all {
		waitForValue(t, n, "user2", "robin")
	}

	// kill -9 the leader, found through /status (me.id == leader.id).
	leader.kill(t)
	survivors := others(all, leader)
	newLeader := waitForLeader(t, 30*time.Second, survivors...)
	follower := others(survivors, newLeader)[0]
	t.Logf("killed %s; %s was elected; %s follows", leader.id, newLeader.id, follower.id)

	// A write sent to the follower is forwarded to the new leader.
	if servedBy := mustSet(t, follower, map[string]string{"user3": "alfred"}); servedBy != newLeader.id {
		t.Errorf("write through %s was served by %q, want the leader %s", follower.id, servedBy, newLeader.id)
	}
	for _, n := range survivors {
		waitForValue(t, n, "user3", "alfred")
	}
	if v, found, servedBy, err := follower.get("user3", "linearizable"); err != nil || !found || v != "alfred" || servedBy != newLeader.id {
		t.Errorf("linearizable read of user3 through %s = %q (found=%v, served by %q, err=%v), want alfred from %s",
			follower.id, v, found, servedBy, err, newLeader.id)
	}

	// Restart the old leader with the same command. node0 founded the
	// group without -join; the README says passing -join on a restart is
	// harmless, so a restarted node0 is given one to prove it.
	if leader.join == "" {
		leader.join = follower.haddr
	}
	if err := leader.start(t); err != nil {
		t.Fatalf("restart %s on its data directory: %v", leader.id, err)
	}
	waitForValue(t, leader, "user3", "alfred")
	waitForValue(t, leader, "user1", "batman")
	waitReady(t, leader)
	current := waitForLeader(t, 30*time.Second, all...)
	poll(t, 20*time.Second, fmt.Sprintf("%s's digest to match the leader's", leader.id), func() error {
		ls, err := current.status()
		if err != nil {
			return err
		}
		rs, err := leader.status()
		if err != nil {
			return err
		}
		if rs.Digest != ls.Digest {
			return fmt.Errorf("%s has %+v, leader %s has %+v", leader.id, rs.Digest, current.id, ls.Digest)
		}
		return nil
	})
	st, err := current.status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Followers) != 2 {
		t.Errorf("after the restart the leader has followers %+v, want the other two", st.Followers)
	}

	// A leader stopped with SIGTERM exits 0, and the others carry on.
	stopGracefully(t, current, 15*time.Second)
	rest := others(all, current)
	waitForLeader(t, 30*time.Second, rest...)
	mustSet(t, rest[0], map[string]string{"user4": "joker"})
	for _, n := range rest {
		waitForValue(t, n, "user4", "joker")
	}
}

// stopGracefully sends SIGTERM and checks that n exits 0 within timeout.
func stopGracefully(t *testing.T, n *node, timeout time.Duration) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", n.id, err)
	}
	select {
	case <-n.exited:
		if n.waitErr != nil {
			t.Errorf("%s after SIGTERM: %v, want exit status 0", n.id, n.waitErr)
		}
	case <-time.After(timeout):
		t.Fatalf("%s still running %v after SIGTERM", n.id, timeout)
	}
}

// TestSIGTERMStopsCleanly stops a node with SIGTERM, expects exit status 0
// within a few seconds, and restarts it on the same data directory.
func TestSIGTERMStopsCleanly(t *testing.T) {
	skipShort(t)
	t.Parallel()
	n := startNode(t, "solo", "")
	waitForLeader(t, 15*time.Second, n)
	mustSet(t, n, map[string]string{"k": "v", "k2": "v2"})

	stopGracefully(t, n, 5*time.Second)
	if err := n.start(t); err != nil {
		t.Fatalf("restart after SIGTERM: %v", err)
	}
	waitForLeader(t, 15*time.Second, n)
	waitForValue(t, n, "k", "v")
	waitForValue(t, n, "k2", "v2")
}

// TestBadInputOverTheWire sends the real binary bad requests of every kind:
// each gets a JSON error with the right status, none reaches the Raft log,
// and the node keeps serving.
func TestBadInputOverTheWire(t *testing.T) {
	skipShort(t)
	t.Parallel()
	n := startNode(t, "edge", "")
	waitForLeader(t, 15*time.Second, n)
	waitReady(t, n)
	before, err := n.status()
	if err != nil {
		t.Fatal(err)
	}

	longKey := strings.Repeat("k", 1025) // the default -max-key is 1024
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"malformed JSON", "POST", "/key", `{"user1":`, 400},
		{"array", "POST", "/key", `[{"user1":"batman"}]`, 400},
		{"number value", "POST", "/key", `{"user1":1}`, 400},
		{"null value", "POST", "/key", `{"user1":null}`, 400},
		{"empty object", "POST", "/key", `{}`, 400},
		{"empty key", "POST", "/key", `{"":"x"}`, 400},
		{"invalid UTF-8", "POST", "/key", "{\"user1\":\"\xff\"}", 400},
		{"trailing garbage", "POST", "/key", `{"user1":"batman"}x`, 400},
		{"key over the limit", "POST", "/key", `{"` + longKey + `":"v"}`, 413},
		{"body over the limit", "POST", "/key", `{"k":"` + strings.Repeat("v", 1<<20) + `"}`, 413},
		{"read of a key over the limit", "GET", "/key/" + longKey, "", 413},
		{"read of the empty key", "GET", "/key/", "", 400},
		{"delete of the empty key", "DELETE", "/key/", "", 400},
		{"unknown read level", "GET", "/key/user1?level=strong", "", 400},
		{"join without addr", "POST", "/join", `{"id":"x"}`, 400},
		{"remove of no member", "POST", "/remove", `{"id":"nobody"}`, 404},
		{"unknown route", "GET", "/nope", "", 404},
		{"wrong method", "PUT", "/key/user1", `{"user1":"batman"}`, 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, n.url(tc.path), strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d; body: %s", resp.StatusCode, tc.want, b)
			}
			var e api.Error
			if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
				t.Errorf("body %q is not a JSON error (%v)", b, err)
			}
			if tc.want == 405 && resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}

	after, err := n.status()
	if err != nil {
		t.Fatal(err)
	}
	if after.LastLogIndex != before.LastLogIndex || after.Digest != before.Digest {
		t.Errorf("bad input changed the node: last log index %d -> %d, digest %+v -> %+v",
			before.LastLogIndex, after.LastLogIndex, before.Digest, after.Digest)
	}
	waitReady(t, n)
	mustSet(t, n, map[string]string{"user1": "batman"})
	waitForValue(t, n, "user1", "batman")
}

// waitReady polls GET /readyz until it answers 200.
func waitReady(t *testing.T, n *node) {
	t.Helper()
	poll(t, 15*time.Second, n.id+" to be ready", func() error {
		resp, err := client.Get(n.url("/readyz"))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%s: %s", resp.Status, b)
		}
		return nil
	})
}

func TestNoDataDirExits1(t *testing.T) {
	skipShort(t)
	t.Parallel()
	addrs := freeAddrs(t, 2)
	for _, args := range [][]string{
		nil,
		{"-id", "node0"},
		{"-id", "node0", "-haddr", addrs[0], "-raddr", addrs[1]},
	} {
		t.Run(strings.Join(append([]string{"hraftd"}, args...), " "), func(t *testing.T) {
			code, _, stderr := runHraftd(t, args...)
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			if !strings.Contains(stderr, "no data directory") {
				t.Errorf("stderr does not say the data directory is missing:\n%s", stderr)
			}
		})
	}
}

func TestHelpPrintsUsage(t *testing.T) {
	skipShort(t)
	t.Parallel()
	code, stdout, stderr := runHraftd(t, "-h")
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	usage := stdout + stderr
	for _, want := range []string{"Usage:", "hraftd [flags] <data-dir>", "-id", "-haddr", "-raddr", "-join", "-inmem"} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage does not mention %q:\n%s", want, usage)
		}
	}
}

// runHraftd runs the binary to completion (it must exit within a few
// seconds) and returns its exit status and output.
func runHraftd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(hraftdBin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			code = ee.ExitCode()
		default:
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("hraftd %s still running after 10s; stderr:\n%s", strings.Join(args, " "), errOut.String())
	}
	return code, out.String(), errOut.String()
}
