//go:build !linux

package cluster

import "syscall"

// sysProcAttr puts each child in its own process group, so that a Ctrl-C
// in the terminal reaches only the launching program, which then stops
// every child. Outside Linux there is no parent-death signal: a program
// killed with SIGKILL leaves its children running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// waitStopped returns at once: without /proc there is no portable way to
// see that a process has stopped.
func waitStopped(pid int) error { return nil }
