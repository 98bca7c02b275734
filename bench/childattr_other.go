//go:build !linux

package main

import "syscall"

// childAttr returns no special attributes: outside Linux a child server is
// stopped by Close only.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}
