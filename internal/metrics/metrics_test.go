package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// scrape returns the text Prometheus would read.
func scrape(t testing.TB, m *Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	return w.Body.String()
}

func TestObserveRequest(t *testing.T) {
	m := New(Sources{})
	for range 3 {
		m.ObserveRequest("GET /me", "GET", 200, 2*time.Millisecond)
	}
	m.ObserveRequest("GET /me", "GET", 401, 300*time.Microsecond)
	m.ObserveRequest("unmatched", "BREW", 404, time.Millisecond)
	m.ObserveRequest("unmatched", "PROPFIND", 404, time.Millisecond)
	body := scrape(t, m)
	for _, want := range []string{
		`gatehouse_http_requests_total{method="GET",route="GET /me",status="200"} 3` + "\n",
		`gatehouse_http_requests_total{method="GET",route="GET /me",status="401"} 1` + "\n",
		`gatehouse_http_requests_total{method="OTHER",route="unmatched",status="404"} 2` + "\n",
		`gatehouse_http_request_duration_seconds_bucket{route="GET /me",le="0.0005"} 1` + "\n",
		`gatehouse_http_request_duration_seconds_bucket{route="GET /me",le="0.0025"} 4` + "\n",
		`gatehouse_http_request_duration_seconds_count{route="GET /me"} 4` + "\n",
		`gatehouse_http_request_duration_seconds_sum{route="GET /me"} 0.0063` + "\n",
		`gatehouse_http_request_duration_seconds_count{route="unmatched"} 2` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, "BREW") || strings.Contains(body, "PROPFIND") {
		t.Error("an arbitrary method became a label value")
	}
	if t.Failed() {
		t.Log(body)
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("GET /me", "GET", 200, time.Millisecond)
	m.Event("login_failed")
	m.RateLimited("login")
	m.HashWait(time.Millisecond)
}

func BenchmarkObserveRequest(b *testing.B) {
	m := New(Sources{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest("GET /me", "GET", 200, 150*time.Microsecond)
		}
	})
}
