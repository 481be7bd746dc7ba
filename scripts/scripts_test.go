package scripts

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/cluster"
	"github.com/kvraft/hraftd/internal/poll"
)

func TestMain(m *testing.M) { cluster.Main(m) }

// env is one throwaway layout of the scripts: its own data directory,
// binaries and free ports.
type env struct {
	dataDir  string
	distAddr string
	vars     []string
}

// newEnv builds both binaries into a folder the scripts use with
// NO_BUILD=1, and finds free ports for the whole layout.
func newEnv(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("starts seven real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := t.TempDir()
	for name, pkg := range map[string]string{"hraftd": cluster.PkgHraftd, "distributor": cluster.PkgDistributor} {
		p, err := cluster.Build(ctx, pkg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	httpBase, raftBase, dist := freeLayout(t)
	e := &env{dataDir: t.TempDir(), distAddr: "127.0.0.1:" + strconv.Itoa(dist)}
	e.vars = append(os.Environ(),
		"DATA_DIR="+e.dataDir, "BIN_DIR="+bin, "NO_BUILD=1", "START_TIMEOUT=60",
		"DIST_ADDR="+e.distAddr,
		"HTTP_BASE="+strconv.Itoa(httpBase), "RAFT_BASE="+strconv.Itoa(raftBase))
	t.Cleanup(func() {
		// Whatever a test left running goes, whatever it failed on.
		out, err := e.command("cluster.sh", "stop").CombinedOutput()
		if err != nil {
			t.Logf("cluster.sh stop: %v\n%s", err, out)
		}
	})
	return e
}

// freeLayout finds two port bases whose six ports each (base+0..2 and
// base+100..102) are free, and one more free port.
func freeLayout(t *testing.T) (httpBase, raftBase, dist int) {
	t.Helper()
	free := func(ports ...int) bool {
		var lns []net.Listener
		defer func() {
			for _, ln := range lns {
				ln.Close()
			}
		}()
		for _, p := range ports {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				return false
			}
			lns = append(lns, ln)
		}
		return true
	}
	for range 200 {
		h, r := 20000+rand.IntN(20000), 40000+rand.IntN(20000)
		d := h + 50
		if free(h, h+1, h+2, h+100, h+101, h+102, r, r+1, r+2, r+100, r+101, r+102, d) {
			return h, r, d
		}
	}
	t.Fatal("no free ports for the layout")
	return 0, 0, 0
}

// command runs one of the scripts in this folder with the env's variables,
// in its own process group so that a signal can reach all of it, as
// Ctrl-C reaches a terminal's foreground group.
func (e *env) command(script string, args ...string) *exec.Cmd {
	cmd := exec.Command("./"+script, args...)
	cmd.Env = e.vars
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// pids returns the pids the scripts recorded for the running processes.
func (e *env) pids(t *testing.T) map[string]int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(e.dataDir, "pids", "*.pid"))
	m := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			m[strings.TrimSuffix(filepath.Base(f), ".pid")] = pid
		}
	}
	return m
}

// alive reports whether a process with this pid exists (and is not a
// zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// output collects what a process writes, safe to read while it runs.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// make run owns the cluster it starts: a second one refuses, and Ctrl-C
// stops every process and exits 0 even when the pipe its output went
// through is gone (`make run | tee log`, where Ctrl-C kills tee too).
func TestRunOwnsAndStopsItsCluster(t *testing.T) {
	e := newEnv(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	run := e.command("run.sh")
	run.Stdout, run.Stderr = pw, pw
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	var out output
	copied := make(chan struct{})
	go func() { io.Copy(&out, pr); close(copied) }()
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	t.Cleanup(func() { syscall.Kill(-run.Process.Pid, syscall.SIGKILL) })

	poll.Until(t, 2*time.Minute, "run.sh to say it is running", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("run.sh exited early (%v):\n%s", err, out.String())
		default:
		}
		return strings.Contains(out.String(), "Running. Press Ctrl-C")
	})
	if !strings.Contains(out.String(), "Stop: Ctrl-C in this terminal") {
		t.Errorf("the printed help does not say Ctrl-C stops it:\n%s", out.String())
	}
	pids := e.pids(t)
	if len(pids) != 7 {
		t.Fatalf("recorded pids %v, want 7 processes", pids)
	}

	second, err := e.command("run.sh").CombinedOutput()
	if err == nil || !strings.Contains(string(second), "already running") {
		t.Fatalf("a second run.sh: err %v, output:\n%s", err, second)
	}
	for name, pid := range e.pids(t) {
		if pids[name] != pid {
			t.Fatalf("the second run.sh changed %s's pid from %d to %d", name, pids[name], pid)
		}
	}

	// Ctrl-C in a terminal: the whole foreground group gets SIGINT, and
	// `tee` dies with it, so the reading end of the pipe goes away first.
	pr.Close()
	<-copied
	if err := syscall.Kill(-run.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("run.sh after Ctrl-C: %v (want exit status 0)", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("run.sh did not exit within a minute of Ctrl-C")
	}
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("%s (pid %d) still runs after Ctrl-C", name, pid)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dataDir, "run.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run.pid left behind: %v", err)
	}
}

// A taken address is named before anything starts, with the variable that
// moves it.
func TestStartNamesTakenAddress(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", e.distAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, err := e.command("cluster.sh", "start").CombinedOutput()
	if err == nil {
		t.Fatalf("start succeeded with the distributor's address taken:\n%s", out)
	}
	if !strings.Contains(string(out), e.distAddr+" (the distributor's address) is in use") || !strings.Contains(string(out), "DIST_ADDR=") {
		t.Fatalf("the error does not name the address and DIST_ADDR:\n%s", out)
	}
	if len(e.pids(t)) != 0 {
		t.Fatalf("processes started although an address was taken: %v", e.pids(t))
	}
}

// A process that fails to start is reported with what it logged this
// time, not with lines of earlier runs.
func TestFailedStartShowsOnlyNewLogLines(t *testing.T) {
	e := newEnv(t)
	logs := filepath.Join(e.dataDir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logs, "node0.log"), []byte("AN OLD RUN'S LINE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// node0's data directory is a file: hraftd exits at once saying so.
	if err := os.WriteFile(filepath.Join(e.dataDir, "node0"), []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := e.command("cluster.sh", "start").CombinedOutput()
	if err == nil {
		t.Fatalf("start succeeded although node0 cannot start:\n%s", out)
	}
	if !strings.Contains(string(out), "node0 exited") {
		t.Fatalf("the failure does not name node0:\n%s", out)
	}
	if strings.Contains(string(out), "AN OLD RUN'S LINE") {
		t.Fatalf("old log lines shown:\n%s", out)
	}
	if !strings.Contains(string(out), "starting node0") {
		t.Fatalf("this start's log lines are not shown:\n%s", out)
	}
}

// `cluster.sh restart` of a founder whose data is gone joins its shard
// instead of founding a new one, and returns once the shard has taken it
// back as a voter.
func TestRestartOfAWipedFounderRejoins(t *testing.T) {
	e := newEnv(t)
	if out, err := e.command("cluster.sh", "start").CombinedOutput(); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	node0, node1 := e.nodeHTTP(0), e.nodeHTTP(1)
	before := e.status(t, node1)
	if out, err := e.command("cluster.sh", "kill", "node0").CombinedOutput(); err != nil {
		t.Fatalf("kill: %v\n%s", err, out)
	}
	if err := os.RemoveAll(filepath.Join(e.dataDir, "node0")); err != nil {
		t.Fatal(err)
	}
	out, err := e.command("cluster.sh", "restart", "node0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "joins its shard instead of founding") {
		t.Fatalf("restart: %v\n%s", err, out)
	}
	st := e.status(t, node0)
	if st.Group != before.Group || !st.Admitted {
		t.Fatalf("node0 after restart: group %q (shard's %q), admitted %v\n%s", st.Group, before.Group, st.Admitted, out)
	}
}

// nodeHTTP is node i's HTTP address in e's layout.
func (e *env) nodeHTTP(i int) string {
	for _, v := range e.vars {
		if b, ok := strings.CutPrefix(v, "HTTP_BASE="); ok {
			base, _ := strconv.Atoi(b)
			return "127.0.0.1:" + strconv.Itoa(base+100*(i/3)+i%3)
		}
	}
	return ""
}

// status reads a node's /status.
func (e *env) status(t *testing.T, addr string) api.Status {
	t.Helper()
	var st api.Status
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// SECURE=1 makes the certificates and a users file when they are missing,
// starts every process with TLS and -auth, prints the admin's password and
// how to curl, keeps the password for later starts, and lets the other
// commands find out by themselves that the cluster is secure.
func TestSecureStart(t *testing.T) {
	e := newEnv(t)
	certs := t.TempDir()
	e.vars = append(e.vars, "CERTS_DIR="+certs)
	secure := func(args ...string) *exec.Cmd {
		cmd := e.command("cluster.sh", args...)
		cmd.Env = append(cmd.Env, "SECURE=1")
		return cmd
	}
	out, err := secure("start").CombinedOutput()
	if err != nil {
		t.Fatalf("SECURE=1 start: %v\n%s", err, out)
	}
	pwFile := filepath.Join(certs, "admin.password")
	b, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatalf("no stored password: %v\n%s", err, out)
	}
	password := strings.TrimSpace(string(b))
	fi, err := os.Stat(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || len(password) < 16 {
		t.Errorf("%s: mode %v, password %q; want 0600 and a long password", pwFile, fi.Mode().Perm(), password)
	}
	for _, want := range []string{"made " + filepath.Join(certs, "users.json"), "password " + password,
		"--cacert " + filepath.Join(certs, "ca.crt") + " -u admin:" + password + " -XPOST https://" + e.distAddr + "/set",
		"--cert " + filepath.Join(certs, "admin.crt")} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}

	client := caClient(t, filepath.Join(certs, "ca.crt"))
	send := func(user, pass, method, path, body string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, "https://"+e.distAddr+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send("admin", password, http.MethodPost, "/set", `{"clave":"batman","valor":"bruce"}`); code != http.StatusOK {
		t.Errorf("/set as admin: %d", code)
	}
	if code := send("", "", http.MethodGet, "/get/batman", ""); code != http.StatusUnauthorized {
		t.Errorf("/get without credentials: %d, want 401", code)
	}

	// Without SECURE, status still reaches the nodes over HTTPS.
	st, err := e.command("cluster.sh", "status").CombinedOutput()
	if err != nil || strings.Count(string(st), "Leader") != 2 || strings.Contains(string(st), "down") {
		t.Errorf("status without SECURE: %v\n%s", err, st)
	}
	pids := e.pids(t)
	if out, err := e.command("cluster.sh", "stop").CombinedOutput(); err != nil {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("%s (pid %d) still runs after stop", name, pid)
		}
	}

	// A second start keeps the users file and prints the same password.
	out, err = secure("start").CombinedOutput()
	if err != nil || strings.Contains(string(out), "made ") || !strings.Contains(string(out), "password "+password) {
		t.Errorf("second SECURE=1 start: %v\n%s", err, out)
	}
}

// caClient is an HTTP client that trusts only the CA in caFile.
func caClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}
