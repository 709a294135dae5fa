package httpapi_test

import (
	"testing"
)

// API.md, POST /password/reset: "With MFA enrolled, the reset also needs a
// second factor (code or recovery_code in the body)." A reset link alone
// (someone with the mailbox) must not set the password of an account with
// an authenticator app.
func TestResetWithMFANeedsSecondFactor(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noRecoveryLimits)
	secret, _ := h.enrol("ann")
	h.do(req{method: "POST", path: "/password/forgot", body: `{"email":"ann@example.com"}`})
	tok := tokenOf(t, linkTo(t, h.mails(t), "ann@example.com", "/reset-password"))
	w := h.do(req{method: "POST", path: "/password/reset", body: `{"token":"` + tok + `","new_password":"ann's brand new phrase"}`})
	if w.Code == 204 {
		t.Fatalf("a reset of an account with TOTP went through without a second factor")
	}
	if w := h.do(req{method: "GET", path: "/me", as: "ann"}); w.Code != 200 {
		t.Fatalf("a refused reset ended the sessions: %d", w.Code)
	}
	// With the code it goes through.
	w = h.do(req{method: "POST", path: "/password/reset", body: `{"token":"` + tok + `","new_password":"ann's brand new phrase","code":"` + h.code(secret, 0) + `"}`})
	if w.Code != 204 {
		t.Fatalf("a reset with link and code: %d %s", w.Code, w.Body)
	}
}

// API.md, POST /password/reset: "With MFA enrolled, the
// reset also needs a second factor (code or recovery_code in the body)."
// A reset link alone (someone with the mailbox) must not set the password
// and end every session of an account protected by TOTP.
func TestResetLinkAloneSetsNoPasswordOfATOTPAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noRecoveryLimits)
	secret, _ := h.enrol("ann")
	h.do(req{method: "POST", path: "/password/forgot", body: `{"email":"ann@example.com"}`})
	tok := tokenOf(t, linkTo(t, h.mails(t), "ann@example.com", "/reset-password"))
	w := h.do(req{method: "POST", path: "/password/reset", body: `{"token":"` + tok + `","new_password":"the mailbox thief's phrase"}`})
	if w.Code == 204 {
		t.Fatalf("a reset link alone reset the password of a TOTP account: %d %s", w.Code, w.Body)
	}
	// With the code, the reset goes through.
	w = h.do(req{method: "POST", path: "/password/reset", body: `{"token":"` + tok + `","new_password":"ann's brand new phrase","code":"` + h.code(secret, 0) + `"}`})
	if w.Code != 204 {
		t.Fatalf("reset with the link and a code: %d %s", w.Code, w.Body)
	}
}
