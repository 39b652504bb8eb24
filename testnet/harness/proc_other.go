//go:build !linux

package harness

import "syscall"

// procAttr: outside Linux nodes cannot be tied to the test's lifetime.
func procAttr() *syscall.SysProcAttr { return nil }
