package httpapi_test

import (
	"testing"
	"time"
)

// API.md: "enrolling or removing a factor, new recovery codes, email change
// and account deletion need auth_time within --reauth-max-age (10m), else
// 403 reauthentication_required". A session signed in 11 minutes ago (its
// access token still valid) must not start an email change, even with the
// password.
func TestOldSignInChangesNoEmailUntilReauthenticated(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noRecoveryLimits)
	h.clock.Advance(11 * time.Minute)
	if w := h.do(req{method: "DELETE", path: "/me", as: "bob", body: `{"password":"` + bobPassword + `"}`}); w.Code != 403 || errorCode(w) != "reauthentication_required" {
		t.Fatalf("account deletion from an old sign-in: %d %s", w.Code, w.Body)
	}
	w := h.do(req{method: "POST", path: "/me/email", as: "ann", body: `{"email":"ann@new.example","password":"` + annPassword + `"}`})
	if w.Code != 403 || errorCode(w) != "reauthentication_required" {
		t.Fatalf("email change from an old sign-in: %d %s, want 403 reauthentication_required", w.Code, w.Body)
	}
	if msgs := h.mails(t); len(msgs) != 0 {
		t.Fatalf("an email change from an old sign-in mailed %d messages", len(msgs))
	}
	// After POST /me/reauthenticate it goes through.
	w = h.do(req{method: "POST", path: "/me/reauthenticate", as: "ann", body: `{"password":"` + annPassword + `"}`})
	if w.Code != 200 {
		t.Fatalf("reauthenticate: %d %s", w.Code, w.Body)
	}
	h.tokensFrom("ann", w)
	if w := h.do(req{method: "POST", path: "/me/email", as: "ann", body: `{"email":"ann@new.example","password":"` + annPassword + `"}`}); w.Code != 202 {
		t.Fatalf("email change after re-authenticating: %d %s", w.Code, w.Body)
	}
}

// README (--reauth-max-age): "how recent a sign-in must be to ... change the
// email". POST /me/email with a sign-in older than that is
// 403 reauthentication_required, as the other sensitive routes are.
func TestEmailChangeNeedsARecentSignIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noRecoveryLimits)
	h.clock.Advance(11 * time.Minute)
	w := h.do(req{method: "POST", path: "/me/email", as: "ann", body: `{"email":"ann@new.example","password":"` + annPassword + `"}`})
	if w.Code != 403 || errorCode(w) != "reauthentication_required" {
		t.Fatalf("email change 11 minutes after the sign-in: %d %s, want 403 reauthentication_required", w.Code, w.Body)
	}
}
