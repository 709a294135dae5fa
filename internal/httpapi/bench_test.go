package httpapi_test

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkProtectedMe is a protected GET /me through the whole handler tree:
// logging, limits, guard (EdDSA verification, revocation lookup) and the
// handler's user read.
func BenchmarkProtectedMe(b *testing.B) {
	h := newHarness(b)
	auth := "Bearer " + h.tokens["ann"].AccessToken
	b.ReportAllocs()
	start := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("GET", "/me", nil)
			r.Header.Set("Authorization", auth)
			w := httptest.NewRecorder()
			h.app.Handler.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
	reportCPU(b, start)
}
