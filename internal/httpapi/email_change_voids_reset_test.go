package httpapi_test

import (
	"strings"
	"testing"
)

// A reset link mailed to the old address must die when the address
// changes: the user who moves away from a mailbox (lost, shared, taken
// over) must not leave in it a link that still sets their password.
func TestEmailChangeVoidsResetLinksOfTheOldAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noRecoveryLimits)
	h.do(req{method: "POST", path: "/password/forgot", body: `{"email":"ann@example.com"}`})
	reset := tokenOf(t, linkTo(t, h.mails(t), "ann@example.com", "/reset-password"))
	if w := h.do(req{method: "POST", path: "/me/email", as: "ann", body: `{"email":"ann@new.example","password":"` + annPassword + `"}`}); w.Code != 202 {
		t.Fatalf("change request: %d %s", w.Code, w.Body)
	}
	confirm := tokenOf(t, linkTo(t, h.mails(t), "ann@new.example", "/confirm-email"))
	if w := h.do(req{method: "POST", path: "/email/change/confirm", body: `{"token":"` + confirm + `"}`}); w.Code != 200 {
		t.Fatalf("confirm: %d %s", w.Code, w.Body)
	}
	w := h.do(req{method: "POST", path: "/password/reset", body: `{"token":"` + reset + `","new_password":"whoever reads the old box"}`})
	if w.Code != 400 || errorCode(w) != "invalid_code" || strings.Contains(w.Body.String(), "user") {
		t.Fatalf("a reset link mailed to the old address still works after the change: %d %s", w.Code, w.Body)
	}
}
