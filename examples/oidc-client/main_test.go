package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse-auth/gatehouse/internal/app/apptest"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
)

var serving = regexp.MustCompile(`serving on (http://\S+)`)

// startExample runs this app against issuer on a free loopback port.
func startExample(t *testing.T, issuer, clientID, secret string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errs := &testsupport.Buffer{}, &testsupport.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--issuer", issuer, "--client-id", clientID, "--client-secret", secret, "--addr", "127.0.0.1:0"}, out, errs)
	}()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := serving.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("example exited %d: %s", code, errs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("example did not start: %s", errs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newBrowser starts headless Chromium, or skips the test when there is none.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return apptest.Browser(t, 90*time.Second)
}

// The Chromium journey: "Sign in with Gatehouse" on the example app, log in
// and consent at Gatehouse, land signed in; revoke the app on Gatehouse's
// Connected apps page; the example's next refresh fails.
func TestSignInWithGatehouseInChromium(t *testing.T) {
	ctx := newBrowser(t)
	issuer, gh := apptest.Start(t, "localhost")
	if _, err := gh.Services.Accounts.CreateUser(context.Background(), auth.RegisterInput{Email: "grace@example.com", Name: "Grace Hopper",
		Password: "compilers all the way"}, auth.RoleUser); err != nil {
		t.Fatal(err)
	}
	// A loopback redirect URI may come back on any port (RFC 8252), so the
	// client is registered before the example has one.
	c, secret, err := gh.Clients.Add(context.Background(), oidc.ClientInput{Name: "Example app",
		RedirectURIs: []string{"http://127.0.0.1/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	rp := startExample(t, issuer, c.ID, secret)
	step := func(name string, actions ...chromedp.Action) {
		t.Helper()
		apptest.Step(ctx, t, name, actions...)
	}
	var text string
	step("sign in with Gatehouse",
		chromedp.Navigate(rp+"/"), chromedp.WaitVisible("#sign-in", chromedp.ByID),
		chromedp.Click("#sign-in", chromedp.ByID),
		chromedp.WaitVisible("#identifier", chromedp.ByID),
		chromedp.SendKeys("#identifier", "grace@example.com", chromedp.ByID),
		chromedp.SendKeys("#password", "compilers all the way", chromedp.ByID),
		chromedp.Click(`form[action="/login"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`button[name="consent"][value="allow"]`, chromedp.ByQuery),
		chromedp.Text("main", &text, chromedp.ByQuery),
	)
	if !strings.Contains(text, "Example app") || !strings.Contains(text, "See your email address") {
		t.Fatalf("consent page: %q", text)
	}
	step("consent",
		chromedp.Click(`button[name="consent"][value="allow"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#signed-in", chromedp.ByID),
		chromedp.Text("#signed-in", &text, chromedp.ByID),
	)
	if !strings.Contains(text, "Grace Hopper") || !strings.Contains(text, "grace@example.com") {
		t.Fatalf("signed in as %q", text)
	}
	step("refresh works",
		chromedp.Click("#refresh", chromedp.ByID), chromedp.WaitVisible("#notice", chromedp.ByID),
		chromedp.Text("#notice", &text, chromedp.ByID),
	)
	if !strings.HasPrefix(text, "Tokens refreshed") {
		t.Fatalf("refresh: %q", text)
	}
	step("revoke the app on Connected apps",
		chromedp.Navigate(issuer+"/apps"), chromedp.WaitVisible(`form[action="/apps/`+c.ID+`/revoke"] button`, chromedp.ByQuery),
		chromedp.Click(`form[action="/apps/`+c.ID+`/revoke"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(".notice", chromedp.ByQuery),
	)
	step("the example's next refresh fails",
		chromedp.Navigate(rp+"/"), chromedp.WaitVisible("#refresh", chromedp.ByID),
		chromedp.Click("#refresh", chromedp.ByID), chromedp.WaitVisible("#sign-in", chromedp.ByID),
		chromedp.Text("#notice", &text, chromedp.ByID),
	)
	if !strings.Contains(text, "Refresh failed") {
		t.Fatalf("after revoking: %q", text)
	}
}
