//go:build linux

package main

import "syscall"

// childProcAttr puts a child node in its own process group (so a terminal's
// Ctrl-C reaches only this process, which then stops the children in
// order) and has the kernel send it sig if this process dies first.
func childProcAttr(sig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
}
