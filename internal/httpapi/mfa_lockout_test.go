package httpapi_test

import (
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// API.md: "5 wrong codes end the mfa_token and count towards the lockout".
// Whoever reaches the second step holds the password; if each right
// password forgot the streak of wrong codes, the lockout would never engage
// against code guessing (only the hourly cap would): log in, wrong codes,
// log in again, more wrong codes, and so on. A right password that only
// opens the second step counts nothing (only failures count) but ends no
// streak either: only that step's success does, so six rounds of a right
// password and a wrong code (6 failures) lock the account.
func TestRightPasswordDoesNotForgetWrongCodes(t *testing.T) {
	t.Parallel()
	lockoutOnly := unlimited
	lockoutOnly.Lockout = ratelimit.LockoutPolicy{FreeFailures: 5, BaseLock: time.Minute, MaxLock: time.Hour, HourlyCap: 1000}
	h := newHarness(t, func(c *app.Config) { c.Limits = &lockoutOnly })
	h.enrol("ann")
	for range 6 {
		if w := h.loginMFA(h.mfaToken("ann"), "code", "000000"); w.Code != 400 {
			t.Fatalf("a wrong code: %d %s", w.Code, w.Body)
		}
	}
	w := h.do(req{method: "POST", path: "/login", body: `{"username":"ann","password":"` + annPassword + `"}`})
	if w.Code != 429 {
		t.Fatalf("after 6 wrong codes, each behind a right password, the account is not locked: %d %s", w.Code, w.Body)
	}
}
