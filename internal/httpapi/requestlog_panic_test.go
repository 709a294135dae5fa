package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/metrics"
)

// The request line of a request whose handler panics (recovered: 500) or
// aborts (http.ErrAbortHandler: no line) is what log.LogAttrs wrote before
// the cached handlers, for the usual methods and made-up ones, in both
// formats.
func TestPanicAndAbortRequestLinesAsBefore(t *testing.T) {
	t.Parallel()
	stable := &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		switch a.Key {
		case slog.TimeKey:
			return slog.Attr{}
		case "duration":
			return slog.Int("duration", 0)
		case "request_id":
			return slog.String("request_id", "R")
		}
		return a
	}}
	boom := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("abort") != "" {
			panic(http.ErrAbortHandler)
		}
		if r.URL.Query().Get("late") != "" {
			w.WriteHeader(http.StatusAccepted)
		}
		panic("boom")
	}
	for name, newHandler := range logFormats(stable) {
		var got, want bytes.Buffer
		log := slog.New(newHandler(&got))
		wantLog := slog.New(newHandler(&want))
		m := metrics.New(metrics.Sources{})
		h := logRequests(log, m, recoverPanics(log, labelled("GET /boom", http.HandlerFunc(boom))))
		for _, c := range []struct {
			method, target string
			status         int
		}{
			{"GET", "/boom?token=secret", 500},
			{"HEAD", "/boom", 500},
			{"BREW", "/boom", 500},
			{"GET", "/boom?late=1", 202},
			{"GET", "/boom?abort=1", 0},
		} {
			r := httptest.NewRequest(c.method, c.target, nil)
			w := httptest.NewRecorder()
			func() {
				defer func() {
					if v := recover(); v != nil && v != http.ErrAbortHandler {
						t.Fatalf("%s %s: %v", c.method, c.target, v)
					}
				}()
				h.ServeHTTP(w, r)
			}()
			if c.status == 0 {
				continue // aborted: no line, before or after
			}
			if w.Code != 500 && c.status == 500 {
				t.Fatalf("%s %s: status %d", c.method, c.target, w.Code)
			}
			wantLog.ErrorContext(context.Background(), "panic", "method", c.method, "path", "/boom", "panic", "boom")
			logAsBefore(wantLog, c.method, "GET /boom", "/boom", c.status, time.Millisecond, "x")
		}
		// recoverPanics logs an internal error line of its own: keep only
		// the panic and request lines on both sides.
		keep := func(s string) string {
			var out []string
			for _, l := range strings.Split(s, "\n") {
				if strings.Contains(l, "request") && strings.Contains(l, "route") || strings.Contains(l, "panic") && strings.Contains(l, "boom") {
					out = append(out, l)
				}
			}
			return strings.Join(out, "\n")
		}
		if keep(got.String()) != keep(want.String()) {
			t.Errorf("%s: got\n%s\nwant\n%s", name, keep(got.String()), keep(want.String()))
		}
		if strings.Contains(got.String(), "secret") {
			t.Errorf("%s: the query string reached the log: %s", name, &got)
		}
		w := httptest.NewRecorder()
		m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		for _, s := range []string{
			`gatehouse_http_requests_total{method="GET",route="GET /boom",status="500"} 1`,
			`gatehouse_http_requests_total{method="HEAD",route="GET /boom",status="500"} 1`,
			`gatehouse_http_requests_total{method="OTHER",route="GET /boom",status="500"} 1`,
			`gatehouse_http_requests_total{method="GET",route="GET /boom",status="202"} 1`,
			`gatehouse_http_request_duration_seconds_count{route="GET /boom"} 4`,
		} {
			if !strings.Contains(w.Body.String(), s+"\n") {
				t.Errorf("%s: metrics lack %s", name, s)
			}
		}
	}
}
