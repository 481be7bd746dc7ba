package system

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/cluster"
	"github.com/kvraft/hraftd/internal/freeport"
)

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real hraftd processes; skipped with -short")
	}
}

func TestNoDataDirExits1(t *testing.T) {
	skipShort(t)
	t.Parallel()
	ports, err := freeport.Ports(2)
	if err != nil {
		t.Fatal(err)
	}
	haddr, raddr := freeport.Addr(ports[0]), freeport.Addr(ports[1])
	for _, args := range [][]string{
		nil,
		{"-id", "node0"},
		{"-id", "node0", "-haddr", haddr, "-raddr", raddr},
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
	bin, err := cluster.Build(t.Context(), cluster.PkgHraftd)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd := cluster.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
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
