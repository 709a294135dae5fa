package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
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
	return time.Duration(utime+stime) * clockTick
}

// clockTick is the unit of /proc/<pid>/stat's times, USER_HZ: 100 Hz on
// every architecture Linux and Go share (the kernel keeps it fixed for
// user space whatever its own tick rate).
const clockTick = time.Second / 100
