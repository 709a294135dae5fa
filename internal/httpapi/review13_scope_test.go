package httpapi_test

import (
	"net/url"
	"testing"
	"time"
)

// Review: a refresh asking for a wider scope than granted was refused
// (invalid_scope) only after the refresh token had been rotated: the client
// kept its old token, and presenting it after the grace window counted as
// reuse and ended the whole session.
func TestReview13RefreshWiderScopeSpendsNothing(t *testing.T) {
	f := newOIDC(t)
	verifier, challenge := pkcePair("s")
	q := authParams(f.web, rpRedirect, challenge)
	q.Set("scope", "openid offline_access")
	tok := f.exchange(f.codeFor("ann", q), verifier)
	rt := tok["refresh_token"].(string)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"openid email offline_access"}}
	if w := f.token(form, f.webBasic()); w.Code != 400 || oauthError(w) != "invalid_scope" {
		t.Fatalf("wider scope: %d %s", w.Code, w.Body)
	}
	f.clock.Advance(time.Minute) // past the reuse grace
	form.Del("scope")
	if w := f.token(form, f.webBasic()); w.Code != 200 {
		t.Fatalf("the refresh token after a refused wider scope: %d %s", w.Code, w.Body)
	}
}
