package httpapi_test

import (
	"context"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Regression: max_age=0 (OpenID Connect Core: "equivalent to prompt=login")
// sent the user back to the login page after every fresh login, for ever:
// the return from the login page was measured against max_age again, and
// any time at all since the login is more than 0 s. The same for a small
// max_age and a slow round trip.
func TestMaxAgeZeroAfterFreshLogin(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	_, challenge := pkcePair("z")
	q := authParams(f.spa, spaRedirect, challenge)
	q.Set("max_age", "0")
	f.clock.Advance(time.Minute) // ann logged in a minute ago
	w := f.authorize("ann", q)
	loc, _ := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusFound || loc.Path != "/login" {
		t.Fatalf("max_age=0 with an old session: want the login page, got %d %q", w.Code, w.Header().Get("Location"))
	}
	next := loc.Query().Get("next")
	// The user logs in on the login page, which sends the browser back to next.
	f.clock.Advance(2 * time.Second)
	fresh, err := f.app.Services.Sessions.Login(context.Background(), auth.LoginInput{Identifier: "ann", Password: annPassword})
	if err != nil {
		t.Fatal(err)
	}
	f.tokens["ann"] = fresh
	f.clock.Advance(150 * time.Millisecond) // the redirect's round trip
	w = f.do(req{method: "GET", path: next, as: "ann", carrier: "cookie"})
	if got := w.Header().Get("Location"); w.Code != http.StatusFound || !strings.HasPrefix(got, spaRedirect) || !strings.Contains(got, "code=") {
		t.Fatalf("after a fresh login, max_age=0 sent the browser to %d %q (a login loop)", w.Code, got)
	}
}
