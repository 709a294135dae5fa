package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
)

// freshSignInAsks are the two ways an authorization request asks for a
// sign-in fresher than the browser's (after a minute-old one).
var freshSignInAsks = map[string]func(url.Values){
	"prompt=login": func(q url.Values) { q.Set("prompt", "login") },
	"max_age=1":    func(q url.Values) { q.Set("max_age", "1") },
}

// loginNext checks that w sends the browser to the login page and returns
// where the login page sends it back to.
func loginNext(t *testing.T, w *httptest.ResponseRecorder) *url.URL {
	t.Helper()
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil || w.Code != http.StatusFound || loc.Path != "/login" {
		t.Fatalf("want a redirect to the login page, got %d %q", w.Code, w.Header().Get("Location"))
	}
	next, err := url.Parse(loc.Query().Get("next"))
	if err != nil || next.Path != "/authorize" {
		t.Fatalf("the login page's next is %q", loc.Query().Get("next"))
	}
	return next
}

// signInAgain is a fresh password sign-in of user as, a second from now,
// whose session the browser then presents.
func (f *oidcFixture) signInAgain(t *testing.T, as, password string) *auth.Tokens {
	t.Helper()
	f.clock.Advance(time.Second)
	fresh, err := f.app.Services.Sessions.Login(context.Background(), auth.LoginInput{Identifier: as, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	f.tokens[as] = fresh
	return fresh
}

func withParam(q url.Values, k, v string) url.Values {
	out := url.Values{}
	for key, vs := range q {
		out[key] = append([]string(nil), vs...)
	}
	out.Set(k, v)
	return out
}

// A request asking for a fresh sign-in cannot say that one was already
// asked for: whatever login_after it carries, the browser's old sign-in
// goes to the login page, not back with a code.
func TestFreshSignInCannotBeClaimedByTheRequest(t *testing.T) {
	t.Parallel()
	for name, ask := range freshSignInAsks {
		t.Run(name, func(t *testing.T) {
			f := newOIDC(t)
			f.clock.Advance(time.Minute)
			_, challenge := pkcePair("f")
			q := authParams(f.spa, spaRedirect, challenge)
			ask(q)
			issued := loginNext(t, f.authorize("ann", q)).Query().Get("login_after")
			signedIn := f.tokens["ann"].Session.AuthTime
			for claim, v := range map[string]string{
				"the epoch":                    "1",
				"the old sign-in's time":       strconv.FormatInt(signedIn.UnixMilli(), 10),
				"now":                          strconv.FormatInt(f.clock.Now().UnixMilli(), 10),
				"garbage":                      "not-a-value",
				"the server's, with no log-in": issued,
			} {
				if w := f.authorize("ann", withParam(q, "login_after", v)); w.Code != http.StatusFound ||
					!strings.HasPrefix(w.Header().Get("Location"), "/login?") {
					t.Errorf("login_after=%s (%s): want the login page, got %d %q", v, claim, w.Code, w.Header().Get("Location"))
				}
			}
		})
	}
}

// The server's own note that a fresh sign-in was asked for holds for the
// user, client and state it was made for, and for a while only.
func TestFreshSignInNoteIsBoundToItsRequest(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	f.clock.Advance(time.Minute)
	_, challenge := pkcePair("b")
	q := authParams(f.spa, spaRedirect, challenge)
	q.Set("prompt", "login")
	note := func(as string, q url.Values) string {
		t.Helper()
		return loginNext(t, f.authorize(as, q)).Query().Get("login_after")
	}
	webQ := authParams(f.web, rpRedirect, challenge)
	webQ.Set("prompt", "login")
	notes := map[string]string{
		"another user's":   note("bob", q),
		"another state's":  note("ann", withParam(q, "state", "other-state")),
		"another client's": note("ann", webQ),
	}
	own := note("ann", q)
	f.signInAgain(t, "ann", annPassword)
	for whose, v := range notes {
		if w := f.authorize("ann", withParam(q, "login_after", v)); !strings.HasPrefix(w.Header().Get("Location"), "/login?") {
			t.Errorf("%s note: want the login page, got %d %q", whose, w.Code, w.Header().Get("Location"))
		}
	}
	if got := redirectQuery(t, f.authorize("ann", withParam(q, "login_after", own)), spaRedirect); got.Get("code") == "" {
		t.Fatalf("ann's own note after her new sign-in: %v", got)
	}

	// A note older than its lifetime no longer counts, even after a sign-in
	// (whose session lives on, refreshed).
	late := note("ann", q)
	fresh := f.signInAgain(t, "ann", annPassword)
	f.clock.Advance(oidc.FreshLoginTTL + time.Second)
	refreshed, err := f.app.Services.Sessions.Refresh(context.Background(), fresh.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	f.tokens["ann"] = refreshed
	loginNext(t, f.authorize("ann", withParam(q, "login_after", late)))
}

// The legitimate way through: asked for a fresh sign-in, the user signs in
// again on the login page and comes back to a code whose ID token carries
// the new sign-in's auth_time.
func TestFreshSignInThenCodeCarriesTheNewAuthTime(t *testing.T) {
	t.Parallel()
	for name, ask := range freshSignInAsks {
		t.Run(name, func(t *testing.T) {
			f := newOIDC(t)
			f.clock.Advance(time.Minute)
			verifier, challenge := pkcePair("n")
			q := authParams(f.spa, spaRedirect, challenge)
			ask(q)
			next := loginNext(t, f.authorize("ann", q))
			fresh := f.signInAgain(t, "ann", annPassword)
			f.clock.Advance(1500 * time.Millisecond) // the way back takes longer than max_age
			w := f.do(req{method: "GET", path: next.RequestURI(), as: "ann", carrier: "cookie"})
			code := redirectQuery(t, w, spaRedirect).Get("code")
			if code == "" {
				t.Fatalf("after the new sign-in: %q", w.Header().Get("Location"))
			}
			tw := f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spaRedirect},
				"code_verifier": {verifier}, "client_id": {f.spa.ID}}, "")
			if tw.Code != 200 {
				t.Fatalf("token: %d %s", tw.Code, tw.Body)
			}
			idc := f.idClaims(t, decode(t, tw)["id_token"].(string), "EdDSA")
			if got := int64(idc["auth_time"].(float64)); got != fresh.Session.AuthTime.Unix() {
				t.Fatalf("auth_time %d, want the new sign-in's %d", got, fresh.Session.AuthTime.Unix())
			}
		})
	}
}
