package httpapi_test

import (
	"strings"
	"testing"
)

func TestAuditLog(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ua := map[string]string{"User-Agent": "audit-test/1.0"}
	h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"wrong password!"}`, headers: ua})
	h.do(req{method: "POST", path: "/login", body: `{"email":"nobody@example.com","password":"wrong password!"}`, headers: ua})
	h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"` + annPassword + `"}`, headers: ua})
	h.do(req{method: "POST", path: "/logout", as: "ann", headers: ua})
	h.do(req{method: "PATCH", path: "/users/ID:bob", as: "admin", body: `{"disabled":true}`, headers: ua})
	h.do(req{method: "POST", path: "/register", body: `{"email":"new@example.com","password":"a fine long password"}`, headers: ua})

	w := h.do(req{method: "GET", path: "/audit?limit=200", as: "admin"})
	if w.Code != 200 {
		t.Fatalf("audit: %d %s", w.Code, w.Body)
	}
	events := decode(t, w)["events"].([]any)
	kinds := map[string]int{}
	for _, e := range events {
		m := e.(map[string]any)
		kinds[m["event"].(string)]++
		if m["event"] == "admin_user_updated" {
			if m["actor_id"] != h.users["admin"].ID || m["user_id"] != h.users["bob"].ID || !strings.Contains(m["detail"].(string), "disabled true") {
				t.Fatalf("admin event = %v", m)
			}
		}
		if m["event"] == "login_failed" && (m["ip"] != "192.0.2.1" || m["user_agent"] != "audit-test/1.0") {
			t.Fatalf("failed login event without address or agent: %v", m)
		}
	}
	for kind, n := range map[string]int{"login_failed": 2, "login_succeeded": 4 /* 3 in the harness */, "logout": 1, "admin_user_updated": 1, "registered": 4} {
		if kinds[kind] != n {
			t.Fatalf("%d %s events, want %d (all: %v)", kinds[kind], kind, n, kinds)
		}
	}
	if body := w.Body.String(); strings.Contains(body, h.tokens["ann"].RefreshToken) || strings.Contains(body, "nobody@example.com") {
		t.Fatal("the audit log holds a token or the identifier typed at a failed login")
	}

	filtered := decode(t, h.do(req{method: "GET", path: "/audit?event=login_failed&user=ID:ann", as: "admin"}))["events"].([]any)
	if len(filtered) != 1 || filtered[0].(map[string]any)["detail"] != "wrong password" {
		t.Fatalf("filtered = %v", filtered)
	}
	page := decode(t, h.do(req{method: "GET", path: "/audit?limit=2", as: "admin"}))
	next := h.do(req{method: "GET", path: "/audit?limit=200&cursor=" + page["next_cursor"].(string), as: "admin"})
	if n := len(decode(t, next)["events"].([]any)); n != len(events)-2 {
		t.Fatalf("second page has %d events, want %d", n, len(events)-2)
	}
	for path, code := range map[string]int{"/audit?limit=0": 400, "/audit?cursor=x": 400} {
		if w := h.do(req{method: "GET", path: path, as: "admin"}); w.Code != code {
			t.Fatalf("%s: %d", path, w.Code)
		}
	}
	if w := h.do(req{method: "GET", path: "/audit", as: "bob"}); w.Code != 401 { // bob was disabled above
		t.Fatalf("non-admin audit: %d", w.Code)
	}
	if w := h.do(req{method: "GET", path: "/audit", as: "ann"}); w.Code != 401 { // ann logged out above
		t.Fatalf("logged-out audit: %d", w.Code)
	}
}
