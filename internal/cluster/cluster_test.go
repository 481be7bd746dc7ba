package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shProc is a Proc running sh -c script, logging under t's temp dir. It
// is ready once the script has printed "ready".
func shProc(t *testing.T, script string) *Proc {
	t.Helper()
	p := &Proc{name: "sh", bin: "/bin/sh", args: func() []string { return []string{"-c", script} },
		logPath: filepath.Join(t.TempDir(), "sh.log"), timeout: 10 * time.Second}
	p.ready = func(context.Context) error {
		if !strings.Contains(string(p.runLog()), "ready\n") {
			return errors.New("not ready")
		}
		return nil
	}
	t.Cleanup(func() { _ = p.Kill() })
	return p
}

func TestProcKillPauseRestart(t *testing.T) {
	p := shProc(t, "echo ready; exec sleep 60")
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !p.Running() || p.PID() == 0 {
		t.Fatalf("after Start: running %v, pid %d", p.Running(), p.PID())
	}
	if err := p.Start(t.Context()); err == nil {
		t.Error("Start of a running process succeeded")
	}
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if p.Running() || p.PID() != 0 || p.ExitErr() == nil {
		t.Fatalf("after Kill: running %v, pid %d, exit %v", p.Running(), p.PID(), p.ExitErr())
	}
	if err := p.Kill(); err != nil {
		t.Errorf("Kill of a stopped process: %v", err)
	}
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), " start: /bin/sh"); n != 2 {
		t.Errorf("log has %d start lines, want 2:\n%s", n, b)
	}
	if n := strings.Count(string(b), "ready\n"); n != 2 {
		t.Errorf("log has %d lines of output, want 2 (one per run):\n%s", n, b)
	}
}

func TestProcTerm(t *testing.T) {
	p := shProc(t, `trap "exit 0" TERM; echo ready; while :; do sleep 0.05; done`)
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.Term(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.ExitErr(); err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
}

func TestProcTermKillsAfterGrace(t *testing.T) {
	p := shProc(t, `trap "" TERM; echo ready; while :; do :; done`)
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	err := p.Term(300 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Term of a process ignoring SIGTERM = %v, want an error saying it was killed", err)
	}
	if p.Running() {
		t.Error("still running after Term")
	}
}

func TestProcStartFailsWithTheLog(t *testing.T) {
	p := shProc(t, "echo boom; exit 3")
	err := p.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Start = %v, want an error with the log's last lines and the exit status", err)
	}
}

func TestPollGivesUp(t *testing.T) {
	err := Poll(t.Context(), 100*time.Millisecond, "nothing", func() error { return errors.New("not yet") })
	if err == nil || !strings.Contains(err.Error(), "gave up after 100ms") || !strings.Contains(err.Error(), "not yet") {
		t.Errorf("Poll = %v, want it to give up with the last error", err)
	}
	n := 0
	if err := Poll(t.Context(), time.Second, "three calls", func() error {
		if n++; n < 3 {
			return errors.New("again")
		}
		return nil
	}); err != nil || n != 3 {
		t.Errorf("Poll = %v after %d calls, want nil after 3", err, n)
	}
}

func TestLastLines(t *testing.T) {
	b := []byte("one\ntwo\nthree\nfour\n")
	if got := lastLines(b, 2); got != "three\nfour" {
		t.Errorf("lastLines(2) = %q", got)
	}
	if got := lastLines(b, 10); got != "one\ntwo\nthree\nfour" {
		t.Errorf("lastLines(10) = %q, want the whole log", got)
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err == nil {
		t.Error("a config without Dir validated")
	}
	c.Dir = t.TempDir()
	if err := c.Validate(); err != nil {
		t.Errorf("Validate = %v, want nil", err)
	}
	if err := (Config{Dir: c.Dir}).Validate(); err != nil {
		t.Errorf("an empty cluster (for AddNode): %v", err)
	}
	if err := (Config{Dir: c.Dir, Distributor: true}).Validate(); err == nil {
		t.Error("a distributor without shards validated")
	}
}
