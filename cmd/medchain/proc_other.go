//go:build !linux

package main

import "syscall"

// childProcAttr: outside Linux the children share this process group, so a
// terminal's Ctrl-C reaches them too; they stop on it as on SIGTERM.
func childProcAttr(syscall.Signal) *syscall.SysProcAttr { return nil }
