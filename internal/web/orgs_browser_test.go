package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/app/apptest"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
)

// TestBrowserInvitationJourney: an owner invites an address from the
// Organizations page; the mail, read from a real SMTP server, leads a
// newcomer to sign up with that address, verify it, accept, act in the
// organization and see its books.
func TestBrowserInvitationJourney(t *testing.T) {
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
	bg := context.Background()
	owner, err := gatehouse.Services.Accounts.CreateUser(bg, auth.RegisterInput{Email: "owner@example.com", Name: "Owner",
		Password: "the owner's passphrase"}, auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	shop, err := gatehouse.Orgs.AdminCreate(bg, owner.ID, orgs.CreateInput{Name: "Corner Shop", Slug: "corner"})
	if err != nil {
		t.Fatal(err)
	}
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		apptest.Step(ctx, t, step, actions...)
	}
	run("the owner invites",
		chromedp.Navigate(base+"/login"), chromedp.WaitVisible("#identifier", chromedp.ByID),
		chromedp.SendKeys("#identifier", "owner@example.com", chromedp.ByID),
		chromedp.SendKeys("#password", "the owner's passphrase", chromedp.ByID),
		chromedp.Click(`form[action="/login"] button`, chromedp.ByQuery), chromedp.WaitVisible(".welcome", chromedp.ByQuery),
		chromedp.Click(`a[href="/organizations"]`, chromedp.ByQuery), chromedp.WaitVisible(`a[href="/organizations/`+shop.ID+`"]`, chromedp.ByQuery),
		screenshot(t, "organizations"),
		chromedp.Click(`a[href="/organizations/`+shop.ID+`"]`, chromedp.ByQuery), chromedp.WaitVisible("li.member", chromedp.ByQuery),
		screenshot(t, "organization"),
		chromedp.Click(`form[action="/organizations/`+shop.ID+`/enter"] button`, chromedp.ByQuery), chromedp.WaitVisible("#title", chromedp.ByID),
		chromedp.SendKeys("#title", "The shared catalogue", chromedp.ByID),
		chromedp.Click(`form[action="/books"] button`, chromedp.ByQuery), chromedp.WaitVisible(`li.book`, chromedp.ByQuery),
		chromedp.Navigate(base+"/organizations/"+shop.ID), chromedp.WaitVisible("li.member", chromedp.ByQuery),
		chromedp.Click(`a[href="/organizations/`+shop.ID+`/invitations"]`, chromedp.ByQuery), chromedp.WaitVisible("#email", chromedp.ByID),
		chromedp.SendKeys("#email", "newcomer@example.com", chromedp.ByID),
		chromedp.Click(`form[action$="/invitations"] button`, chromedp.ByQuery), chromedp.WaitVisible("li.invitation", chromedp.ByQuery),
		screenshot(t, "invitations"),
		chromedp.Click(`form.logout button`, chromedp.ByQuery), chromedp.WaitVisible("#identifier", chromedp.ByID),
	)
	invitation := smtp.Next(t)
	link := invitation.Link(base + "/invitations/accept?token=")
	if invitation.To[0] != "newcomer@example.com" || link == "" || !strings.Contains(invitation.Text, "Corner Shop") {
		t.Fatalf("invitation mail %+v", invitation)
	}
	run("the newcomer signs up from the invitation",
		chromedp.Navigate(link), chromedp.WaitVisible(`a[href^="/signup"]`, chromedp.ByQuery), screenshot(t, "invitation"),
		chromedp.Click(`a[href^="/signup"]`, chromedp.ByQuery), chromedp.WaitVisible("#password", chromedp.ByID),
		chromedp.SendKeys("#password", "a newcomer's passphrase", chromedp.ByID),
		chromedp.Click(`form[action="/signup"] button`, chromedp.ByQuery), chromedp.WaitVisible(".notice", chromedp.ByQuery),
	)
	verification := smtp.Next(t)
	verify := verification.Link(base + "/verify-email?token=")
	if verification.To[0] != "newcomer@example.com" || verify == "" {
		t.Fatalf("verification mail %+v", verification)
	}
	run("verify the address",
		chromedp.Navigate(verify), chromedp.WaitVisible(`form[action="/verify-email"] button`, chromedp.ByQuery),
		chromedp.Click(`form[action="/verify-email"] button`, chromedp.ByQuery), chromedp.WaitVisible(".notice", chromedp.ByQuery),
	)
	run("accept, signed in with the invited address",
		chromedp.Navigate(link), chromedp.WaitVisible(`a[href^="/login"]`, chromedp.ByQuery),
		chromedp.Click(`main a[href^="/login"]`, chromedp.ByQuery), chromedp.WaitVisible("#identifier", chromedp.ByID),
		chromedp.SendKeys("#identifier", "newcomer@example.com", chromedp.ByID),
		chromedp.SendKeys("#password", "a newcomer's passphrase", chromedp.ByID),
		chromedp.Click(`form[action="/login"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`form[action="/invitations/accept"] button`, chromedp.ByQuery), screenshot(t, "invitation-signed-in"),
		chromedp.Click(`form[action="/invitations/accept"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`form[action="/organizations/`+shop.ID+`/enter"] button`, chromedp.ByQuery), screenshot(t, "joined"),
	)
	run("act in the organization and see its books",
		chromedp.Click(`form[action="/organizations/`+shop.ID+`/enter"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`li.book`, chromedp.ByQuery), screenshot(t, "shared-books"),
	)
	var title string
	run("read the shared book", chromedp.Value(`li.book input[name="title"]`, &title, chromedp.ByQuery))
	if title != "The shared catalogue" {
		t.Fatalf("the books page lists %q", title)
	}
	// The member's token now carries the organization's claims.
	var cookies []*network.Cookie
	run("read cookies", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().WithURLs([]string{base + "/"}).Do(ctx)
		return err
	}))
	for _, c := range cookies {
		if c.Name == "__Host-access" {
			claims, err := gatehouse.Guard.Verify(c.Value)
			if err != nil || claims.OrgID != shop.ID || claims.OrgRole != orgs.Member {
				t.Fatalf("the member's claims %+v %v", claims, err)
			}
			return
		}
	}
	t.Fatal("no access cookie")
}
