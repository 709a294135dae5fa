package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/app/apptest"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/mail/mailtest"
)

// TestBrowserPasswordRecovery: the login page's "Forgot password?", the
// mail read from a real SMTP server, the link opened, a new password typed
// twice, then a login with it.
func TestBrowserPasswordRecovery(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	smtp := mailtest.Start(t, mailtest.Options{})
	cfg, err := mail.ParseSMTPURL(smtp.URL())
	if err != nil {
		t.Fatal(err)
	}
	sender, err := mail.NewSMTPSender(cfg, "noreply@example.com")
	if err != nil {
		t.Fatal(err)
	}
	base, gatehouse := apptest.Start(t, "localhost", func(c *app.Config) { c.Mail = sender })
	if _, err := gatehouse.Services.Accounts.CreateUser(context.Background(),
		auth.RegisterInput{Email: "grace@example.com", Password: "the first password"}, auth.RoleUser); err != nil {
		t.Fatal(err)
	}
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		apptest.Step(ctx, t, step, actions...)
	}
	run("forgot password",
		chromedp.Navigate(base+"/login"), chromedp.WaitVisible("#identifier", chromedp.ByID),
		chromedp.Click(`a[href="/forgot-password"]`, chromedp.ByQuery), chromedp.WaitVisible("#identifier", chromedp.ByID),
		screenshot(t, "forgot-password"),
		chromedp.SendKeys("#identifier", "grace@example.com", chromedp.ByID),
		chromedp.Click(`form[action="/forgot-password"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(".notice", chromedp.ByQuery), screenshot(t, "forgot-password-sent"),
	)
	m := smtp.Next(t)
	link := m.Link(base + "/reset-password?token=")
	if m.To[0] != "grace@example.com" || link == "" || !strings.Contains(m.HTML, link) {
		t.Fatalf("mail %+v", m)
	}
	run("open the link and set a password",
		chromedp.Navigate(link), chromedp.WaitVisible("#new_password", chromedp.ByID), screenshot(t, "reset-password"),
		chromedp.SendKeys("#new_password", "the second password", chromedp.ByID),
		chromedp.SendKeys("#confirm_password", "not the same one", chromedp.ByID),
		chromedp.Click(`form[action="/reset-password"] button`, chromedp.ByQuery),
		chromedp.WaitVisible("#confirm-error", chromedp.ByID), screenshot(t, "reset-password-mismatch"),
		chromedp.SendKeys("#new_password", "the second password", chromedp.ByID),
		chromedp.SendKeys("#confirm_password", "the second password", chromedp.ByID),
		chromedp.Click(`form[action="/reset-password"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(".notice", chromedp.ByQuery), screenshot(t, "login-after-reset"),
	)
	if loc := location(ctx, t); loc != base+"/login?reset=1" {
		t.Fatalf("after the reset: %s", loc)
	}
	run("log in with the new password",
		chromedp.SendKeys("#identifier", "grace@example.com", chromedp.ByID),
		chromedp.SendKeys("#password", "the second password", chromedp.ByID),
		chromedp.Click(`form[action="/login"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(".welcome", chromedp.ByQuery), screenshot(t, "dashboard-after-reset"),
	)
	if got := text(ctx, t, ".profile .badge"); got != "verified" { // the link proved the address
		t.Fatalf("verification badge %q", got)
	}
}
