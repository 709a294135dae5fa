// Package httpapi is Gatehouse's HTTP interface: every route of the contract
// (routes.go), the JSON API's handlers, and the middleware around them. The
// pages' handlers are internal/web's; routes.go mounts them.
package httpapi

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/books"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/metrics"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/gatehouse-auth/gatehouse/internal/upstream"
	"github.com/gatehouse-auth/gatehouse/internal/web"
)

// KeySet is what discovery needs of the key ring.
type KeySet interface {
	JWKS() []byte
	Algorithm() string
}

// Deps are the server's collaborators, built by cmd/gatehouse.
type Deps struct {
	Auth           *auth.Services // the use cases: d.Auth.Sessions.Login, ...
	Guard          *guard.Guard
	Books          *books.Service    // every book rule, for the API and the pages
	Orgs           *orgs.Service     // organizations, for the API and the pages
	OIDC           *oidc.Service     // the OpenID Connect provider
	Clients        *oidc.Clients     // its clients' registration (the admin /clients routes)
	Upstream       *upstream.Service // sign-in through other identity providers
	Webhooks       *events.Webhooks  // webhook endpoints (the admin /webhooks routes)
	Keys           KeySet
	Pages          *web.Pages
	Ready          func(context.Context) error // readiness: does the database answer?
	Log            *slog.Logger
	Issuer         string
	TrustedProxies []netip.Prefix
	Limiter        ratelimit.Limiter // per client address; nil: no limits
	Limits         ratelimit.Policy
	Metrics        *metrics.Metrics // nil: no /metrics, nothing recorded
	Now            func() time.Time
	// CORSOrigins may call the browser API from their pages (ParseOrigins
	// checks them; NewServer panics on a wildcard).
	CORSOrigins []string
}

// NewServer returns the whole handler tree.
func NewServer(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if _, err := ParseOrigins(strings.Join(d.CORSOrigins, ",")); err != nil {
		panic("httpapi: CORSOrigins: " + err.Error()) // app.New and the command refuse them first
	}
	mux := http.NewServeMux()
	addRoutes(mux, d)
	return logRequests(d.Log, d.Metrics, recoverPanics(d.Log, limitBodies(commonHeaders(withClient(d, mux)))))
}

// withClient records the caller's address and user agent in the context of
// every request that may change state, for the audit log. Reads skip it.
func withClient(d Deps, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r = r.WithContext(auth.WithClient(r.Context(), client(d, r)))
		}
		next.ServeHTTP(w, r)
	})
}

// limitBodies caps every request body at the contract's 64 KiB, before any
// handler parses it. A body announced larger is refused by refuseLargeBodies,
// inside each route's CORS, so that a browser app can read the 413.
func limitBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != http.NoBody { // a request without a body has nothing to cap
			r.Body = http.MaxBytesReader(w, r.Body, httpjson.MaxBody)
		}
		next.ServeHTTP(w, r)
	})
}

// refuseLargeBodies answers 413 to a request whose Content-Length is over
// the contract's 64 KiB, without reading it.
func refuseLargeBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > httpjson.MaxBody {
			httpjson.Error(w, r, nil, httpjson.TooLarge())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Header values every response carries, allocated once. Sharing them is
// safe: Header.Set replaces a value, and Header.Add appends to a copy.
var (
	nosniff = []string{"nosniff"}
	noStore = []string{"no-store"}
	deny    = []string{"DENY"}
	hsts    = []string{"max-age=63072000; includeSubDomains"}
)

// commonHeaders sets what every response carries. Responses are private by
// default; discovery documents and static files opt into caching.
func commonHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Content-Type-Options"] = nosniff
		h["Cache-Control"] = noStore
		h["X-Frame-Options"] = deny
		if r.TLS != nil { // behind a TLS-terminating proxy, the proxy sets HSTS
			h["Strict-Transport-Security"] = hsts
		}
		next.ServeHTTP(w, r)
	})
}

// requestIDs are a random per-process prefix and a counter: unique across
// instances for correlating log lines, and cheap. They are not secrets.
var (
	requestPrefix = rand.Text()[:8] + "-"
	requestSeq    atomic.Uint64
)

func newRequestID() string {
	var buf [32]byte // the prefix's 9 bytes and at most 13 base-36 digits
	return string(strconv.AppendUint(append(buf[:0], requestPrefix...), requestSeq.Add(1), 36))
}

func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				httpjson.Error(w, r, log, auth.Errorf(auth.CodeInternal, "An internal error occurred."))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status and the route for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
	route  string // the pattern of the route that answered; "" for none
	// requestID is the X-Request-Id header's value, allocated with the
	// writer rather than on its own.
	requestID [1]string
}

// setRoute records route on the statusWriter beneath w, however many
// wrappers (each with Unwrap, as http.ResponseController expects) lie between.
func setRoute(w http.ResponseWriter, route string) {
	for w != nil {
		if sw, ok := w.(*statusWriter); ok {
			sw.route = route
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests writes one line per request: method, route, status, duration
// and a request id (also sent back as X-Request-Id). Never a body, token or
// query string.
func logRequests(log *slog.Logger, m *metrics.Metrics, next http.Handler) http.Handler {
	lines := &requestLines{base: log.Handler()}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		sw := &statusWriter{ResponseWriter: w, requestID: [1]string{id}}
		w.Header()["X-Request-Id"] = sw.requestID[:]
		next.ServeHTTP(sw, r)
		route := sw.route
		if route == "" {
			route = "unmatched"
		}
		end := time.Now()
		elapsed := end.Sub(start)
		m.ObserveRequest(route, r.Method, sw.status, elapsed)
		lines.write(r.Context(), end, r.Method, route, r.URL.Path, sw.status, elapsed, id)
	})
}

// requestLines writes the request log lines: the line log.LogAttrs would
// write, for less. The first two attributes, method and route, are the same
// for every request to a route, so for the usual methods a handler with
// them already formatted (WithAttrs) is made once per route and method and
// kept. (The route is a pattern of routes.go or "unmatched": there are few.)
// And the record carries no caller's program counter, which slog finds by
// walking the stack, for a source that no Gatehouse logger adds.
type requestLines struct {
	base   slog.Handler
	routes sync.Map // lineKey → slog.Handler with the key's attributes
}

type lineKey struct{ method, route string }

func (l *requestLines) write(ctx context.Context, t time.Time, method, route, path string, status int, d time.Duration, id string) {
	h, formatted := l.base, false
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		h, formatted = l.handler(lineKey{method, route}), true
	} // a method a client made up is not kept
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	rec := slog.NewRecord(t, slog.LevelInfo, "request", 0)
	if !formatted {
		rec.AddAttrs(slog.String("method", method), slog.String("route", route))
	}
	rec.AddAttrs(slog.String("path", path), slog.Int("status", status), slog.Duration("duration", d), slog.String("request_id", id))
	_ = h.Handle(ctx, rec)
}

func (l *requestLines) handler(k lineKey) slog.Handler {
	if h, ok := l.routes.Load(k); ok {
		return h.(slog.Handler)
	}
	h, _ := l.routes.LoadOrStore(k, l.base.WithAttrs([]slog.Attr{slog.String("method", k.method), slog.String("route", k.route)}))
	return h.(slog.Handler)
}

// limitByAddress refuses a client address past its bucket for action with
// 429 and Retry-After, before the handler reads anything. IPv6 clients are
// keyed by their /64. (Checks of secrets, login included, are limited in
// auth's guarded path instead, one bucket for every kind of check.)
func limitByAddress(d Deps, action string, l ratelimit.Limit, next http.Handler) http.Handler {
	if d.Limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, retry, err := d.Limiter.Allow(r.Context(), action+":"+ratelimit.AddressKey(clientIP(r, d.TrustedProxies)), l)
		if err != nil { // a failing shared limiter must not take logins down
			d.Log.WarnContext(r.Context(), "rate limiter failed", "err", err)
		} else if !ok {
			d.Metrics.RateLimited(action)
			httpjson.Error(w, r, d.Log, &auth.Error{Code: auth.CodeTooManyRequests,
				Message: "Too many requests from your address; wait before trying again.", RetryAfter: retry})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// methodNotAllowed answers the methods a path does not serve.
func methodNotAllowed(allow []string) http.Handler {
	allowed := strings.Join(allow, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allowed)
		httpjson.Error(w, r, nil, auth.Errorf(auth.CodeMethodNotAllowed, "This path does not accept %s; it accepts %s.", r.Method, allowed))
	})
}

func notFound(w http.ResponseWriter, r *http.Request) {
	httpjson.Error(w, r, nil, auth.Errorf(auth.CodeNotFound, "There is nothing at this path."))
}
