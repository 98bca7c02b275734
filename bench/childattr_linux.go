package main

import "syscall"

// childAttr makes the kernel kill a child server when this process dies, so
// that a benchmark killed half-way leaves no redis-server behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
