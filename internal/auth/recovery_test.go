package auth_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
)

// linkMailer renders real mails and remembers each link by recipient and kind.
type linkMailer struct {
	tpl   *mail.Templates
	mu    sync.Mutex
	links map[string]string // "kind to" → the last link
}

func (m *linkMailer) Render(kind mail.Kind, to string, d mail.Data) (mail.Message, error) {
	m.mu.Lock()
	m.links[string(kind)+" "+to] = d.Link
	m.mu.Unlock()
	return m.tpl.Render(kind, to, d)
}

func (m *linkMailer) token(t *testing.T, kind mail.Kind, to string) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	link := m.links[string(kind)+" "+to]
	u, err := url.Parse(link)
	if err != nil || link == "" {
		t.Fatalf("no %s link mailed to %s", kind, to)
	}
	return u.Query().Get("token")
}

type recEnv struct {
	*env
	mail *linkMailer
	ann  auth.User
	bob  auth.User
}

const bobPW = "bob's battery staple" // annPW: factors_test.go

// signIn logs u in (ann or bob) and returns the session's id: sensitive
// changes need a recent sign-in.
func (e *recEnv) signIn(t *testing.T, u auth.User) string {
	t.Helper()
	pw := map[string]string{e.ann.ID: annPW, e.bob.ID: bobPW}[u.ID]
	tok, err := e.svc.Sessions.Login(context.Background(), auth.LoginInput{Identifier: u.Email, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	return tok.SessionID
}

func newRecEnv(t *testing.T, cfg func(*auth.RecoveryConfig)) *recEnv {
	t.Helper()
	ctx := context.Background()
	tpl, _ := mail.NewTemplates("", "https://id.example.com")
	m := &linkMailer{tpl: tpl, links: map[string]string{}}
	rc := auth.RecoveryConfig{PublicURL: "https://id.example.com"}
	if cfg != nil {
		cfg(&rc)
	}
	a := authtest.New(t, authtest.WithConfig(func(c *auth.Config) { c.ReuseGrace, c.Recovery = 0, rc }),
		authtest.WithDeps(func(d *auth.Deps) { d.Mailer = m }))
	svc := a.Services
	e := &recEnv{env: &env{svc: svc, clock: a.Clock, store: a.Store}, mail: m}
	var err error
	if e.ann, err = svc.Accounts.Register(ctx, auth.RegisterInput{Email: "ann@example.com", Password: annPW}); err != nil {
		t.Fatal(err)
	}
	if e.bob, err = svc.Accounts.Register(ctx, auth.RegisterInput{Email: "bob@example.com", Username: "bob", Password: bobPW}); err != nil {
		t.Fatal(err)
	}
	return e
}

// resetLink asks for a reset link for ident and returns its token.
func (e *recEnv) resetLink(t *testing.T, ident, to string) string {
	t.Helper()
	if err := e.svc.Recovery.ForgotPassword(context.Background(), ident, auth.Client{IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	e.svc.Recovery.WaitRecovery()
	return e.mail.token(t, mail.ResetPassword, to)
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestLinkTokensRefusedWithOneAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reset := func(e *recEnv, tok string) error {
		return e.svc.Recovery.ResetPassword(ctx, auth.ResetPasswordInput{Token: tok, NewPassword: "a brand new passphrase"})
	}
	for _, tc := range []struct {
		name  string
		spend func(t *testing.T, e *recEnv) error
	}{
		{"wrong", func(t *testing.T, e *recEnv) error { return reset(e, randomToken()) }},
		{"malformed", func(t *testing.T, e *recEnv) error { return reset(e, "not a token") }},
		{"empty", func(t *testing.T, e *recEnv) error { return reset(e, "") }},
		{"non-canonical spelling", func(t *testing.T, e *recEnv) error {
			tok := e.resetLink(t, "ann@example.com", "ann@example.com")
			last := tok[len(tok)-1:]
			alt := map[string]string{"A": "B", "B": "A"}[last]
			if alt == "" {
				alt = "A"
			}
			return reset(e, tok[:len(tok)-1]+alt) // another string, another (unknown) token
		}},
		{"used", func(t *testing.T, e *recEnv) error {
			tok := e.resetLink(t, "ann@example.com", "ann@example.com")
			if err := reset(e, tok); err != nil {
				t.Fatal(err)
			}
			return reset(e, tok)
		}},
		{"expired", func(t *testing.T, e *recEnv) error {
			tok := e.resetLink(t, "ann@example.com", "ann@example.com")
			e.clock.Advance(auth.DefaultResetTTL)
			return reset(e, tok)
		}},
		{"other purpose", func(t *testing.T, e *recEnv) error {
			return reset(e, e.mail.token(t, mail.VerifyEmail, "ann@example.com")) // the sign-up's verification link
		}},
		{"other user", func(t *testing.T, e *recEnv) error {
			_, err := e.svc.Recovery.VerifyEmail(ctx, auth.LinkInput{Token: e.mail.token(t, mail.VerifyEmail, "bob@example.com"), CallerID: e.ann.ID})
			return err
		}},
		{"voided by a newer link", func(t *testing.T, e *recEnv) error {
			first := e.resetLink(t, "ann@example.com", "ann@example.com")
			if second := e.resetLink(t, "ANN@example.com", "ann@example.com"); second == first {
				t.Fatal("the same token twice")
			}
			return reset(e, first)
		}},
		{"voided by a password change", func(t *testing.T, e *recEnv) error {
			tok := e.resetLink(t, "ann@example.com", "ann@example.com")
			login, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: annPW})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Sessions.ChangePassword(ctx, auth.ChangePasswordInput{UserID: e.ann.ID, SessionID: login.SessionID,
				Current: annPW, New: "changed it myself"}); err != nil {
				t.Fatal(err)
			}
			return reset(e, tok)
		}},
		{"verification link voided by an email change", func(t *testing.T, e *recEnv) error {
			verify := e.mail.token(t, mail.VerifyEmail, "ann@example.com")
			if err := e.svc.Recovery.RequestEmailChange(ctx, auth.ChangeEmailInput{UserID: e.ann.ID, SessionID: e.signIn(t, e.ann), Email: "ann@new.example", Password: annPW}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Recovery.ConfirmEmailChange(ctx, auth.LinkInput{Token: e.mail.token(t, mail.EmailChangeConfirm, "ann@new.example")}); err != nil {
				t.Fatal(err)
			}
			_, err := e.svc.Recovery.VerifyEmail(ctx, auth.LinkInput{Token: verify})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRecEnv(t, nil)
			before, _, _ := e.svc.Accounts.AuditEvents(ctx, auth.AuditFilter{Event: auth.EventLinkRefused, Limit: 100})
			err := tc.spend(t, e)
			wantCode(t, err, auth.CodeInvalidCode)
			if auth.ErrorMessage(err) != "The link is not valid: it is wrong, used, replaced by a newer one, or expired." {
				t.Fatalf("message %q", auth.ErrorMessage(err))
			}
			after, _, _ := e.svc.Accounts.AuditEvents(ctx, auth.AuditFilter{Event: auth.EventLinkRefused, Limit: 100})
			if len(after) != len(before)+1 {
				t.Fatalf("%d refused-link events, want %d", len(after), len(before)+1)
			}
		})
	}
}

func TestResetPasswordEndsSessionsAndDoesNotLogIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRecEnv(t, nil)
	login, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: annPW})
	if err != nil {
		t.Fatal(err)
	}
	tok := e.resetLink(t, "ann@example.com", "ann@example.com")
	// A weak password is refused and spends nothing.
	err = e.svc.Recovery.ResetPassword(ctx, auth.ResetPasswordInput{Token: tok, NewPassword: "password"})
	wantCode(t, err, auth.CodeWeakPassword)
	if err := e.svc.Recovery.ResetPassword(ctx, auth.ResetPasswordInput{Token: tok, NewPassword: "a brand new passphrase"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Sessions.Refresh(ctx, login.RefreshToken); auth.ErrorCode(err) != auth.CodeInvalidGrant {
		t.Fatalf("the old session lives on: %v", err)
	}
	if _, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: annPW}); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("old password: %v", err)
	}
	u, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: "a brand new passphrase"})
	if err != nil || !u.User.EmailVerified {
		t.Fatalf("new password: %+v %v (the reset link proves the address)", u, err)
	}
}

func TestForgotPasswordAnswersTheSameForEveryAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRecEnv(t, nil)
	if _, err := e.svc.Accounts.Register(ctx, auth.RegisterInput{Username: "noaddress", Password: "a long enough password"}); err != nil {
		t.Fatal(err)
	}
	for _, ident := range []string{"ann@example.com", "nobody@example.com", "noaddress", "bob"} {
		if err := e.svc.Recovery.ForgotPassword(ctx, ident, auth.Client{}); err != nil {
			t.Fatalf("%s: %v", ident, err)
		}
	}
	e.svc.Recovery.WaitRecovery()
	e.mail.token(t, mail.ResetPassword, "ann@example.com")
	e.mail.token(t, mail.ResetPassword, "bob@example.com") // by username
	wantCode(t, e.svc.Recovery.ForgotPassword(ctx, "  ", auth.Client{}), auth.CodeInvalidRequest)
}

func TestEmailChangeKeepsTheOldAddressUntilConfirmed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRecEnv(t, nil)
	err := e.svc.Recovery.RequestEmailChange(ctx, auth.ChangeEmailInput{UserID: e.ann.ID, SessionID: e.signIn(t, e.ann), Email: "ann@new.example", Password: "wrong password"})
	wantCode(t, err, auth.CodeInvalidCredentials)
	if err := e.svc.Recovery.RequestEmailChange(ctx, auth.ChangeEmailInput{UserID: e.ann.ID, SessionID: e.signIn(t, e.ann), Email: "ann@new.example", Password: annPW}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: annPW}); err != nil {
		t.Fatalf("the old address stopped working before the confirmation: %v", err)
	}
	tok := e.mail.token(t, mail.EmailChangeConfirm, "ann@new.example")
	u, err := e.svc.Recovery.ConfirmEmailChange(ctx, auth.LinkInput{Token: tok})
	if err != nil || u.Email != "ann@new.example" || !u.EmailVerified {
		t.Fatalf("confirm: %+v %v", u, err)
	}
	if _, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@new.example", Password: annPW}); err != nil {
		t.Fatal(err)
	}
	// Bob asks for Ann's new address; by the time he confirms, it is taken.
	if err := e.svc.Recovery.RequestEmailChange(ctx, auth.ChangeEmailInput{UserID: e.bob.ID, SessionID: e.signIn(t, e.bob), Email: "ann@new.example", Password: bobPW}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Recovery.ConfirmEmailChange(ctx, auth.LinkInput{Token: e.mail.token(t, mail.EmailChangeConfirm, "ann@new.example")})
	wantCode(t, err, auth.CodeAlreadyExists)
}

func TestRequireVerifiedEmail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRecEnv(t, func(c *auth.RecoveryConfig) { c.RequireVerifiedEmail = true })
	_, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: annPW})
	wantCode(t, err, auth.CodeEmailNotVerified)
	// A wrong password still says only that.
	_, err = e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: "wrong password"})
	wantCode(t, err, auth.CodeInvalidCredentials)
	if err := e.svc.Recovery.ResendVerification(ctx, "ann@example.com", auth.Client{}); err != nil {
		t.Fatal(err)
	}
	e.svc.Recovery.WaitRecovery()
	u, err := e.svc.Recovery.VerifyEmail(ctx, auth.LinkInput{Token: e.mail.token(t, mail.VerifyEmail, "ann@example.com")})
	if err != nil || !u.EmailVerified {
		t.Fatalf("verify: %+v %v", u, err)
	}
	tokens, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: annPW})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tokens.AccessToken, ".")[1])
	if !strings.Contains(string(payload), `"email_verified":true`) {
		t.Fatalf("access token claims %s", payload)
	}
}

func TestAdminPasswordResetPrints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRecEnv(t, nil)
	link, err := e.svc.Recovery.AdminPasswordReset(ctx, "cli", e.ann.ID, true)
	if err != nil || !strings.HasPrefix(link, "https://id.example.com/reset-password?token=") {
		t.Fatalf("printed %q, %v", link, err)
	}
	u, _ := url.Parse(link)
	if err := e.svc.Recovery.ResetPassword(ctx, auth.ResetPasswordInput{Token: u.Query().Get("token"), NewPassword: "set by the admin's link"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Recovery.AdminPasswordReset(ctx, "cli", "no-such-user", false)
	wantCode(t, err, auth.CodeNotFound)
}

// FuzzParseLinkToken: a token is accepted only in its one spelling (43
// base64url characters, 32 bytes), and then maps to the hash of exactly
// that string; nothing panics.
func FuzzParseLinkToken(f *testing.F) {
	f.Add(randomToken())
	f.Add("")
	f.Add(strings.Repeat("A", 43))
	f.Add(strings.Repeat("_", 43))
	f.Add(strings.Repeat("A", 42) + "B") // non-canonical last character
	f.Add(strings.Repeat("A", 44))
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Add("%41" + strings.Repeat("A", 40))
	f.Fuzz(func(t *testing.T, s string) {
		hash, ok := auth.ParseLinkToken(s)
		if !ok {
			if hash != "" {
				t.Fatalf("refused %q with a hash", s)
			}
			return
		}
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) != 32 || base64.RawURLEncoding.EncodeToString(b) != s {
			t.Fatalf("accepted %q, which is not a token's one spelling", s)
		}
		if again, _ := auth.ParseLinkToken(s); again != hash || len(hash) != 64 {
			t.Fatalf("hash %q of %q is not stable", hash, s)
		}
	})
}

// Changing the address needs a recent sign-in (--reauth-max-age), like the
// other changes that could take an account over.
func TestEmailChangeNeedsARecentSignIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRecEnv(t, nil)
	sid := e.signIn(t, e.ann)
	e.clock.Advance(11 * time.Minute)
	err := e.svc.Recovery.RequestEmailChange(ctx, auth.ChangeEmailInput{UserID: e.ann.ID, SessionID: sid, Email: "ann@new.example", Password: annPW})
	wantCode(t, err, auth.CodeReauthenticationRequired)
	if err := e.svc.Recovery.RequestEmailChange(ctx, auth.ChangeEmailInput{UserID: e.ann.ID, SessionID: e.signIn(t, e.ann),
		Email: "ann@new.example", Password: annPW}); err != nil {
		t.Fatalf("a fresh sign-in: %v", err)
	}
}

// lookupSpy counts the reads that tell whether an account exists.
type lookupSpy struct {
	auth.Store
	lookups atomic.Int32
}

func (s *lookupSpy) UserCredentials(ctx context.Context, ident string) (auth.User, string, error) {
	s.lookups.Add(1)
	return s.Store.UserCredentials(ctx, ident)
}

func (s *lookupSpy) User(ctx context.Context, id string) (auth.User, error) {
	s.lookups.Add(1)
	return s.Store.User(ctx, id)
}

// A forgot-password answer cannot take longer for one account than for
// another: it is given before anything about the account is read. The
// request for a known account, an unknown one and one without an address
// each store one row and answer, with no account read at all; the lookups
// and the one mail come after, in the background (here: the sweep, the
// background delay set to an hour).
func TestForgotPasswordAnswersBeforeReadingTheAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tpl, _ := mail.NewTemplates("", "https://id.example.com")
	m := &linkMailer{tpl: tpl, links: map[string]string{}}
	var spy *lookupSpy
	a := authtest.New(t, authtest.WithConfig(func(c *auth.Config) {
		c.Recovery = auth.RecoveryConfig{PublicURL: "https://id.example.com", Delay: time.Hour}
	}), authtest.WithDeps(func(d *auth.Deps) {
		d.Mailer = m
		spy = &lookupSpy{Store: d.Store}
		d.Store = spy
	}))
	if _, err := a.Accounts.Register(ctx, auth.RegisterInput{Email: "ann@example.com", Password: annPW}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Accounts.Register(ctx, auth.RegisterInput{Username: "noaddress", Password: bobPW}); err != nil {
		t.Fatal(err)
	}
	spy.lookups.Store(0)
	for _, ident := range []string{"ann@example.com", "nobody@example.com", "noaddress"} {
		if err := a.Recovery.ForgotPassword(ctx, ident, auth.Client{IP: "192.0.2.1"}); err != nil {
			t.Fatalf("%s: %v", ident, err)
		}
		if n := spy.lookups.Load(); n != 0 {
			t.Fatalf("answering for %s read an account %d times", ident, n)
		}
	}
	a.Clock.Advance(3 * time.Hour) // the background jobs' time, for the sweep
	if err := a.Recovery.SweepLinkRequests(ctx); err != nil {
		t.Fatal(err)
	}
	if n := spy.lookups.Load(); n < 3 {
		t.Fatalf("%d account reads after the sweep, want one per request", n)
	}
	m.token(t, mail.ResetPassword, "ann@example.com") // the known account's link, mailed in the background
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.links {
		if strings.HasPrefix(k, string(mail.ResetPassword)) && k != string(mail.ResetPassword)+" ann@example.com" {
			t.Fatalf("a reset link mailed as %q, want ann's only", k)
		}
	}
}
