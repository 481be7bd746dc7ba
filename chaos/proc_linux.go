package chaos

import "syscall"

// sysProcAttr puts each child in its own process group, so that a Ctrl-C in
// the terminal reaches only the harness (which then stops every child in
// order) rather than every node at once, and asks the kernel to kill the
// child if the harness itself dies (a test binary killed by its timeout,
// say), so that no node outlives the run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
