package httpapi_test

import (
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// Review of issue 12 (second factors).

// API.md: "5 wrong codes end the mfa_token and count towards the lockout".
// Whoever reaches the second step holds the password; if each right
// password forgets the streak of wrong codes, the lockout never engages
// against code guessing (only the hourly cap does): log in, 5 wrong codes,
// log in again, more wrong codes, and so on. After 5 wrong codes, a right
// password and one more wrong code, the account must be locked.
func TestReview12RightPasswordDoesNotForgetWrongCodes(t *testing.T) {
	lockoutOnly := unlimited
	lockoutOnly.Lockout = ratelimit.LockoutPolicy{FreeFailures: 5, BaseLock: time.Minute, MaxLock: time.Hour, HourlyCap: 1000}
	h := newHarness(t, func(c *app.Config) { c.Limits = &lockoutOnly })
	h.enrol("ann")
	for range 5 {
		h.loginMFA(h.mfaToken("ann"), "code", "000000") // wrong codes, each on a fresh token
	}
	token := h.mfaToken("ann") // the right password: the streak of wrong codes is still there
	if w := h.loginMFA(token, "code", "111111"); w.Code != 400 {
		t.Fatalf("the sixth wrong code: %d %s", w.Code, w.Body)
	}
	w := h.do(req{method: "POST", path: "/login", body: `{"username":"ann","password":"` + annPassword + `"}`})
	if w.Code != 429 {
		t.Fatalf("after 6 wrong codes (a right password between them) the account is not locked: %d %s", w.Code, w.Body)
	}
}
