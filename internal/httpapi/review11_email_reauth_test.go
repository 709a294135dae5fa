package httpapi_test

import (
	"testing"
	"time"
)

// README (--reauth-max-age): "how recent a sign-in must be to ... change the
// email". POST /me/email with a sign-in older than that is
// 403 reauthentication_required, as the other sensitive routes are.
func TestReview11EmailChangeNeedsARecentSignIn(t *testing.T) {
	h := newHarness(t, noRecoveryLimits)
	h.clock.Advance(11 * time.Minute)
	w := h.do(req{method: "POST", path: "/me/email", as: "ann", body: `{"email":"ann@new.example","password":"` + annPassword + `"}`})
	if w.Code != 403 || errorCode(w) != "reauthentication_required" {
		t.Fatalf("email change 11 minutes after the sign-in: %d %s, want 403 reauthentication_required", w.Code, w.Body)
	}
}
