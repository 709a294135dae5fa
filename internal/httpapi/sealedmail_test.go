package httpapi_test

import (
	"context"
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
)

// TestADatabaseCopyHoldsNoLiveLink queues three links (a password reset, an
// address verification, an address change) and reads a copy of the
// database, as whoever holds a backup, a dump or a replica can, while they
// are queued and once the worker has sent them: no string in it is a live
// link token. The mails the worker delivered carry working links.
func TestADatabaseCopyHoldsNoLiveLink(t *testing.T) {
	t.Parallel()
	sink := mailtest.Start(t, mailtest.Options{})
	h := newHarness(t, noRecoveryLimits, func(c *app.Config) { c.Mail = smtpSender(t, sink) })
	ctx := context.Background()
	for _, r := range []req{
		{method: "POST", path: "/password/forgot", body: `{"email":"ann@example.com"}`},
		{method: "POST", path: "/email/verify/request", as: "bob"},
		{method: "POST", path: "/me/email", as: "admin", body: `{"email":"root@example.org","password":"` + adminPassword + `"}`},
	} {
		if w := h.do(r); w.Code != 202 {
			t.Fatalf("%s %s: %d %s", r.method, r.path, w.Code, w.Body)
		}
	}
	h.app.Services.Recovery.WaitRecovery()
	if live := h.liveLinkTokens(storetest.Copy(t, h.store)); len(live) != 0 {
		t.Fatalf("a copy of the database taken while the mail is queued holds %d live link token(s): %v", len(live), live)
	}

	for {
		n, err := h.app.Mail.Deliver(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	var texts []string
	for _, m := range sink.Received() {
		texts = append(texts, m.Text, m.HTML)
	}
	mailed := h.liveLinkTokens(strings.Join(texts, "\n"))
	if len(mailed) != 3 {
		t.Fatalf("the delivered mails carry %d live link tokens, want 3 (reset, verify, change): %d mails", len(mailed), len(sink.Received()))
	}
	copied := storetest.Copy(t, h.store)
	if live := h.liveLinkTokens(copied); len(live) != 0 {
		t.Fatalf("a copy of the database taken after sending holds %d live link token(s): %v", len(live), live)
	}
	for _, tok := range mailed {
		if strings.Contains(copied, tok) {
			t.Fatalf("the database holds the mailed token %s", tok)
		}
	}

	// The delivered links work, each on its own page.
	spent := 0
	for _, m := range sink.Received() {
		for _, link := range m.Links() {
			tok := tokenOf(t, link)
			if !slices.Contains(mailed, tok) {
				continue
			}
			r := req{method: "POST", body: `{"token":"` + tok + `"}`}
			switch {
			case strings.Contains(link, "/reset-password?"):
				r.path, r.body = "/password/reset", `{"token":"`+tok+`","new_password":"ann's brand new phrase"}`
			case strings.Contains(link, "/verify-email?"):
				r.path = "/email/verify"
			case strings.Contains(link, "/confirm-email?"):
				r.path = "/email/change/confirm"
			}
			if w := h.do(r); w.Code >= 300 {
				t.Fatalf("the mailed link %s: %d %s", link, w.Code, w.Body)
			}
			spent++
		}
	}
	if spent != 3 {
		t.Fatalf("%d mailed links spent, want 3", spent)
	}
}

// smtpSender sends through the mailtest server.
func smtpSender(t *testing.T, sink *mailtest.Server) mail.Sender {
	t.Helper()
	cfg, err := mail.ParseSMTPURL(sink.URL())
	if err != nil {
		t.Fatal(err)
	}
	s, err := mail.NewSMTPSender(cfg, "Gatehouse <noreply@example.com>")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	tokenRun  = regexp.MustCompile(`[A-Za-z0-9_-]{43,}`)
	base64Run = regexp.MustCompile(`[A-Za-z0-9+/_-]{16,}={0,2}`)
)

// liveLinkTokens tries every token-looking string of text (every 43
// characters of base64url, also inside base64-decoded runs) against the
// store's link lookup and returns those that name an unspent, unexpired link.
func (h *harness) liveLinkTokens(text string) []string {
	h.t.Helper()
	texts := []string{text}
	for _, run := range base64Run.FindAllString(text, -1) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(run); err == nil {
				texts = append(texts, string(b))
			}
		}
	}
	seen := map[string]bool{}
	var live []string
	for _, s := range texts {
		for _, run := range tokenRun.FindAllString(s, -1) {
			for i := 0; i+43 <= len(run); i++ {
				tok := run[i : i+43]
				if seen[tok] {
					continue
				}
				seen[tok] = true
				hash, ok := auth.ParseLinkToken(tok)
				if !ok {
					continue
				}
				if l, err := h.store.LinkToken(context.Background(), hash); err == nil && l.UsedAt.IsZero() && h.clock.Now().Before(l.ExpiresAt) {
					live = append(live, tok)
				}
			}
		}
	}
	return live
}
