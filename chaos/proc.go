package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one child process (a node or the distributor) that can be
// started, killed, paused and started again with the same command line.
// Its stdout and stderr go to one log file, appended to across restarts
// so that the file tells the process's whole story.
type Proc struct {
	Name    string
	Bin     string
	Args    []string
	LogPath string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when the current run exits
	exitErr  error
	paused   bool
	starts   int
	lastExit string
}

// Start runs the process. It is an error to start it while it runs.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.done) {
		return fmt.Errorf("%s is already running (pid %d)", p.Name, p.cmd.Process.Pid)
	}
	f, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "=== chaos %s: starting %s %s %s\n", time.Now().Format(time.RFC3339Nano), p.Name, p.Bin, strings.Join(p.Args, " "))
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.exitErr, p.paused = cmd, done, nil, false
	p.starts++
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(f, "=== chaos %s: %s exited: %v\n", time.Now().Format(time.RFC3339Nano), p.Name, exitString(err))
		f.Close()
		p.mu.Lock()
		p.exitErr = err
		p.lastExit = exitString(err)
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Running reports whether the process has been started and has not exited.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !isClosed(p.done)
}

// Exited returns a channel closed when the current run ends (a closed one
// if the process never ran).
func (p *Proc) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return p.done
}

// LastExit describes how the last run ended.
func (p *Proc) LastExit() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastExit
}

// Starts is how many times the process has been started.
func (p *Proc) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// Pid is the process ID of the current run, 0 if none.
func (p *Proc) Pid() int {
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
		return fmt.Errorf("%s is not running", p.Name)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %v to %s: %w", sig, p.Name, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		p.paused = true
	case syscall.SIGCONT, syscall.SIGKILL:
		p.paused = false
	}
	return nil
}

// Kill sends SIGKILL and waits (at most 10 s) for the process to be gone.
// Killing a process that is not running is not an error.
func (p *Proc) Kill() error {
	if !p.Running() {
		return nil
	}
	if err := p.signal(syscall.SIGKILL); err != nil && p.Running() {
		return err
	}
	return p.wait(10 * time.Second)
}

// Terminate sends SIGTERM, waits up to grace for a clean exit, then kills.
func (p *Proc) Terminate(grace time.Duration) error {
	if !p.Running() {
		return nil
	}
	_ = p.signal(syscall.SIGCONT) // a paused process cannot act on SIGTERM
	if err := p.signal(syscall.SIGTERM); err != nil && p.Running() {
		return err
	}
	if p.wait(grace) == nil {
		return nil
	}
	return p.Kill()
}

// Pause stops the process with SIGSTOP: it keeps its sockets open but does
// nothing, as in a long GC pause or a stalled VM.
func (p *Proc) Pause() error { return p.signal(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (p *Proc) Resume() error { return p.signal(syscall.SIGCONT) }

func (p *Proc) wait(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.Exited():
		return nil
	case <-t.C:
		return fmt.Errorf("%s (pid %d) did not exit within %s", p.Name, p.Pid(), d)
	}
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
