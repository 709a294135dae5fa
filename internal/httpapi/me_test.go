package httpapi_test

import (
	"net/http/httptest"
	"testing"
)

// loginAgain opens a second session for who and returns its access token.
func loginAgain(t *testing.T, h *harness, email, password string) string {
	t.Helper()
	w := h.do(req{method: "POST", path: "/login", body: `{"email":"` + email + `","password":"` + password + `"}`,
		headers: map[string]string{"User-Agent": "second-device"}})
	if w.Code != 200 {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	return decode(t, w)["access_token"].(string)
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func TestSessions(t *testing.T) {
	t.Parallel()
	t.Run("list marks the current session", func(t *testing.T) {
		h := newHarness(t)
		second := loginAgain(t, h, "ann@example.com", annPassword)
		w := h.do(req{method: "GET", path: "/me/sessions", headers: bearer(second)})
		sessions := decode(t, w)["sessions"].([]any)
		if len(sessions) != 2 {
			t.Fatalf("%d sessions, want 2: %s", len(sessions), w.Body)
		}
		current := 0
		for _, s := range sessions {
			m := s.(map[string]any)
			if m["current"] == true {
				current++
				if m["user_agent"] != "second-device" || m["ip"] != "192.0.2.1" {
					t.Fatalf("current session = %v", m)
				}
			}
		}
		if current != 1 {
			t.Fatalf("%d sessions marked current", current)
		}
	})
	t.Run("end another of my sessions", func(t *testing.T) {
		h := newHarness(t)
		second := loginAgain(t, h, "ann@example.com", annPassword)
		path := "/me/sessions/" + h.tokens["ann"].SessionID
		if w := h.do(req{method: "DELETE", path: path, headers: bearer(second)}); w.Code != 204 {
			t.Fatalf("end session: %d %s", w.Code, w.Body)
		}
		if w := h.do(req{method: "GET", path: "/me", as: "ann"}); errorCode(w) != "token_revoked" {
			t.Fatalf("ended session's token: %d %s", w.Code, w.Body)
		}
		if w := h.do(req{method: "GET", path: "/me", headers: bearer(second)}); w.Code != 200 {
			t.Fatalf("the current session died too: %d", w.Code)
		}
		if w := h.do(req{method: "DELETE", path: path, headers: bearer(second)}); w.Code != 404 {
			t.Fatalf("ending it twice: %d", w.Code)
		}
	})
	runScenarios(t, []scenario{
		{name: "someone else's session is 404", req: req{method: "DELETE", path: "/me/sessions/SID:bob", as: "ann"}, status: 404, code: "not_found",
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if w := h.do(req{method: "GET", path: "/me", as: "bob"}); w.Code != 200 {
					t.Fatalf("ann ended bob's session: %d", w.Code)
				}
			}},
		{name: "unknown session", req: req{method: "DELETE", path: "/me/sessions/nope", as: "ann"}, status: 404, code: "not_found"},
		{name: "cookie without CSRF", req: req{method: "DELETE", path: "/me/sessions/SID:ann", as: "ann", carrier: "cookie"}, status: 403, code: "csrf_failed"},
		{name: "anonymous", req: req{method: "GET", path: "/me/sessions"}, status: 401, code: "unauthorized"},
	})
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "wrong current password", req: req{method: "POST", path: "/me/password", as: "ann",
			body: `{"current_password":"guess guess","new_password":"a brand new passphrase"}`}, status: 401, code: "invalid_credentials"},
		{name: "weak new password", req: req{method: "POST", path: "/me/password", as: "ann",
			body: `{"current_password":"` + annPassword + `","new_password":"ann@example.com"}`}, status: 400, code: "weak_password"},
		{name: "missing body", req: req{method: "POST", path: "/me/password", as: "ann", body: `{}`}, status: 401, code: "invalid_credentials"},
		{name: "wrong media type", req: req{method: "POST", path: "/me/password", as: "ann", body: "x", contentType: "text/plain"}, status: 415, code: "unsupported_media_type"},
	})
	t.Run("changes, ends every other session, keeps this one with new tokens", func(t *testing.T) {
		h := newHarness(t)
		other := loginAgain(t, h, "ann@example.com", annPassword)
		w := h.do(req{method: "POST", path: "/me/password", as: "ann",
			body: `{"current_password":"` + annPassword + `","new_password":"a brand new passphrase"}`})
		if w.Code != 200 {
			t.Fatalf("change: %d %s", w.Code, w.Body)
		}
		tok := decode(t, w)
		if w := h.do(req{method: "GET", path: "/me", headers: bearer(other)}); errorCode(w) != "token_revoked" {
			t.Fatalf("the other session survived: %d %s", w.Code, w.Body)
		}
		if w := h.do(req{method: "GET", path: "/me", as: "ann"}); w.Code != 200 {
			t.Fatalf("the caller's own session ended: %d", w.Code)
		}
		if w := h.do(req{method: "GET", path: "/me", headers: bearer(tok["access_token"].(string))}); w.Code != 200 {
			t.Fatalf("the new access token is refused: %d", w.Code)
		}
		if w := h.do(req{method: "POST", path: "/token/refresh", body: `{"refresh_token":"` + h.tokens["ann"].RefreshToken + `"}`}); w.Code != 401 {
			t.Fatalf("the caller's refresh token from before the change still works: %d", w.Code)
		}
		if w := h.do(req{method: "POST", path: "/token/refresh", body: `{"refresh_token":"` + tok["refresh_token"].(string) + `"}`}); w.Code != 200 {
			t.Fatalf("the new refresh token is refused: %d %s", w.Code, w.Body)
		}
		if w := h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"` + annPassword + `"}`}); w.Code != 401 {
			t.Fatalf("old password still logs in: %d", w.Code)
		}
		if w := h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"a brand new passphrase"}`}); w.Code != 200 {
			t.Fatalf("new password refused: %d", w.Code)
		}
	})
}

func TestDeleteMe(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "wrong password", req: req{method: "DELETE", path: "/me", as: "ann", body: `{"password":"nope nope nope"}`}, status: 401, code: "invalid_credentials"},
		{name: "no body", req: req{method: "DELETE", path: "/me", as: "ann"}, status: 415, code: "unsupported_media_type"},
		{name: "deletes the account and what it owns", req: req{method: "DELETE", path: "/me", as: "ann", body: `{"password":"` + annPassword + `"}`}, status: 204,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if w := h.do(req{method: "GET", path: "/me", as: "ann"}); w.Code != 401 {
					t.Fatalf("deleted account's token: %d", w.Code)
				}
				if w := h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"` + annPassword + `"}`}); w.Code != 401 {
					t.Fatalf("deleted account logs in: %d", w.Code)
				}
				if w := h.do(req{method: "POST", path: "/register", body: `{"email":"ann@example.com","password":"a new ann's password"}`}); w.Code != 201 {
					t.Fatalf("email not freed: %d", w.Code)
				}
			}},
	})
	t.Run("books go with the account", func(t *testing.T) {
		h := newHarness(t)
		withBook(t, h)
		h.do(req{method: "DELETE", path: "/me", as: "ann", body: `{"password":"` + annPassword + `"}`})
		if n := len(decode(t, h.do(req{method: "GET", path: "/books?all=true", as: "admin"}))["books"].([]any)); n != 0 {
			t.Fatalf("%d books survive their owner", n)
		}
	})
}
