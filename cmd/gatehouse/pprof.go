//go:build pprof

package main

// Built with -tags pprof, gatehouse serves Go's profiles on 127.0.0.1:6060,
// for profiling under load (see bench/). Never in a normal build.

import (
	"net/http"
	_ "net/http/pprof"
	"runtime"
	"time"
)

func init() {
	// Contention too: where goroutines wait on locks and channels.
	runtime.SetMutexProfileFraction(10)
	runtime.SetBlockProfileRate(int((50 * time.Microsecond).Nanoseconds()))
	go http.ListenAndServe("127.0.0.1:6060", nil)
}
