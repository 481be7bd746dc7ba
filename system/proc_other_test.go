//go:build !linux

package system

import "syscall"

// sysProcAttr has no parent-death signal outside Linux: a test binary that
// is itself killed leaves its nodes running. t.Cleanup kills them in every
// other case.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}
