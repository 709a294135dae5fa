package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// BenchmarkRefreshHandler is POST /token/refresh through the whole handler
// tree on SQLite, 32 chains on two cores as ./bench drives it: each
// goroutine follows its own session's chain, so rotations group-commit.
// cpu-µs/op is the process's CPU time per rotation (every goroutine, the
// writer's included): steadier than ns/op on a shared machine.
func BenchmarkRefreshHandler(b *testing.B) {
	h := newHarness(b)
	b.ReportAllocs()
	b.SetParallelism(16)
	start := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		tok, err := h.app.Services.Sessions.Login(context.Background(), auth.LoginInput{Identifier: "ann@example.com", Password: annPassword})
		if err != nil {
			b.Error(err)
			return
		}
		raw := tok.RefreshToken
		for pb.Next() {
			r := httptest.NewRequest("POST", "/token/refresh", strings.NewReader(`{"refresh_token":"`+raw+`"}`))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.app.Handler.ServeHTTP(w, r)
			var out struct {
				RefreshToken string `json:"refresh_token"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &out); w.Code != 200 || err != nil {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
			raw = out.RefreshToken
		}
	})
	reportCPU(b, start)
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}
