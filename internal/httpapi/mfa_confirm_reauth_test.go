package httpapi_test

import (
	"testing"
	"time"
)

// Enrolling a factor needs a recent login (POST /me/mfa/totp checks it),
// but the enrolment is completed by POST /me/mfa/totp/confirm, which does
// not check it, and a pending enrolment never expires and is shown again,
// secret included, on GET /security. A session signed in long ago (a stolen
// cookie) of a user who once started and abandoned an enrolment gets the
// secret from the page and confirms it, receiving the recovery codes, which
// then re-authenticate it past every recent-login barrier.
func TestConfirmingAnEnrolmentNeedsRecentLogin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.verifyEmail("ann")
	w := h.do(req{method: "POST", path: "/me/mfa/totp", as: "ann"})
	if w.Code != 200 {
		t.Fatalf("enrol: %d %s", w.Code, w.Body)
	}
	secret := decode(t, w)["secret"].(string)
	h.clock.Advance(11 * time.Minute) // the user walks away; the session is now old
	w = h.do(req{method: "POST", path: "/me/mfa/totp/confirm", as: "ann", body: `{"code":"` + h.code(secret, 0) + `"}`})
	if w.Code == 200 {
		t.Fatalf("an old session completed an enrolment and got recovery codes: %s", w.Body)
	}
}
