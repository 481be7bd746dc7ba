package cluster

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
	"time"
)

// sysProcAttr puts each child in its own process group, so that a Ctrl-C
// in the terminal reaches only the launching program (which then stops
// every child in order), and has the kernel kill the child if that program
// dies without cleaning up (kill -9, a test binary killed by its
// -timeout), so that no node outlives the run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// waitStopped waits until every thread of pid has stopped after SIGSTOP:
// the kernel stops a running thread only when it next enters the kernel, so
// a request sent right after kill(2) could still be answered.
func waitStopped(pid int) error {
	deadline := time.Now().Add(5 * time.Second)
	for !allStopped(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d did not stop within 5s of SIGSTOP", pid)
		}
		time.Sleep(time.Millisecond) // a poll interval, not a wait for luck
	}
	return nil
}

// allStopped reads each thread's state from /proc/PID/task/TID/stat, where
// it follows the command name: "tid (comm) T ...".
func allStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, t.Name()))
		i := bytes.LastIndexByte(b, ')')
		if err != nil || i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
			return false
		}
	}
	return true
}
