//go:build linux

package harness

import "syscall"

// procAttr puts a node in its own process group (a Ctrl-C of the test does
// not reach it directly) and has the kernel SIGKILL it if the test process
// dies, so no node outlives its test.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
