package httpapi_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// withLockoutOnly applies the default per-account lockout and no
// per-address limit.
func withLockoutOnly(c *app.Config) {
	p := unlimited
	p.Lockout = ratelimit.DefaultPolicy().Lockout
	c.Limits = &p
}

// every route that checks the current password shares login's
// per-account lockout, and records each failure in the audit log.
func TestPasswordChecksShareTheLoginLockout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withLockoutOnly)
	wrongChange := req{method: "POST", path: "/me/password", as: "ann",
		body: `{"current_password":"a wrong guess","new_password":"a brand new passphrase"}`}
	for i := range 6 { // five free failures; the sixth is still checked and starts a 1 s lock
		if w := h.do(wrongChange); w.Code != 401 || errorCode(w) != "invalid_credentials" {
			t.Fatalf("wrong current password %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	for name, r := range map[string]req{
		"POST /me/password": wrongChange,
		"right current password": {method: "POST", path: "/me/password", as: "ann",
			body: `{"current_password":"` + annPassword + `","new_password":"a brand new passphrase"}`},
		"DELETE /me":  {method: "DELETE", path: "/me", as: "ann", body: `{"password":"` + annPassword + `"}`},
		"POST /login": {method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"` + annPassword + `"}`},
		"page POST /password": {method: "POST", path: "/password", as: "ann", carrier: "cookie", contentType: "application/x-www-form-urlencoded",
			body:    "csrf_token=csrf-ann&current_password=" + url.QueryEscape(annPassword) + "&new_password=a+brand+new+passphrase",
			headers: map[string]string{"Sec-Fetch-Site": "same-origin"}},
	} {
		w := h.do(r)
		if w.Code != 429 {
			t.Fatalf("%s while the account is locked: %d %s", name, w.Code, w.Body)
		}
		retryAfter(t, w)
	}
	events, _, err := h.app.Services.Accounts.AuditEvents(context.Background(), auth.AuditFilter{UserID: h.users["ann"].ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, e := range events {
		if e.Event == "reauthentication_failed" && strings.Contains(e.Detail, "password change") {
			failed++
		}
	}
	if failed != 6 {
		t.Fatalf("%d failed password checks audited, want 6: %+v", failed, events)
	}
	// The lock expires; the owner can change the password again.
	h.clock.Advance(2 * time.Second)
	if w := h.do(req{method: "POST", path: "/me/password", as: "ann",
		body: `{"current_password":"` + annPassword + `","new_password":"a brand new passphrase"}`}); w.Code != 200 {
		t.Fatalf("after the lock: %d %s", w.Code, w.Body)
	}
}

// a flood of wrong current passwords from one address is refused by
// login's per-address limit before any hash is computed.
func TestPasswordChecksShareTheAddressLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *app.Config) {
		p := unlimited
		p.Login = ratelimit.Per(3, time.Hour, 3)
		c.Limits = &p
	})
	for i := range 3 {
		w := h.do(req{method: "DELETE", path: "/me", as: "ann", body: `{"password":"a wrong guess"}`})
		if w.Code != 401 {
			t.Fatalf("wrong password %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	for name, r := range map[string]req{
		"DELETE /me":        {method: "DELETE", path: "/me", as: "bob", body: `{"password":"a wrong guess"}`},
		"POST /me/password": {method: "POST", path: "/me/password", as: "bob", body: `{"current_password":"x y z w","new_password":"a brand new passphrase"}`},
		"POST /login":       {method: "POST", path: "/login", body: `{"email":"bob@example.com","password":"` + bobPassword + `"}`},
	} {
		w := h.do(r)
		if w.Code != 429 || !strings.Contains(w.Body.String(), "address") {
			t.Fatalf("%s from the flooding address: %d %s", name, w.Code, w.Body)
		}
	}
}

// an unknown name locks case-blind, like a real account, so the
// lock tells nothing about existence.
func TestLockoutKeysUnknownNamesLikeAccounts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withLockoutOnly)
	wrong := func(ident string) *httptest.ResponseRecorder {
		return h.do(req{method: "POST", path: "/login", body: `{"identifier":"` + ident + `","password":"wrong guess here"}`})
	}
	for _, names := range [][2]string{{"ann", "ANN"}, {"alice", "ALICE"}, {"Carol@Example.com", "carol@example.COM"}} {
		for range 6 {
			wrong(names[0])
		}
		if w := wrong(names[1]); w.Code != 429 {
			t.Fatalf("%s locked, then %s answered %d %s", names[0], names[1], w.Code, w.Body)
		}
	}
}

// Rate limits key an IPv6 client by its /64: one host holds a whole /64.
func TestIPv6ClientsShareTheirSlash64(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *app.Config) {
		p := unlimited
		p.Login = ratelimit.Per(2, time.Hour, 2)
		c.Limits = &p
	})
	login := func(remote string) int {
		r := httptest.NewRequest("POST", "/login", strings.NewReader(`{"email":"nobody@example.com","password":"nope nope"}`))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.app.Handler.ServeHTTP(w, r)
		return w.Code
	}
	for _, remote := range []string{"[2001:db8:1:2::1]:4000", "[2001:db8:1:2:ffff::9]:4001"} {
		if code := login(remote); code != 401 {
			t.Fatalf("%s: %d", remote, code)
		}
	}
	if code := login("[2001:db8:1:2:abcd:1234:5678:9]:4002"); code != 429 {
		t.Fatalf("a third address of the same /64: %d, want 429", code)
	}
	if code := login("[2001:db8:1:3::1]:4003"); code != 401 {
		t.Fatalf("another /64: %d, want 401", code)
	}
	if code := login("192.0.2.7:4004"); code != 401 {
		t.Fatalf("an IPv4 client: %d, want 401", code)
	}
}
