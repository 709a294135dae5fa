//go:build !unix

package main

import "time"

// selfCPU can't be read here (no getrusage): the figure stays empty.
func selfCPU() time.Duration { return -1 }
