package httpapi_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
)

// Code exchanges beyond --max-sessions-per-user end the client's least
// recently used sessions of the user, never the browser session that
// authorized them; and a first-party login, counting first-party sessions
// only, leaves the browser session and its clients' sessions alone.
func TestClientSessionsAreCappedPerClientAndSpareTheBrowserSession(t *testing.T) {
	t.Parallel()
	f := newOIDC(t, func(c *app.Config) { c.MaxSessionsPerUser = 3 })
	browser := f.tokens["ann"]
	var access []string
	for range 5 {
		f.clock.Advance(time.Second)
		verifier, challenge := pkcePair("s")
		code := f.codeFor("ann", authParams(f.spa, spaRedirect, challenge))
		w := f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spaRedirect},
			"code_verifier": {verifier}, "client_id": {f.spa.ID}}, "")
		if w.Code != 200 {
			t.Fatalf("token: %d %s", w.Code, w.Body)
		}
		access = append(access, decode(t, w)["access_token"].(string))
	}
	userinfo := func(token string) int {
		return f.do(req{method: "GET", path: "/userinfo", headers: bearer(token)}).Code
	}
	check := func(when string) {
		t.Helper()
		if w := f.do(req{method: "GET", path: "/me", headers: bearer(browser.AccessToken)}); w.Code != 200 {
			t.Fatalf("%s: the browser session ended: %d %s", when, w.Code, w.Body)
		}
		for i, a := range access {
			if want := map[bool]int{true: 401, false: 200}[i < 2]; userinfo(a) != want {
				t.Errorf("%s: client session %d of 5 under a cap of 3: userinfo %d, want %d", when, i+1, userinfo(a), want)
			}
		}
	}
	check("after five code exchanges")
	loginTokens(t, f.harness)
	check("after a first-party login")
}
