package httpapi_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// Regression: a confidential client's backend (one address for all its users)
// could sign in only 10 users a minute: every successful /oauth/token call
// took two tokens of the per-address password bucket (20 a minute), one for
// the client secret and one for the code, and a refresh or introspection one.
func TestConfidentialClientSignsInMoreThanTenUsersAMinute(t *testing.T) {
	t.Parallel()
	f := newOIDC(t, func(c *app.Config) {
		p := ratelimit.DefaultPolicy()
		c.Limits = &p
	})
	for i := range 15 {
		verifier, challenge := pkcePair("c")
		code := f.codeFor("ann", authParams(f.web, rpRedirect, challenge))
		if w := f.token(codeForm(code, rpRedirect, verifier), f.webBasic()); w.Code != 200 {
			t.Fatalf("sign-in %d of the client's users this minute: %d %s", i+1, w.Code, w.Body)
		}
	}
}

// Regression: a stranger locked a confidential client out of /oauth/token. The
// codes a client's backend exchanges come from whoever calls its redirect
// URI, and each exchange, junk code or not, takes tokens of the per-address
// password bucket of that backend (the one address all its users share):
// ten visits to https://rp.example/callback?code=junk (with the state of a
// flow the stranger started there) in a minute, and no user of the app can
// sign in for the rest of it; repeated, for good.
func TestJunkCodesDoNotLockTheClientOut(t *testing.T) {
	t.Parallel()
	f := newOIDC(t, func(c *app.Config) {
		p := ratelimit.DefaultPolicy()
		c.Limits = &p
	})
	for range 10 { // the client's backend exchanging what the stranger sent to its callback
		if w := f.token(codeForm("junk-from-the-callback-"+strings.Repeat("x", 20), rpRedirect, strings.Repeat("v", 43)), f.webBasic()); w.Code != 400 {
			t.Fatalf("junk code: %d %s", w.Code, w.Body)
		}
	}
	verifier, challenge := pkcePair("l")
	code := f.codeFor("ann", authParams(f.web, rpRedirect, challenge))
	if w := f.token(codeForm(code, rpRedirect, verifier), f.webBasic()); w.Code != 200 {
		t.Fatalf("a real user's sign-in after a stranger's junk codes: %d %s", w.Code, w.Body)
	}
}
