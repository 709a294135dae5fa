//go:build unix

package main

import (
	"syscall"
	"time"
)

// selfCPU is the CPU time this process, the load generator, has used so
// far; -1 where it can't be read.
func selfCPU() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return -1
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
