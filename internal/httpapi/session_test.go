package httpapi_test

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRefresh(t *testing.T) {
	t.Parallel()
	refreshOf := func(h *harness, who string) string { return h.tokens[who].RefreshToken }
	runScenarios(t, []scenario{
		{name: "unknown token", req: req{method: "POST", path: "/token/refresh", body: `{"refresh_token":"nope"}`}, status: 401, code: "invalid_grant"},
		{name: "missing token", req: req{method: "POST", path: "/token/refresh", body: `{}`}, status: 400, code: "invalid_request"},
		{name: "wrong media type", req: req{method: "POST", path: "/token/refresh", body: `x`, contentType: "text/plain"}, status: 415, code: "unsupported_media_type"},
		{name: "GET not allowed", req: req{method: "GET", path: "/token/refresh"}, status: 405},
	})
	t.Run("body rotates; old token then fails after grace", func(t *testing.T) {
		h := newHarness(t)
		old := refreshOf(h, "ann")
		w := h.do(req{method: "POST", path: "/token/refresh", body: `{"refresh_token":"` + old + `"}`})
		if w.Code != 200 || decode(t, w)["refresh_token"] == old {
			t.Fatalf("refresh: %d %s", w.Code, w.Body)
		}
		h.clock.Advance(11e9)
		if w := h.do(req{method: "POST", path: "/token/refresh", body: `{"refresh_token":"` + old + `"}`}); w.Code != 401 || errorCode(w) != "invalid_grant" {
			t.Fatalf("reuse: %d %s", w.Code, w.Body)
		}
		if w := h.do(req{method: "GET", path: "/me", as: "ann"}); errorCode(w) != "token_revoked" {
			t.Fatalf("access token after reuse: %d %s", w.Code, w.Body)
		}
	})
	t.Run("cookie needs CSRF and gets new cookies", func(t *testing.T) {
		h := newHarness(t)
		cookies := "__Host-refresh=" + refreshOf(h, "ann") + "; __Host-csrf=tok-123"
		w := h.do(req{method: "POST", path: "/token/refresh", headers: map[string]string{"Cookie": cookies}})
		if w.Code != 403 || errorCode(w) != "csrf_failed" {
			t.Fatalf("without CSRF header: %d %s", w.Code, w.Body)
		}
		w = h.do(req{method: "POST", path: "/token/refresh", headers: map[string]string{"Cookie": cookies, "X-CSRF-Token": "tok-123"}})
		if w.Code != 200 || !hasCookie(w, "__Host-access", false) || !hasCookie(w, "__Host-refresh", false) {
			t.Fatalf("with CSRF header: %d %s %v", w.Code, w.Body, w.Header().Values("Set-Cookie"))
		}
	})
}

func TestLogout(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "no credentials", req: req{method: "POST", path: "/logout"}, status: 401, code: "unauthorized"},
		{name: "GET not allowed", req: req{method: "GET", path: "/logout"}, status: 405, code: "method_not_allowed"},
		{name: "cookie without CSRF", req: req{method: "POST", path: "/logout", as: "ann", carrier: "cookie"}, status: 403, code: "csrf_failed"},
		{name: "cookie from another site", req: req{method: "POST", path: "/logout", as: "ann", carrier: "cookie", csrf: true,
			headers: map[string]string{"Sec-Fetch-Site": "cross-site"}}, status: 403, code: "csrf_failed"},
		{name: "bearer ends only this session", req: req{method: "POST", path: "/logout", as: "ann"}, status: 204,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if !hasCookie(w, "__Host-access", true) || !hasCookie(w, "__Host-refresh", true) {
					t.Fatalf("cookies not cleared: %v", w.Header().Values("Set-Cookie"))
				}
				if w := h.do(req{method: "GET", path: "/me", as: "ann"}); w.Code != 401 || errorCode(w) != "token_revoked" {
					t.Fatalf("token after logout: %d %s", w.Code, w.Body)
				}
				if w := h.do(req{method: "GET", path: "/me", as: "bob"}); w.Code != 200 {
					t.Fatalf("another user's token after ann's logout: %d", w.Code)
				}
				if w := h.do(req{method: "POST", path: "/token/refresh", body: `{"refresh_token":"` + h.tokens["ann"].RefreshToken + `"}`}); w.Code != 401 {
					t.Fatalf("refresh after logout: %d", w.Code)
				}
			}},
		{name: "cookie with CSRF", req: req{method: "POST", path: "/logout", as: "ann", carrier: "cookie", csrf: true}, status: 204,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if w := h.do(req{method: "GET", path: "/me", as: "ann"}); w.Code != 401 {
					t.Fatalf("token after cookie logout: %d", w.Code)
				}
			}},
	})
	t.Run("all ends every session", func(t *testing.T) {
		h := newHarness(t)
		first := h.tokens["ann"]
		w := h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"` + annPassword + `"}`})
		second := decode(t, w)["access_token"].(string)
		if w := h.do(req{method: "POST", path: "/logout", as: "ann", body: `{"all":true}`}); w.Code != 204 {
			t.Fatalf("logout all: %d %s", w.Code, w.Body)
		}
		for _, tok := range []string{first.AccessToken, second} {
			if w := h.do(req{method: "GET", path: "/me", headers: map[string]string{"Authorization": "Bearer " + tok}}); w.Code != 401 {
				t.Fatalf("a session survived logout all: %d", w.Code)
			}
		}
	})
	t.Run("refresh token in body", func(t *testing.T) {
		h := newHarness(t)
		if w := h.do(req{method: "POST", path: "/logout", body: `{"refresh_token":"` + h.tokens["ann"].RefreshToken + `"}`}); w.Code != 204 {
			t.Fatalf("logout by refresh token: %d %s", w.Code, w.Body)
		}
		if w := h.do(req{method: "GET", path: "/me", as: "ann"}); w.Code != 401 {
			t.Fatalf("token after logout: %d", w.Code)
		}
	})
}

func TestMe(t *testing.T) {
	t.Parallel()
	isAnn := func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
		if m := decode(t, w); field(m, "user", "email") != "ann@example.com" || field(m, "user", "name") != "Ann" {
			t.Fatalf("user = %v", m)
		}
	}
	runScenarios(t, []scenario{
		{name: "bearer", req: req{method: "GET", path: "/me", as: "ann"}, status: 200, check: isAnn},
		{name: "bare Authorization (seed 003)", req: req{method: "GET", path: "/get-jwt", as: "ann", carrier: "bare"}, status: 200, check: isAnn},
		{name: "x-access-tokens (seed 002)", req: req{method: "GET", path: "/me", as: "ann", carrier: "header"}, status: 200, check: isAnn},
		{name: "cookie (web UI)", req: req{method: "GET", path: "/me", as: "ann", carrier: "cookie"}, status: 200, check: isAnn},
		{name: "seed alias /get_name", req: req{method: "GET", path: "/get_name", as: "ann"}, status: 200, check: isAnn},
		{name: "no token", req: req{method: "GET", path: "/me"}, status: 401, code: "unauthorized",
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if w.Header().Get("WWW-Authenticate") != `Bearer realm="gatehouse"` {
					t.Fatalf("challenge %q", w.Header().Get("WWW-Authenticate"))
				}
			}},
		{name: "token in query string is never read", req: req{method: "GET", path: "/me?access_token=x.y.z&token=x.y.z&jwt=x.y.z"}, status: 401, code: "unauthorized"},
		{name: "garbage token", req: req{method: "GET", path: "/me", headers: map[string]string{"Authorization": "Bearer a.b.c"}}, status: 401, code: "invalid_token",
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if w.Header().Get("WWW-Authenticate") != `Bearer realm="gatehouse", error="invalid_token"` {
					t.Fatalf("challenge %q", w.Header().Get("WWW-Authenticate"))
				}
			}},
		{name: "alg none", req: req{method: "GET", path: "/me", headers: map[string]string{"Authorization": "Bearer eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4In0."}}, status: 401, code: "invalid_token"},
		{name: "patch name", req: req{method: "PATCH", path: "/me", as: "ann", body: `{"name":"Ann B","role":"admin","email":"x@example.com"}`}, status: 200,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				m := decode(t, w)
				if field(m, "user", "name") != "Ann B" || field(m, "user", "role") != "user" || field(m, "user", "email") != "ann@example.com" {
					t.Fatalf("user = %v", m)
				}
			}},
		{name: "patch with cookie needs CSRF", req: req{method: "PATCH", path: "/me", as: "ann", carrier: "cookie", body: `{"name":"X"}`}, status: 403, code: "csrf_failed"},
		{name: "patch with cookie and CSRF", req: req{method: "PATCH", path: "/me", as: "ann", carrier: "cookie", csrf: true, body: `{"name":"X"}`}, status: 200},
		{name: "patch bad name", req: req{method: "PATCH", path: "/me", as: "ann", body: `{"name":"a\u0000b"}`}, status: 400, code: "invalid_request"},
		{name: "PUT not allowed", req: req{method: "PUT", path: "/me", as: "ann"}, status: 405},
	})
	t.Run("expired token", func(t *testing.T) {
		h := newHarness(t)
		h.clock.Advance(16 * 60e9)
		if w := h.do(req{method: "GET", path: "/me", as: "ann"}); w.Code != 401 || errorCode(w) != "token_expired" {
			t.Fatalf("expired: %d %s", w.Code, w.Body)
		}
	})
}

func TestRevocationLog(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "bad cursor", req: req{method: "GET", path: "/revocations?since=yesterday"}, status: 400, code: "invalid_request"},
		{name: "negative cursor", req: req{method: "GET", path: "/revocations?since=-5"}, status: 400, code: "invalid_request"},
		{name: "empty log", req: req{method: "GET", path: "/revocations"}, status: 200,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if m := decode(t, w); len(m["revoked"].([]any)) != 0 || m["cursor"] == "" {
					t.Fatalf("empty log = %v", m)
				}
			}},
		{name: "a logout appears, then the cursor moves past it", req: req{method: "POST", path: "/logout", as: "ann"}, status: 204,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				m := decode(t, h.do(req{method: "GET", path: "/revocations"}))
				revoked := m["revoked"].([]any)
				if len(revoked) != 1 || revoked[0].(map[string]any)["sid"] != h.tokens["ann"].SessionID {
					t.Fatalf("log = %v", m)
				}
				m = decode(t, h.do(req{method: "GET", path: "/revocations?since=" + m["cursor"].(string)}))
				if len(m["revoked"].([]any)) != 0 {
					t.Fatalf("the next poll repeats an old entry: %v", m)
				}
			}},
	})
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(req{method: "GET", path: "/me", as: "ann"})
	h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"wrong one here"}`})
	h.do(req{method: "POST", path: "/token/refresh", body: `{"refresh_token":"` + h.tokens["bob"].RefreshToken + `"}`})
	h.do(req{method: "BREW", path: "/coffee"})
	w := h.do(req{method: "GET", path: "/metrics"})
	body := w.Body.String()
	for _, want := range []string{
		`gatehouse_http_requests_total{method="GET",route="GET /me",status="200"} 1`,
		`gatehouse_http_requests_total{method="OTHER",route="unmatched",status="404"} 1`,
		`gatehouse_http_request_duration_seconds_bucket{route="GET /me",le=`,
		`gatehouse_auth_events_total{event="login_failed"} 1`,
		`gatehouse_auth_events_total{event="login_succeeded"} 3`,
		`gatehouse_auth_events_total{event="refresh_succeeded"} 1`,
		`gatehouse_active_sessions 3`,
		`gatehouse_password_hash_queue_depth 0`,
		`gatehouse_password_hash_wait_seconds_count`,
		`gatehouse_database_errors_total 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}
