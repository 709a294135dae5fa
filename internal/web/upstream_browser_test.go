package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse-auth/gatehouse/internal/app/apptest"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/upstream"
)

// In Chromium: a second Gatehouse (on 127.0.0.1, another site than the
// first's localhost) is the OpenID provider. Click "Sign in with
// Upstream", log in there, allow, and land on the first's dashboard.
func TestBrowserSignsInThroughAnotherGatehouse(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	upBase, up := apptest.Start(t, "127.0.0.1")
	downBase, down := apptest.Start(t, "localhost")
	bg := context.Background()
	if _, err := up.Services.Accounts.Register(bg, auth.RegisterInput{Email: "ivy@example.com", Name: "Ivy", Password: "upstream ivy passphrase"}); err != nil {
		t.Fatal(err)
	}
	cl, secret, err := up.Clients.Add(bg, oidc.ClientInput{Name: "Downstream Shop", RedirectURIs: []string{downBase + "/login/up/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	name := "Upstream"
	if _, err := down.Upstream.AddProvider(bg, upstream.ProviderInput{ID: "up", Name: &name, Issuer: &upBase, ClientID: &cl.ID, ClientSecret: secret}); err != nil {
		t.Fatal(err)
	}
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		apptest.Step(ctx, t, step, actions...)
	}
	run("click the provider's button",
		chromedp.Navigate(downBase+"/login"), chromedp.WaitVisible(`a[href="/login/up"]`, chromedp.ByQuery), screenshot(t, "upstream-login-button"),
		chromedp.Click(`a[href="/login/up"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#identifier", chromedp.ByID),
	)
	if loc := location(ctx, t); !strings.HasPrefix(loc, upBase+"/login?") {
		t.Fatalf("not at the provider's login page: %s", loc)
	}
	run("log in at the provider",
		chromedp.SendKeys("#identifier", "ivy@example.com", chromedp.ByID),
		chromedp.SendKeys("#password", "upstream ivy passphrase", chromedp.ByID),
		chromedp.Click(`form[action="/login"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`button[name="consent"][value="allow"]`, chromedp.ByQuery), screenshot(t, "upstream-consent"),
	)
	run("allow",
		chromedp.Click(`button[name="consent"][value="allow"]`, chromedp.ByQuery),
		chromedp.WaitVisible(".welcome", chromedp.ByQuery), screenshot(t, "upstream-dashboard"),
	)
	if loc := location(ctx, t); loc != downBase+"/dashboard" {
		t.Fatalf("landed at %s", loc)
	}
	if got := text(ctx, t, ".welcome"); !strings.Contains(got, "Ivy") {
		t.Fatalf("dashboard greets %q", got)
	}
	run("the security page lists the identity",
		chromedp.Navigate(downBase+"/security"), chromedp.WaitVisible(`form[action$="/remove"]`, chromedp.ByQuery), screenshot(t, "upstream-security"),
	)
	if got := text(ctx, t, "main"); !strings.Contains(got, "Upstream") || !strings.Contains(got, "ivy@example.com") {
		t.Fatalf("security page: %q", got)
	}

	// The account has no password: it confirms a sensitive change by
	// signing in again at the provider. The form's redirect to the
	// provider passes the page's form-action, and the provider asks for
	// the password again (prompt=login) before coming back.
	run("confirm with the provider",
		chromedp.Navigate(downBase+"/security?reauth=1"), chromedp.WaitVisible(`form[action="/security/reauthenticate/up"] button`, chromedp.ByQuery),
		screenshot(t, "upstream-reauth"),
		chromedp.Click(`form[action="/security/reauthenticate/up"] button`, chromedp.ByQuery),
		chromedp.WaitVisible("#identifier", chromedp.ByID),
	)
	if loc := location(ctx, t); !strings.HasPrefix(loc, upBase+"/login?") {
		t.Fatalf("the provider did not ask for a sign-in: %s", loc)
	}
	run("sign in again at the provider",
		chromedp.SendKeys("#identifier", "ivy@example.com", chromedp.ByID),
		chromedp.SendKeys("#password", "upstream ivy passphrase", chromedp.ByID),
		chromedp.Click(`form[action="/login"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice`, chromedp.ByQuery),
	)
	if loc := location(ctx, t); loc != downBase+"/security?done=reauth" {
		t.Fatalf("after the provider's confirmation: %s (%s)", loc, text(ctx, t, "main"))
	}
}
