package cluster

import "syscall"

// sysProcAttr puts each child in its own process group, so that a Ctrl-C
// in the terminal reaches only the launching program (which then stops
// every child in order), and has the kernel kill the child if that program
// dies without cleaning up (kill -9, a test binary killed by its
// -timeout), so that no node outlives the run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
