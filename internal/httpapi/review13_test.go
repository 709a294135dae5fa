package httpapi_test

import (
	"context"
	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"strings"
	"testing"
)

// newOIDCWith is newOIDC with options on the server's configuration.
func newOIDCWith(t *testing.T, opts ...func(*app.Config)) *oidcFixture {
	t.Helper()
	h := newHarness(t, opts...)
	h.t = t
	ctx := context.Background()
	web, secret, err := h.app.OIDC.AddClient(ctx, oidc.ClientInput{Name: "Web App", RedirectURIs: []string{rpRedirect},
		PostLogoutRedirectURIs: []string{rpLogout}})
	if err != nil {
		t.Fatal(err)
	}
	no := false
	spa, _, err := h.app.OIDC.AddClient(ctx, oidc.ClientInput{Name: "Single Page", Public: true,
		RedirectURIs: []string{spaRedirect}, RequireConsent: &no})
	if err != nil {
		t.Fatal(err)
	}
	return &oidcFixture{harness: h, web: web, spa: spa, webSecret: secret}
}

// Review: a confidential client's backend (one address for all its users)
// could sign in only 10 users a minute: every successful /oauth/token call
// took two tokens of the per-address password bucket (20 a minute), one for
// the client secret and one for the code, and a refresh or introspection one.
func TestReview13ConfidentialClientSignsInMoreThanTenUsersAMinute(t *testing.T) {
	f := newOIDCWith(t, func(c *app.Config) {
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

// Review: a stranger locked a confidential client out of /oauth/token. The
// codes a client's backend exchanges come from whoever calls its redirect
// URI, and each exchange, junk code or not, takes tokens of the per-address
// password bucket of that backend (the one address all its users share):
// ten visits to https://rp.example/callback?code=junk (with the state of a
// flow the stranger started there) in a minute, and no user of the app can
// sign in for the rest of it; repeated, for good.
func TestReview13JunkCodesDoNotLockTheClientOut(t *testing.T) {
	f := newOIDCWith(t, func(c *app.Config) {
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
