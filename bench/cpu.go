package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CPU time per request is steadier than requests/s on a machine whose cores
// the server and the load generator share: a rate moves with whatever else
// runs, the CPU time a request costs much less.

// cpuTimes is the CPU time (user and system) used so far by the server
// process and by this one, the load generator; -1 where it can't be read.
type cpuTimes struct{ server, self time.Duration }

func cpuNow(server int) cpuTimes { return cpuTimes{processCPU(server), selfCPU()} }

// perRequest is the CPU time per request from t to end over n requests; 0
// where it can't be read.
func (t cpuTimes) perRequest(end cpuTimes, n int) (server, self time.Duration) {
	per := func(a, b time.Duration) time.Duration {
		if a < 0 || b < 0 || n == 0 {
			return 0
		}
		return (b - a) / time.Duration(n)
	}
	return per(t.server, end.server), per(t.self, end.self)
}

// processCPU is the CPU time process pid has used so far, all its threads,
// from /proc/<pid>/stat; -1 where there is no /proc (not Linux).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Field 2, the command name in parentheses, may itself hold spaces and
	// parentheses: count the fields after the last ')', from field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(f[14-3], 10, 64)
	stime, err2 := strconv.ParseInt(f[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(utime+stime) * clockTick()
}

// clockTick is the unit of /proc/<pid>/stat's times, USER_HZ, as the kernel
// gives it to every process in the auxiliary vector (AT_CLKTCK, what
// sysconf(_SC_CLK_TCK) reads); Linux's 100 Hz where that can't be read.
var clockTick = sync.OnceValue(func() time.Duration {
	const atClkTck = 17
	b, _ := os.ReadFile("/proc/self/auxv")
	w := strconv.IntSize / 8 // the vector is pairs of native words
	word := func(b []byte) uint64 {
		if w == 4 {
			return uint64(binary.NativeEndian.Uint32(b))
		}
		return binary.NativeEndian.Uint64(b)
	}
	for i := 0; i+2*w <= len(b); i += 2 * w {
		if word(b[i:]) == atClkTck && word(b[i+w:]) > 0 {
			return time.Second / time.Duration(word(b[i+w:]))
		}
	}
	return time.Second / 100
})
