package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one child process (a node, a distributor, any helper server)
// that can be killed, stopped, paused and started again with the same
// command line. Its stdout and stderr go to one log file, appended to
// across restarts, with a line marking each start and each exit.
type Proc struct {
	name    string
	bin     string
	args    func() []string // read at every start: a node's -join may change
	logPath string
	// ready reports whether a started process is serving; Start waits
	// for it. nil means started is enough.
	ready   func(ctx context.Context) error
	timeout time.Duration // bounds each wait for ready

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when the current run has exited
	exitErr  error         // the current run's exit, once done is closed
	runStart int64         // offset in the log where the current run begins
}

// Command is exec.Command with the launcher's process attributes: its own
// process group and, on Linux, killed when its parent dies. Use it for a
// short run of a binary that Proc does not manage (a -h, an exit status).
func Command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = sysProcAttr()
	return cmd
}

// Name is the process's name in logs and errors (node0, distributor).
func (p *Proc) Name() string { return p.name }

// LogPath is the process's log file.
func (p *Proc) LogPath() string { return p.logPath }

// spawn starts one run of the process, without waiting for anything.
func (p *Proc) spawn() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.done) {
		return fmt.Errorf("%s is already running (pid %d)", p.name, p.cmd.Process.Pid)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	off, _ := f.Seek(0, io.SeekEnd)
	args := p.args()
	fmt.Fprintf(f, "=== %s start: %s %s\n", time.Now().Format(time.RFC3339Nano), p.bin, strings.Join(args, " "))
	cmd := Command(p.bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.exitErr, p.runStart = cmd, done, nil, off
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(f, "=== %s exit: %s\n", time.Now().Format(time.RFC3339Nano), exitString(err))
		f.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// Start starts the process again with its command line (after Kill, Term
// or a crash) and waits until it is ready to serve. A start can fail if
// another program took the port while the process was down; it is tried
// three times, since the port is usually released quickly. It is an error
// to start a process that is running.
func (p *Proc) Start(ctx context.Context) error {
	var last error
	for range 3 {
		if err := p.spawn(); err != nil {
			return err
		}
		last = p.waitReady(ctx)
		if last == nil {
			return nil
		}
		_ = p.Kill()
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("starting %s: %w", p.name, last)
}

// waitReady waits until the current run is ready, or fails at once if it
// exits first.
func (p *Proc) waitReady(ctx context.Context) error {
	if p.ready == nil {
		return nil
	}
	return poll(ctx, p.timeout, p.name+" to serve", []*Proc{p}, func() error { return p.ready(ctx) })
}

// Running reports whether the process has been started and has not exited.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !isClosed(p.done)
}

// exited returns a channel that is closed when the current run ends (a
// closed one if the process never ran).
func (p *Proc) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return p.done
}

// ExitErr is how the last run ended: nil for exit status 0 (or while it
// runs), else the *exec.ExitError or the reason it could not be waited for.
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// PID is the process ID of the current run, 0 if it is not running: a PID
// kept after the exit could name someone else's process.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || isClosed(p.done) {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *Proc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || isClosed(p.done) {
		return fmt.Errorf("%s is not running", p.name)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %v to %s: %w", sig, p.name, err)
	}
	return nil
}

// Kill sends SIGKILL, as a crash or kill -9 would, and waits (at most
// 10 s) for the process to be gone. Killing a process that is not running
// is not an error.
func (p *Proc) Kill() error {
	if !p.Running() {
		return nil
	}
	if err := p.signal(syscall.SIGKILL); err != nil && p.Running() {
		return err
	}
	return p.waitExit(10 * time.Second)
}

// Term stops the process as an operator would: SIGTERM (a node hands its
// leadership over and closes its store), then SIGKILL if it has not
// exited within grace, which is then an error. ExitErr tells how a clean
// exit went. Stopping a process that is not running is not an error.
func (p *Proc) Term(grace time.Duration) error {
	if !p.Running() {
		return nil
	}
	_ = p.signal(syscall.SIGCONT) // a paused process cannot act on SIGTERM
	if err := p.signal(syscall.SIGTERM); err != nil && p.Running() {
		return err
	}
	if err := p.waitExit(grace); err == nil {
		return nil
	}
	if err := p.Kill(); err != nil {
		return err
	}
	return fmt.Errorf("%s did not exit within %s of SIGTERM; killed it", p.name, grace)
}

// Pause stops the process with SIGSTOP and waits until all its threads
// have stopped: it keeps its sockets open but does
// nothing, as in a long GC pause or a stalled VM.
func (p *Proc) Pause() error {
	if err := p.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	return waitStopped(p.PID())
}

// Resume continues a paused process with SIGCONT.
func (p *Proc) Resume() error { return p.signal(syscall.SIGCONT) }

// WaitExit waits until the process has exited, or ctx ends.
func (p *Proc) WaitExit(ctx context.Context) error {
	select {
	case <-p.exited():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s (pid %d) still running: %w", p.name, p.PID(), ctx.Err())
	}
}

func (p *Proc) waitExit(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return p.WaitExit(ctx)
}

// logTail returns the last lines of the process's log, for errors that
// should say why without sending the reader to a file first.
func (p *Proc) logTail(lines int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	return lastLines(b, lines)
}

// runLog is what the current (or last) run has written so far.
func (p *Proc) runLog() []byte {
	p.mu.Lock()
	off := p.runStart
	p.mu.Unlock()
	b, err := os.ReadFile(p.logPath)
	if err != nil || off > int64(len(b)) {
		return nil
	}
	return b[off:]
}

// portTaken reports whether the last run failed because one of its ports
// was taken by another program between the choice and the bind.
func (p *Proc) portTaken() bool {
	return bytes.Contains(p.runLog(), []byte("address already in use"))
}

// exitedError describes a run that ended when it should not have.
func (p *Proc) exitedError() error {
	return fmt.Errorf("%s exited (%s); last lines of %s:\n%s",
		p.name, exitString(p.ExitErr()), p.logPath, lastLines(p.runLog(), 15))
}

func lastLines(b []byte, n int) string {
	b = bytes.TrimRight(b, "\n")
	for i, seen := len(b)-1, 0; i >= 0; i-- {
		if b[i] == '\n' {
			if seen++; seen == n {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}

func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func isClosed(c chan struct{}) bool {
	if c == nil {
		return true
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}
