package system

import "syscall"

// sysProcAttr puts each node in its own process group, so that a Ctrl-C in
// the terminal reaches only the test binary (whose cleanups then kill every
// node), and asks the kernel to kill the node if the test binary itself
// dies (killed by -timeout, say), so that no node outlives the run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
