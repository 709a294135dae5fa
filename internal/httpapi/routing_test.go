package httpapi_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
)

// Unknown methods on known paths, the root included, answer 405 with Allow
// in the contract's JSON; unknown paths stay 404.
func TestUnknownMethodsOnKnownPaths(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"TRACE", "/", 405, "GET, HEAD"},
		{"POST", "/", 405, "GET, HEAD"},
		{"DELETE", "/", 405, "GET, HEAD"},
		{"TRACE", "/login", 405, "GET, HEAD, POST"},
		{"BREW", "/me", 405, "DELETE, GET, HEAD, PATCH"},
		{"TRACE", "/books/123", 405, "DELETE, GET, HEAD, PATCH"},
		// A literal path beside a wildcard one keeps its own Allow.
		{"DELETE", "/login/mfa", 405, "GET, HEAD, POST"},
		{"DELETE", "/login/google", 405, "GET, HEAD"},
		{"PUT", "/me/identities/x", 405, "DELETE, POST"},
		{"TRACE", "/no-such-path", 404, ""},
		{"GET", "/no/such/path", 404, ""},
	} {
		w := h.do(req{method: tc.method, path: tc.path})
		if w.Code != tc.status {
			t.Errorf("%s %s: %d, want %d; body %s", tc.method, tc.path, w.Code, tc.status, w.Body)
			continue
		}
		want := map[int]string{405: "method_not_allowed", 404: "not_found"}[tc.status]
		if got := errorCode(w); got != want {
			t.Errorf("%s %s: code %q, want %q", tc.method, tc.path, got, want)
		}
		if got := w.Header().Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
}

// "Authorization: Basic" with nothing usable after it is a malformed Basic
// login (400 invalid_request), not a JSON body of the wrong type (415).
func TestLoginWithEmptyBasicCredentials(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, header := range []string{"Basic", "Basic ", "basic   ", "Basic Og=="} { // Og== is ":"
		w := h.do(req{method: "POST", path: "/login", headers: map[string]string{"Authorization": header}})
		if w.Code != 400 || errorCode(w) != "invalid_request" {
			t.Errorf("Authorization %q: %d %s, want 400 invalid_request", header, w.Code, w.Body)
		}
	}
}

// Every answer of a route, failures and refusals included, is counted and
// logged under that route: a brute force against POST /login shows on a
// dashboard keyed by route.
func TestFailedRequestsKeepTheirRoute(t *testing.T) {
	t.Parallel()
	logs := &testsupport.Buffer{}
	h := newHarness(t, func(c *app.Config) { c.Log = slog.New(slog.NewTextHandler(logs, nil)) })
	h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"wrong one here"}`})
	h.do(req{method: "POST", path: "/login", headers: map[string]string{"Authorization": "Basic %%%"}})
	h.do(req{method: "POST", path: "/register", body: `{"email":"new@example.com","password":"a new long passphrase"}`})
	h.do(req{method: "DELETE", path: "/me/sessions/SID:bob", as: "ann"})
	h.do(req{method: "TRACE", path: "/"})
	body := h.do(req{method: "GET", path: "/metrics"}).Body.String()
	for _, want := range []string{
		`gatehouse_http_requests_total{method="POST",route="POST /login",status="401"} 1`,
		`gatehouse_http_requests_total{method="POST",route="POST /login",status="400"} 1`,
		`gatehouse_http_requests_total{method="POST",route="POST /register",status="201"} 1`,
		`gatehouse_http_requests_total{method="DELETE",route="DELETE /me/sessions/{id}",status="404"} 1`,
		`gatehouse_http_requests_total{method="OTHER",route="/{$}",status="405"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, `route="unmatched",status="401"`) {
		t.Error("a failed login is counted as unmatched")
	}
	if n := strings.Count(logs.String(), `route="POST /login"`); n != 2 {
		t.Errorf("%d request lines with route=\"POST /login\", want 2:\n%s", n, logs)
	}
}
