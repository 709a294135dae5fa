package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/gatehouse-auth/gatehouse/internal/app/apptest"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// TestBrowserPasskeys drives the pages' WebAuthn script in Chromium with
// the DevTools virtual authenticator (CTAP2, internal, resident keys, user
// verification): register a passkey on the security page, log out, sign
// in without a password, sign in with password + passkey, then a counter
// set back and an authenticator that does not verify the user are refused.
func TestBrowserPasskeys(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	base, gatehouse := apptest.Start(t, "localhost") // http://localhost:PORT: a secure context, RP ID localhost
	// No address: an unverified one could not enrol a passkey.
	if _, err := gatehouse.Services.Accounts.CreateUser(context.Background(), auth.RegisterInput{Username: "grace", Name: "Grace",
		Password: "cobol compiler 1959"}, auth.RoleUser); err != nil {
		t.Fatal(err)
	}
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		apptest.Step(ctx, t, step, actions...)
	}
	var authID webauthn.AuthenticatorID
	run("virtual authenticator", chromedp.ActionFunc(func(ctx context.Context) error {
		if err := webauthn.Enable().WithEnableUI(false).Do(ctx); err != nil {
			return err
		}
		var err error
		authID, err = webauthn.AddVirtualAuthenticator(&webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}).Do(ctx)
		return err
	}))
	passwordLogin := chromedp.Tasks{
		chromedp.Navigate(base + "/login"), chromedp.WaitVisible("#identifier", chromedp.ByID),
		chromedp.SendKeys("#identifier", "grace", chromedp.ByID),
		chromedp.SendKeys("#password", "cobol compiler 1959", chromedp.ByID),
		chromedp.Click(`form[action="/login"] button`, chromedp.ByQuery),
	}
	logout := chromedp.Tasks{
		chromedp.Click(`form.logout button`, chromedp.ByQuery), chromedp.WaitVisible("#identifier", chromedp.ByID),
	}
	passkeyLogin := chromedp.Tasks{
		chromedp.Navigate(base + "/login"), chromedp.WaitVisible(`form[data-passkey="login"] button`, chromedp.ByQuery),
		chromedp.Click(`form[data-passkey="login"] button`, chromedp.ByQuery),
	}

	run("log in with the password", passwordLogin, chromedp.WaitVisible(".welcome", chromedp.ByQuery))
	run("add a passkey",
		chromedp.Navigate(base+"/security"), chromedp.WaitVisible("#passkey_name", chromedp.ByID),
		chromedp.SendKeys("#passkey_name", "Laptop", chromedp.ByID),
		chromedp.Click(`form[data-passkey="register"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`.row.passkey`, chromedp.ByQuery), screenshot(t, "security-passkey"),
	)
	if got := text(ctx, t, ".notice"); !strings.Contains(got, "passkey is added") {
		t.Fatalf("notice %q", got)
	}
	var name string
	run("see it", chromedp.Value(`.row.passkey input[name="name"]`, &name, chromedp.ByQuery))
	if name != "Laptop" {
		t.Fatalf("passkey listed as %q", name)
	}

	run("log out", logout)
	run("sign in with the passkey", passkeyLogin, chromedp.WaitVisible(".welcome", chromedp.ByQuery), screenshot(t, "passkey-dashboard"))

	run("log out again", logout)
	run("password, then the passkey as second step", passwordLogin,
		chromedp.WaitVisible(`form[data-passkey="mfa"] button`, chromedp.ByQuery), screenshot(t, "login-mfa-passkey"),
		chromedp.Click(`form[data-passkey="mfa"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(".welcome", chromedp.ByQuery),
	)
	run("log out a third time", logout)

	// A clone: the credential re-added with its counter set back.
	var cred *webauthn.Credential
	run("set the counter back", chromedp.ActionFunc(func(ctx context.Context) error {
		creds, err := webauthn.GetCredentials(authID).Do(ctx)
		if err != nil || len(creds) != 1 {
			t.Fatalf("credentials %v %v", creds, err)
		}
		cred = creds[0]
		if cred.SignCount < 2 {
			t.Fatalf("the authenticator keeps no counter: %d", cred.SignCount)
		}
		if err := webauthn.RemoveCredential(authID, cred.CredentialID).Do(ctx); err != nil {
			return err
		}
		back := *cred
		back.SignCount = 0
		return webauthn.AddCredential(authID, &back).Do(ctx)
	}))
	run("the clone is refused", passkeyLogin, chromedp.WaitVisible(".error", chromedp.ByQuery), screenshot(t, "passkey-clone"))
	if got := text(ctx, t, ".error"); !strings.Contains(got, "could not be verified") || strings.Contains(location(ctx, t), "/dashboard") {
		t.Fatalf("clone: %q at %s", got, location(ctx, t))
	}
	events, _, err := gatehouse.Services.Accounts.AuditEvents(context.Background(), auth.AuditFilter{Event: auth.EventPasskeyCloned, Limit: 5})
	if err != nil || len(events) != 1 {
		t.Fatalf("clone audit %v %v", events, err)
	}

	// The genuine authenticator again, ahead of the stored counter.
	run("the genuine one works", chromedp.ActionFunc(func(ctx context.Context) error {
		if err := webauthn.RemoveCredential(authID, cred.CredentialID).Do(ctx); err != nil {
			return err
		}
		ahead := *cred
		ahead.SignCount += 10
		return webauthn.AddCredential(authID, &ahead).Do(ctx)
	}), passkeyLogin, chromedp.WaitVisible(".welcome", chromedp.ByQuery), logout)

	// No user verification: the authenticator answers with the UV flag clear.
	run("without user verification", chromedp.ActionFunc(func(ctx context.Context) error {
		return webauthn.SetResponseOverrideBits(authID).WithIsBadUV(true).Do(ctx)
	}), passkeyLogin, chromedp.WaitVisible(".error", chromedp.ByQuery))
	if got := text(ctx, t, ".error"); !strings.Contains(got, "could not be verified") {
		t.Fatalf("bad UV: %q", got)
	}
	// User verification failing on the authenticator: no sign-in either.
	run("user verification off", chromedp.ActionFunc(func(ctx context.Context) error {
		if err := webauthn.SetResponseOverrideBits(authID).Do(ctx); err != nil {
			return err
		}
		return webauthn.SetUserVerified(authID, false).Do(ctx)
	}), passkeyLogin, chromedp.WaitVisible(`[data-passkey-error]:not([hidden]), .error`, chromedp.ByQuery), screenshot(t, "passkey-no-uv"))
	if loc := location(ctx, t); strings.Contains(loc, "/dashboard") {
		t.Fatalf("signed in without user verification: %s", loc)
	}
}
