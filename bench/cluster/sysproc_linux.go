//go:build linux

package cluster

import "syscall"

// sysProcAttr puts each child in its own process group, so that a Ctrl-C
// in the terminal reaches only the runner, which then stops the children
// in order; and has the kernel kill a child if the runner dies without
// cleaning up (kill -9, a crash), so no node outlives a benchmark.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
