package httpapi_test

import "testing"

// Review of issue 11. API.md, POST /password/reset: "With MFA enrolled, the
// reset also needs a second factor (code or recovery_code in the body)."
// A reset link alone (someone with the mailbox) must not set the password
// and end every session of an account protected by TOTP.
func TestReview11ResetWithMFANeedsASecondFactor(t *testing.T) {
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
