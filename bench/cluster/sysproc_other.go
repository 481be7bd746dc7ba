//go:build !linux

package cluster

import "syscall"

// sysProcAttr has no portable parent-death signal outside Linux; the
// runner's own cleanup is all there is.
func sysProcAttr() *syscall.SysProcAttr { return nil }
