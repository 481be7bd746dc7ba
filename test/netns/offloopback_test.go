package netns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/cluster"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// launcherEnv, set to a namespace, makes the test binary a launcher
// instead (launcherMain): what TestLaunchedProcessDiesWithItsLauncher
// kills.
const launcherEnv = "HRAFTD_NETNS_LAUNCHER"

func TestMain(m *testing.M) {
	if ns := os.Getenv(launcherEnv); ns != "" {
		os.Exit(launcherMain(ns))
	}
	cluster.Main(m)
}

// launcherMain starts a long sleep in namespace ns the way the launcher
// starts every process (cluster.Command, through ip netns exec), prints
// its PID, and waits until stdin closes or it is killed.
func launcherMain(ns string) int {
	cmd := cluster.Command("ip", "netns", "exec", ns, "sleep", "120")
	if err := cmd.Start(); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println(cmd.Process.Pid)
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = cmd.Process.Kill()
	return 0
}

// refuseWithin bounds how long a refusing program may take to exit: it
// does nothing before refusing, but the machine may be busy.
const refuseWithin = 15 * time.Second

// TestOffLoopbackRule starts hraftd and the distributor in a namespace
// of their own, on its non-loopback address, without TLS and -auth (or
// with only one of them): each must exit non-zero at once with a message
// naming the address and -insecure. With -insecure each must start and
// serve plain HTTP to the test's namespace.
func TestOffLoopbackRule(t *testing.T) {
	nw := newNetwork(t, "probe")
	hraftd, dist := binaries(t)
	c := cluster.NewTest(t, cluster.Config{Secure: true, Timeout: waitBound})
	sec := c.Security
	addr := nw.ips["probe"]
	haddr, raddr, daddr := addr+":"+httpPort, addr+":"+raftPort, addr+":"+distPort
	leaf := sec.Leaf("probe", tlsconf.RoleNode)
	leaf.Hosts = []string{addr}
	kp, err := sec.WriteCert(nil, "node-probe", leaf)
	if err != nil {
		t.Fatal(err)
	}
	tlsOnly := []string{"-tls-cert", kp.Cert, "-tls-key", kp.Key, "-tls-ca", sec.CAFile}
	data := t.TempDir()
	for _, tc := range []struct {
		name, bin string
		args      []string
		names     string // the address the refusal must name
		missing   string // what it must say is missing
	}{
		{"hraftd -haddr", hraftd, []string{"-id", "probe", "-haddr", haddr, "-raddr", "127.0.0.1:" + raftPort, data}, haddr, "TLS (-tls-cert"},
		{"hraftd -raddr", hraftd, []string{"-id", "probe", "-haddr", "127.0.0.1:" + httpPort, "-raddr", raddr, data}, raddr, "TLS (-tls-cert"},
		{"hraftd TLS without -auth", hraftd, append(append([]string{"-id", "probe", "-haddr", haddr, "-raddr", raddr}, tlsOnly...), data), haddr, "authentication (-auth"},
		{"distributor -addr", dist, []string{"-addr", daddr, "-shard", haddr}, daddr, "TLS (-tls-cert"},
		{"distributor on every interface", dist, []string{"-addr", ":" + distPort, "-shard", haddr}, ":" + distPort, "authentication (-auth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code, took := runBounded(t, "ip", nw.command("probe", tc.bin, tc.args...)...)
			t.Logf("exit %d after %v: %s", code, took.Round(time.Millisecond), strings.TrimSpace(out))
			if code == 0 {
				t.Errorf("exit status 0, want a refusal")
			}
			for _, want := range []string{"refusing to listen on " + tc.names + " ", "-insecure", tc.missing} {
				if !strings.Contains(out, want) {
					t.Errorf("output does not say %q", want)
				}
			}
		})
	}
	t.Run("-insecure starts", func(t *testing.T) {
		ctx := t.Context()
		node, err := c.StartProcess(ctx, "insecure-hraftd", "ip", nw.command("probe", hraftd,
			"-id", "probe", "-haddr", haddr, "-raddr", raddr, "-insecure", filepath.Join(data, "insecure")), "http://"+haddr+"/status")
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.StartProcess(ctx, "insecure-distributor", "ip", nw.command("probe", dist,
			"-addr", daddr, "-shard", haddr, "-insecure"), "http://"+daddr+"/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []*cluster.Proc{d, node} {
			c.Term(p, 20*time.Second) // requires exit status 0
		}
	})
}

// runBounded runs bin with args under the launcher's process attributes
// and returns its combined output, exit code and run time; a run longer
// than refuseWithin is killed and fails t.
func runBounded(t *testing.T, bin string, args ...string) (string, int, time.Duration) {
	t.Helper()
	cmd := cluster.Command(bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(refuseWithin):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s still running after %v; output so far:\n%s", bin, refuseWithin, out.String())
	}
	took := time.Since(start)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0, took
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode(), took
	}
	t.Fatal(err)
	return "", 0, 0
}

// TestLaunchedProcessDiesWithItsLauncher checks that the launcher's
// kill-on-parent-death holds through ip netns exec: ip execs the program
// in place (the PID the launcher knows is the program's, in the
// namespace), and when the launcher is killed with SIGKILL, leaving no
// chance to clean up, the kernel kills the program too.
func TestLaunchedProcessDiesWithItsLauncher(t *testing.T) {
	nw := newNetwork(t, "probe")
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), launcherEnv+"="+nw.ns["probe"])
	stdin, err := helper.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = helper.Process.Kill(); _ = helper.Wait() })
	pid := readPID(t, stdout)
	t.Cleanup(func() { // in case the kernel did not
		if comm(pid) == "sleep" {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	cluster.WaitFor(t, waitBound, "ip to exec sleep in place", func() error {
		if got := comm(pid); got != "sleep" {
			return fmt.Errorf("pid %d runs %q", pid, got)
		}
		return nil
	})
	var inNS, want syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &inNS); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat("/run/netns/"+nw.ns["probe"], &want); err != nil {
		t.Fatal(err)
	}
	if inNS.Ino != want.Ino {
		t.Fatalf("pid %d is not in namespace %s", pid, nw.ns["probe"])
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	cluster.WaitFor(t, waitBound, "the launcher's child to die with it", func() error {
		if s := procState(pid); s != "" && s != "Z" {
			return fmt.Errorf("pid %d still runs (state %s)", pid, s)
		}
		return nil
	})
}

// readPID reads the launcher's first line, the PID of what it started,
// within waitBound.
func readPID(t *testing.T, r io.Reader) int {
	t.Helper()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	ctx, cancel := context.WithTimeout(t.Context(), waitBound)
	defer cancel()
	select {
	case s := <-line:
		pid, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("launcher said %q, want a PID", s)
		}
		return pid
	case <-ctx.Done():
		t.Fatalf("launcher printed no PID within %v", waitBound)
	}
	return 0
}

// comm is the command name of pid, "" if there is no such process.
func comm(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procState is pid's state letter (R, S, Z...), "" if it is gone.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return ""
	}
	return string(b[i+2])
}
