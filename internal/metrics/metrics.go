// Package metrics exposes what Gatehouse is doing in Prometheus's text
// format: requests by route and status with latencies, login and refresh
// outcomes, active sessions, the password hashing queue, rate-limit
// rejections, database errors and the Go runtime. Every recording method is
// safe on a nil *Metrics, so code paths without metrics (the command line,
// unit tests) need no checks.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Sources are read when Prometheus scrapes.
type Sources struct {
	HashQueueDepth func() int
	ActiveSessions func(ctx context.Context) (int, error)
	DBErrors       func() int64
}

// Metrics holds Gatehouse's collectors in a registry of its own.
type Metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	events      *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	hashWait    prometheus.Histogram
	grants      *prometheus.CounterVec // client_credentials grants by client (clients.go)

	series sync.Map // requestKey → *requestSeries: each request's two series, looked up once
}

// requestKey names the series of a request: its labels.
type requestKey struct {
	route, method string
	status        int
}

type requestSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// New registers the collectors.
func New(src Sources) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		registry: r,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total", Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_auth_events_total",
			Help: "Authentication outcomes: login_succeeded, login_failed, account_locked, refresh_succeeded, refresh_failed, refresh_token_reused, ...",
		}, []string{"event"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_rate_limited_total", Help: "Requests refused by a per-address limit, by action.",
		}, []string{"action"}),
		hashWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gatehouse_password_hash_wait_seconds", Help: "Time a password hash waited for a worker.",
			Buckets: []float64{.0001, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2},
		}),
	}
	m.grants = newGrants()
	r.MustRegister(m.requests, m.latency, m.events, m.rateLimited, m.hashWait, m.grants,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src.HashQueueDepth != nil {
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_password_hash_queue_depth", Help: "Password hashes waiting for a worker.",
		}, func() float64 { return float64(src.HashQueueDepth()) }))
	}
	if src.ActiveSessions != nil {
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_active_sessions", Help: "Sessions neither revoked nor expired.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := src.ActiveSessions(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	if src.DBErrors != nil {
		r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gatehouse_database_errors_total", Help: "Database operations that failed (not counting not-found or conflicts).",
		}, func() float64 { return float64(src.DBErrors()) }))
	}
	return m
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// ObserveRequest records one HTTP request.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	s := m.seriesOf(requestKey{route, normalMethod(method), status})
	s.count.Inc()
	s.latency.Observe(d.Seconds())
}

// seriesOf returns the series of k's labels. Resolving labels
// (WithLabelValues) hashes and checks them each time; there are few
// distinct keys (route patterns, the known methods, statuses: no more than
// the series themselves), so each is resolved once and kept. (Nothing
// deletes a series, so a kept one is never stale.)
func (m *Metrics) seriesOf(k requestKey) *requestSeries {
	if s, ok := m.series.Load(k); ok {
		return s.(*requestSeries)
	}
	s, _ := m.series.LoadOrStore(k, &requestSeries{
		count:   m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(k.status)),
		latency: m.latency.WithLabelValues(k.route),
	})
	return s.(*requestSeries)
}

// Event counts an authentication outcome.
func (m *Metrics) Event(name string) {
	if m != nil {
		m.events.WithLabelValues(name).Inc()
	}
}

// RateLimited counts a request refused by a per-address limit.
func (m *Metrics) RateLimited(action string) {
	if m != nil {
		m.rateLimited.WithLabelValues(action).Inc()
	}
}

// HashWait records how long a password hash waited for a worker.
func (m *Metrics) HashWait(d time.Duration) {
	if m != nil {
		m.hashWait.Observe(d.Seconds())
	}
}

// normalMethod keeps the method label to a known set: a client choosing
// arbitrary methods must not create unbounded series.
func normalMethod(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "OTHER"
}

// Mail delivery (the outbox worker).

// MailCounters count the outbox worker's deliveries; nil-safe like Metrics.
type MailCounters struct {
	sent   prometheus.Counter
	failed *prometheus.CounterVec
}

// Mail registers the mail metrics: sent and failed deliveries, and the
// outbox depth read from depth at each scrape.
func (m *Metrics) Mail(depth func(ctx context.Context) (int, error)) *MailCounters {
	if m == nil {
		return nil
	}
	c := &MailCounters{
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_mail_sent_total", Help: "Mails delivered to the SMTP server (or the log).",
		}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_mail_failed_total", Help: "Failed delivery attempts: outcome retry (tried again later) or abandoned (given up).",
		}, []string{"outcome"}),
	}
	m.registry.MustRegister(c.sent, c.failed, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatehouse_mail_outbox_depth", Help: "Mails waiting in the outbox (neither sent nor given up).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := depth(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
	return c
}

// Sent counts a delivered mail.
func (c *MailCounters) Sent() {
	if c != nil {
		c.sent.Inc()
	}
}

// Failed counts a failed attempt; final when the mail is given up.
func (c *MailCounters) Failed(final bool) {
	if c == nil {
		return
	}
	outcome := "retry"
	if final {
		outcome = "abandoned"
	}
	c.failed.WithLabelValues(outcome).Inc()
}
