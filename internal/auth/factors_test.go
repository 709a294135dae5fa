package auth_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// testSealer is AES-256-GCM under a random key: what internal/seal does
// with the master key, for the tests of this package.
type testSealer struct{ aead cipher.AEAD }

func newTestSealer(t testing.TB) *testSealer {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return &testSealer{aead}
}

func (s *testSealer) Seal(plain, aad []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plain, aad), nil
}

func (s *testSealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < s.aead.NonceSize() {
		return nil, errors.New("short")
	}
	return s.aead.Open(nil, sealed[:s.aead.NonceSize()], sealed[s.aead.NonceSize():], aad)
}

const annPW = "correct horse battery"

type mfaEnv struct {
	*env
	deps   auth.Deps
	cfg    auth.Config
	user   auth.User
	sealer *testSealer
	mailed int
	mu     sync.Mutex
}

// newMFAEnv is the services with a sealer, mail templates, and lockout when
// given, and ann registered.
func newMFAEnv(t *testing.T, lockout *ratelimit.LockoutPolicy) *mfaEnv {
	t.Helper()
	ctx := context.Background()
	clk := authtest.NewClock(time.Unix(1_700_000_000, 0).UTC()) // a step boundary
	tpl, err := mail.NewTemplates("", "https://id.example.com")
	if err != nil {
		t.Fatal(err)
	}
	e := &mfaEnv{sealer: newTestSealer(t)}
	a := authtest.New(t, authtest.WithClock(clk), authtest.WithDeps(func(d *auth.Deps) {
		d.Sealer, d.Mailer = e.sealer, tpl
		d.MailQueued = func() { e.mu.Lock(); e.mailed++; e.mu.Unlock() }
		if lockout != nil {
			d.Lockout = ratelimit.NewMemoryLockout(*lockout, clk.Now)
		}
	}))
	e.cfg, e.deps = a.Config, a.Deps
	svc := a.Services
	e.env = envOf(t, a)
	if e.user, err = svc.Accounts.Register(ctx, auth.RegisterInput{Email: "ann@example.com", Name: "Ann", Password: annPW}); err != nil {
		t.Fatal(err)
	}
	e.user = e.verify(t, e.user) // second factors need a verified address
	return e
}

// verify has u's owner spend a verification link of u's address (planted
// as its mail would carry it) and returns u verified.
func (e *mfaEnv) verify(t *testing.T, u auth.User) auth.User {
	t.Helper()
	ctx, raw, now := context.Background(), randomToken(), e.clock.Now()
	if err := e.store.IssueLink(ctx, auth.LinkToken{Hash: auth.HashTokenForTest(raw), UserID: u.ID, Purpose: auth.PurposeVerifyEmail,
		Email: u.Email, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, nil, auth.LinkRequest{}); err != nil {
		t.Fatal(err)
	}
	u, err := e.svc.Recovery.VerifyEmail(ctx, auth.LinkInput{Token: raw})
	if err != nil || !u.EmailVerified {
		t.Fatalf("verify %s: %+v %v", u.Email, u, err)
	}
	return u
}

// rebuild is the same services over another Store (a wrapper with hooks).
func (e *mfaEnv) rebuild(t *testing.T, st auth.Store) *auth.Services {
	t.Helper()
	d := e.deps
	d.Store = st
	return auth.New(e.cfg, d)
}

// passwordLogin logs ann in with her password alone (before TOTP).
func (e *mfaEnv) passwordLogin(t *testing.T) *auth.Tokens {
	t.Helper()
	tok, err := e.svc.Sessions.Login(context.Background(), auth.LoginInput{Identifier: "ann@example.com", Password: annPW})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// enrol sets up TOTP for ann and returns its secret and recovery codes.
func (e *mfaEnv) enrol(t *testing.T) (string, []string) {
	t.Helper()
	ctx := context.Background()
	tok := e.passwordLogin(t)
	en, err := e.svc.Factors.EnrolTOTP(ctx, e.user.ID, tok.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := e.svc.Factors.ConfirmTOTP(ctx, e.user.ID, tok.SessionID, e.code(t, en.Secret, 0), auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(mfa.Period) // the confirming step is spent
	return en.Secret, codes
}

// code is the secret's code for the step off steps from the clock's.
func (e *mfaEnv) code(t testing.TB, secret string, off int64) string {
	t.Helper()
	c, err := mfa.CodeAt(secret, mfa.Step(e.clock.Now())+off)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// challenge runs a login's first step and returns its mfa_token.
func (e *mfaEnv) challenge(t testing.TB) string {
	t.Helper()
	_, err := e.svc.Sessions.Login(context.Background(), auth.LoginInput{Identifier: "ann@example.com", Password: annPW})
	var mr *auth.MFARequired
	if !errors.As(err, &mr) || auth.ErrorCode(err) != auth.CodeMFARequired {
		t.Fatalf("login: %v, want mfa_required", err)
	}
	if !slices.Equal(mr.Methods, []string{"totp", "recovery_code"}) || len(mr.Token) < 40 {
		t.Fatalf("mfa_required %+v", mr)
	}
	return mr.Token
}

func (e *mfaEnv) claims(t *testing.T, tok *auth.Tokens) *guard.Claims {
	t.Helper()
	c, err := e.guard.Verify(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTOTPEnrolConfirmAndTwoStepLogin(t *testing.T) {
	t.Parallel()
	e := newMFAEnv(t, nil)
	ctx := context.Background()
	tok := e.passwordLogin(t)
	if c := e.claims(t, tok); !slices.Equal(c.AMR, []string{"pwd"}) || c.AuthTime == nil || !c.AuthTime.Time.Equal(e.clock.Now()) {
		t.Fatalf("password login claims amr %v auth_time %v", c.AMR, c.AuthTime)
	}
	en, err := e.svc.Factors.EnrolTOTP(ctx, e.user.ID, tok.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(en.URI, "otpauth://totp/Gatehouse:ann@example.com?") || !strings.HasPrefix(en.QRSVG, "<svg") {
		t.Fatalf("enrolment %+v", en)
	}
	// The secret is sealed at rest, bound to the user.
	f, err := e.store.TOTP(ctx, e.user.ID)
	if err != nil || strings.Contains(string(f.Sealed), en.Secret) || !f.ConfirmedAt.IsZero() {
		t.Fatalf("stored %+v %v", f, err)
	}
	if _, err := e.sealer.Open(f.Sealed, []byte("totp:someone-else")); err == nil {
		t.Fatal("the sealed secret opens under another user's aad")
	}
	// Pending: logins still need the password alone.
	if u, _ := e.svc.Accounts.User(ctx, e.user.ID); u.MFA.TOTP {
		t.Fatal("a pending authenticator counts as set up")
	}
	e.passwordLogin(t)

	_, err = e.svc.Factors.ConfirmTOTP(ctx, e.user.ID, tok.SessionID, "000000", auth.Client{})
	wantCode(t, err, auth.CodeInvalidCode)
	codes, err := e.svc.Factors.ConfirmTOTP(ctx, e.user.ID, tok.SessionID, e.code(t, en.Secret, 0), auth.Client{})
	if err != nil || len(codes) != 10 {
		t.Fatalf("confirm: %v %v", codes, err)
	}
	if u, _ := e.svc.Accounts.User(ctx, e.user.ID); !u.MFA.TOTP {
		t.Fatal("the user object does not say mfa.totp")
	}
	_, err = e.svc.Factors.EnrolTOTP(ctx, e.user.ID, tok.SessionID)
	wantCode(t, err, auth.CodeAlreadyExists)

	// The confirming code's step is spent: the second step wants a newer one.
	mt := e.challenge(t)
	_, err = e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: mt, Code: e.code(t, en.Secret, 0)})
	wantCode(t, err, auth.CodeInvalidCode)
	e.clock.Advance(mfa.Period)
	tok2, err := e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: mt, Code: e.code(t, en.Secret, 0)})
	if err != nil {
		t.Fatal(err)
	}
	c := e.claims(t, tok2)
	if !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) || !c.AuthTime.Time.Equal(e.clock.Now()) {
		t.Fatalf("mfa login claims amr %v auth_time %v", c.AMR, c.AuthTime)
	}
	// A refresh keeps how and when the user authenticated.
	e.clock.Advance(time.Minute)
	tok3, err := e.svc.Sessions.Refresh(ctx, tok2.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if c3 := e.claims(t, tok3); !slices.Equal(c3.AMR, c.AMR) || !c3.AuthTime.Time.Equal(c.AuthTime.Time) {
		t.Fatalf("refreshed claims amr %v auth_time %v", c3.AMR, c3.AuthTime)
	}
	// The token worked once.
	e.clock.Advance(mfa.Period)
	_, err = e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: mt, Code: e.code(t, en.Secret, 0)})
	wantCode(t, err, auth.CodeInvalidCode)
}

// TestTOTPStepsAreAcceptedOnce: with an injected clock, each time step of a
// user's codes works once; an older step never works after a newer one; one
// step of drift either way is accepted, two are not.
func TestTOTPStepsAreAcceptedOnce(t *testing.T) {
	t.Parallel()
	e := newMFAEnv(t, nil)
	secret, _ := e.enrol(t)
	ctx := context.Background()
	tok := e.passwordLoginAfterMFA(t, secret)
	reauth := func(code string) error {
		_, err := e.svc.Sessions.Reauthenticate(ctx, auth.ReauthInput{UserID: e.user.ID, SessionID: tok.SessionID, Code: code})
		return err
	}
	steps := []struct {
		name    string
		advance time.Duration
		off     int64
		ok      bool
	}{
		{"a fresh step", mfa.Period, 0, true},
		{"the same code again (replay)", 0, 0, false},
		{"the step before, still in the window", 0, -1, false},
		{"the next step, ahead by one (drift)", 0, +1, true},
		{"the current step, now older than the last used", 0, 0, false},
		{"two steps ahead", 0, +2, false},
		{"later: one step behind (drift)", 5 * mfa.Period, -1, true},
		{"then the current step", 0, 0, true},
		{"two steps behind", 0, -2, false},
		{"a malformed code", mfa.Period, 0, true},
	}
	for _, s := range steps {
		e.clock.Advance(s.advance)
		code := e.code(t, secret, s.off)
		if s.name == "a malformed code" {
			if err := reauth(code + "0"); auth.ErrorCode(err) != auth.CodeInvalidCode {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		err := reauth(code)
		if s.ok && err != nil || !s.ok && auth.ErrorCode(err) != auth.CodeInvalidCode {
			t.Fatalf("%s: %v (want ok %t)", s.name, err, s.ok)
		}
	}
}

// passwordLoginAfterMFA logs ann in through both steps.
func (e *mfaEnv) passwordLoginAfterMFA(t *testing.T, secret string) *auth.Tokens {
	t.Helper()
	mt := e.challenge(t)
	e.clock.Advance(mfa.Period)
	tok, err := e.svc.Sessions.LoginMFA(context.Background(), auth.MFALoginInput{Token: mt, Code: e.code(t, secret, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// barrierStore holds every TOTP read until n of them are waiting, so
// parallel checks all see the same last step before any of them writes.
type barrierStore struct {
	*store.Store
	reads *sync.WaitGroup
}

func (b barrierStore) TOTP(ctx context.Context, userID string) (auth.TOTPFactor, error) {
	f, err := b.Store.TOTP(ctx, userID)
	if b.reads != nil {
		b.reads.Done()
		b.reads.Wait()
	}
	return f, err
}

// TestParallelSubmissionsOfOneCode: 20 logins' second steps racing with the
// same code, all past the code check before any records its step: exactly
// one gets a session (the database's compare-and-set decides).
func TestParallelSubmissionsOfOneCode(t *testing.T) {
	t.Parallel()
	e := newMFAEnv(t, nil)
	secret, _ := e.enrol(t)
	const n = 20
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = e.challenge(t)
	}
	reads := &sync.WaitGroup{}
	reads.Add(n)
	svc := e.rebuild(t, barrierStore{Store: e.store, reads: reads})
	e.clock.Advance(mfa.Period)
	code := e.code(t, secret, 0)
	var wg sync.WaitGroup
	results := make(chan error, n)
	for _, mt := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.Sessions.LoginMFA(context.Background(), auth.MFALoginInput{Token: mt, Code: code})
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		switch auth.ErrorCode(err) {
		case "":
			ok++
		case auth.CodeInvalidCode:
		default:
			t.Fatalf("unexpected answer %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d parallel submissions of one code succeeded, want 1", ok, n)
	}
}

func TestMFATokenLifetime(t *testing.T) {
	t.Parallel()
	e := newMFAEnv(t, nil)
	secret, _ := e.enrol(t)
	ctx := context.Background()

	t.Run("expires after 5 minutes", func(t *testing.T) {
		mt := e.challenge(t)
		e.clock.Advance(auth.MFATokenTTL)
		_, err := e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: mt, Code: e.code(t, secret, 0)})
		wantCode(t, err, auth.CodeInvalidCode)
	})
	t.Run("five wrong codes end it", func(t *testing.T) {
		mt := e.challenge(t)
		e.clock.Advance(mfa.Period)
		for range auth.MaxMFAFailures {
			_, err := e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: mt, Code: "000000"})
			wantCode(t, err, auth.CodeInvalidCode)
		}
		_, err := e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: mt, Code: e.code(t, secret, 0)})
		wantCode(t, err, auth.CodeInvalidCode)
		// and the right code was not spent by the dead token
		if _, err := e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: e.challenge(t), Code: e.code(t, secret, 0)}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("four wrong codes then the right one", func(t *testing.T) {
		mt := e.challenge(t)
		e.clock.Advance(mfa.Period)
		for range auth.MaxMFAFailures - 1 {
			_, _ = e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: mt, Code: "000000"})
		}
		if _, err := e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: mt, Code: e.code(t, secret, 0)}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad input changes nothing", func(t *testing.T) {
		mt := e.challenge(t)
		e.clock.Advance(mfa.Period)
		for _, in := range []auth.MFALoginInput{{Token: mt}, {Token: mt, Code: "1", RecoveryCode: "2"}, {Code: "123456"}} {
			_, err := e.svc.Sessions.LoginMFA(ctx, in)
			wantCode(t, err, auth.CodeInvalidRequest)
		}
		_, err := e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: "not-a-token", Code: e.code(t, secret, 0)})
		wantCode(t, err, auth.CodeInvalidCode)
		ch, _ := e.store.MFAChallenge(ctx, hashOf(mt))
		if ch.Failures != 0 {
			t.Fatalf("bad requests charged %d attempts", ch.Failures)
		}
		if _, err := e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: mt, Code: e.code(t, secret, 0)}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a password change in between ends it", func(t *testing.T) {
		mt := e.challenge(t)
		e.clock.Advance(mfa.Period)
		tok := e.passwordLoginAfterMFA(t, secret)
		if _, err := e.svc.Sessions.ChangePassword(ctx, auth.ChangePasswordInput{UserID: e.user.ID, SessionID: tok.SessionID,
			Current: annPW, New: "another horse battery"}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(mfa.Period)
		_, err := e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: mt, Code: e.code(t, secret, 0)})
		wantCode(t, err, auth.CodeInvalidCode)
	})
}

// TestWrongCodesCountTowardsTheLockout: wrong passwords and wrong codes
// share the account's lockout; once locked, even right answers wait.
func TestWrongCodesCountTowardsTheLockout(t *testing.T) {
	t.Parallel()
	e := newMFAEnv(t, &ratelimit.LockoutPolicy{FreeFailures: 5, BaseLock: time.Minute, MaxLock: time.Hour})
	secret, _ := e.enrol(t)
	ctx := context.Background()
	mt := e.challenge(t)
	for range 4 {
		_, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: "wrong horse"})
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	// The challenge's right password counts nothing, but only its second
	// step ends the streak: the second wrong code is the sixth failure, and
	// locks.
	for range 2 {
		_, err := e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: mt, Code: "000000"})
		wantCode(t, err, auth.CodeInvalidCode)
	}
	e.clock.Advance(mfa.Period)
	_, err := e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: mt, Code: e.code(t, secret, 0)})
	wantCode(t, err, auth.CodeTooManyRequests)
	_, err = e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: annPW})
	wantCode(t, err, auth.CodeTooManyRequests)
	e.clock.Advance(time.Minute)
	if _, err := e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: mt, Code: e.code(t, secret, 0)}); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
}

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	e := newMFAEnv(t, nil)
	secret, codes := e.enrol(t)
	ctx := context.Background()

	tok, err := e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: e.challenge(t), RecoveryCode: strings.ToUpper(codes[0])})
	if err != nil {
		t.Fatal(err)
	}
	if c := e.claims(t, tok); !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("amr %v", c.AMR)
	}
	// Used: audited, mailed in the outbox, and spent.
	out, err := e.store.OutboxEntries(ctx, 10)
	if err != nil || len(out) != 1 || out[0].To != "ann@example.com" || !strings.Contains(out[0].Subject, "recovery code") || e.mailed != 1 {
		t.Fatalf("outbox %+v (%v), woken %d", out, err, e.mailed)
	}
	if ev, _, _ := e.svc.Accounts.AuditEvents(ctx, auth.AuditFilter{Event: auth.EventRecoveryCodeUsed, Limit: 5}); len(ev) != 1 || ev[0].Detail != "9 recovery codes left" {
		t.Fatalf("audit %+v", ev)
	}
	_, err = e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: e.challenge(t), RecoveryCode: codes[0]})
	wantCode(t, err, auth.CodeInvalidCode)
	if n, _ := e.svc.Factors.RecoveryCodesLeft(ctx, e.user.ID); n != 9 {
		t.Fatalf("%d left", n)
	}

	// A new set voids the old one.
	fresh, err := e.svc.Factors.NewRecoveryCodes(ctx, e.user.ID, tok.SessionID)
	if err != nil || len(fresh) != 10 || slices.Contains(fresh, codes[1]) {
		t.Fatalf("new codes %v %v", fresh, err)
	}
	_, err = e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: e.challenge(t), RecoveryCode: codes[1]})
	wantCode(t, err, auth.CodeInvalidCode)
	if _, err := e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: e.challenge(t), RecoveryCode: fresh[1]}); err != nil {
		t.Fatal(err)
	}

	// Removing the authenticator voids them, and logins need the password alone.
	if err := e.svc.Factors.RemoveTOTP(ctx, e.user.ID, tok.SessionID); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.svc.Factors.RecoveryCodesLeft(ctx, e.user.ID); n != 0 {
		t.Fatalf("%d codes left after removal", n)
	}
	e.passwordLogin(t)
	_, err = e.svc.Factors.NewRecoveryCodes(ctx, e.user.ID, tok.SessionID)
	wantCode(t, err, auth.CodeInvalidRequest)
	_ = secret
}

func TestRecentLoginAndReauthentication(t *testing.T) {
	t.Parallel()
	e := newMFAEnv(t, nil)
	ctx := context.Background()
	tok := e.passwordLogin(t)
	e.clock.Advance(auth.DefaultReauthMaxAge + time.Second)
	_, err := e.svc.Factors.EnrolTOTP(ctx, e.user.ID, tok.SessionID)
	wantCode(t, err, auth.CodeReauthenticationRequired)
	err = e.svc.Accounts.DeleteAccount(ctx, e.user.ID, tok.SessionID, annPW, auth.Client{})
	wantCode(t, err, auth.CodeReauthenticationRequired)

	_, err = e.svc.Sessions.Reauthenticate(ctx, auth.ReauthInput{UserID: e.user.ID, SessionID: tok.SessionID, Password: "wrong horse"})
	wantCode(t, err, auth.CodeInvalidCredentials)
	_, err = e.svc.Sessions.Reauthenticate(ctx, auth.ReauthInput{UserID: e.user.ID, SessionID: tok.SessionID, Code: "123456"})
	wantCode(t, err, auth.CodeInvalidCode) // no authenticator: a code cannot be right
	_, err = e.svc.Sessions.Reauthenticate(ctx, auth.ReauthInput{UserID: e.user.ID, SessionID: tok.SessionID, Password: annPW, Code: "1"})
	wantCode(t, err, auth.CodeInvalidRequest)
	re, err := e.svc.Sessions.Reauthenticate(ctx, auth.ReauthInput{UserID: e.user.ID, SessionID: tok.SessionID, Password: annPW})
	if err != nil {
		t.Fatal(err)
	}
	if c := e.claims(t, re); !c.AuthTime.Time.Equal(e.clock.Now()) || re.SessionID != tok.SessionID {
		t.Fatalf("reauthenticated claims %v, session %s", c.AuthTime, re.SessionID)
	}
	// The old refresh token was replaced.
	_, err = e.svc.Sessions.Refresh(ctx, tok.RefreshToken)
	wantCode(t, err, auth.CodeInvalidGrant)
	en, err := e.svc.Factors.EnrolTOTP(ctx, e.user.ID, tok.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Factors.ConfirmTOTP(ctx, e.user.ID, tok.SessionID, e.code(t, en.Secret, 0), auth.Client{}); err != nil {
		t.Fatal(err)
	}
	// A password session re-authenticated with a code has proved two factors.
	e.clock.Advance(mfa.Period)
	re2, err := e.svc.Sessions.Reauthenticate(ctx, auth.ReauthInput{UserID: e.user.ID, SessionID: tok.SessionID, Code: e.code(t, en.Secret, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if c := e.claims(t, re2); !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("amr %v", c.AMR)
	}
	// Sessions survive a refresh with the renewed auth_time.
	e.clock.Advance(time.Minute)
	r, err := e.svc.Sessions.Refresh(ctx, re2.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if c := e.claims(t, r); !c.AuthTime.Time.Equal(e.clock.Now().Add(-time.Minute)) {
		t.Fatalf("refreshed auth_time %v", c.AuthTime)
	}
	if err := e.svc.Accounts.DeleteAccount(ctx, e.user.ID, tok.SessionID, annPW, auth.Client{}); err != nil {
		t.Fatal(err)
	}
}

func TestAdminResetsFactors(t *testing.T) {
	t.Parallel()
	e := newMFAEnv(t, nil)
	secret, codes := e.enrol(t)
	ctx := context.Background()
	tok := e.passwordLoginAfterMFA(t, secret)
	mt := e.challenge(t)
	admin, err := e.svc.Accounts.CreateUser(ctx, auth.RegisterInput{Email: "root@example.com", Password: "root's long passphrase"}, auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.svc.Factors.ResetMFA(ctx, admin.ID, admin.ID), auth.CodeForbidden)
	wantCode(t, e.svc.Factors.ResetMFA(ctx, admin.ID, "0190d4a0-0000-7000-8000-000000000000"), auth.CodeNotFound)
	if err := e.svc.Factors.ResetMFA(ctx, admin.ID, e.user.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.guard.Verify(tok.AccessToken); err == nil {
		t.Fatal("a session survived the reset")
	}
	if u, _ := e.svc.Accounts.User(ctx, e.user.ID); u.MFA.TOTP {
		t.Fatal("still mfa.totp")
	}
	e.clock.Advance(mfa.Period)
	_, err = e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: mt, RecoveryCode: codes[2]})
	wantCode(t, err, auth.CodeInvalidCode) // the pending challenge went too
	e.passwordLogin(t)
	out, _ := e.store.OutboxEntries(ctx, 10)
	if len(out) != 1 || !strings.Contains(out[0].Subject, "second factors") {
		t.Fatalf("outbox %+v", out)
	}
	ev, _, _ := e.svc.Accounts.AuditEvents(ctx, auth.AuditFilter{Event: auth.EventMFAReset, Limit: 5})
	if len(ev) != 1 || ev[0].ActorID != admin.ID || ev[0].UserID != e.user.ID {
		t.Fatalf("audit %+v", ev)
	}
}

func hashOf(raw string) string { return auth.HashTokenForTest(raw) }

// With an authenticator app enrolled, a reset link alone does not reset the
// password: it needs a code (or a recovery code) too, and a missing or wrong
// one spends nothing, neither the link nor the password.
func TestResetNeedsTheSecondFactor(t *testing.T) {
	t.Parallel()
	e := newMFAEnv(t, nil)
	ctx := context.Background()
	secret, codes := e.enrol(t)
	link, err := e.svc.Recovery.AdminPasswordReset(ctx, "cli", e.user.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	token, next := u.Query().Get("token"), "a brand new passphrase"
	reset := func(code, recovery string) error {
		return e.svc.Recovery.ResetPassword(ctx, auth.ResetPasswordInput{Token: token, NewPassword: next, Code: code, RecoveryCode: recovery})
	}
	if err := reset("", ""); !errors.Is(err, auth.ErrResetNeedsSecondFactor) {
		t.Fatalf("reset without a code: %v", err)
	}
	wrong := e.code(t, secret, 5) // a valid code, far from now
	if err := reset(wrong, ""); !errors.Is(err, auth.ErrResetSecondFactor) {
		t.Fatalf("reset with a wrong code: %v", err)
	}
	if _, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: next}); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("the new password works before a right code: %v", err)
	}
	if err := reset("", codes[0]); err != nil {
		t.Fatalf("reset with a recovery code: %v", err)
	}
	if err := reset("", codes[1]); auth.ErrorCode(err) != auth.CodeInvalidCode {
		t.Fatalf("the link works twice: %v", err)
	}
	_, err = e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: next})
	if auth.ErrorCode(err) != auth.CodeMFARequired {
		t.Fatalf("login with the new password: %v, want the second step", err)
	}
}

// Whoever signs up with an address that is not theirs must not lock its
// owner out with a factor: an account cannot enrol one until its address is
// verified. An account without an address can.
func TestFactorsNeedAVerifiedAddress(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, nil)
	ctx := context.Background()
	signIn := func(email, username string) (auth.User, string) {
		t.Helper()
		u, err := e.svc.Accounts.Register(ctx, auth.RegisterInput{Email: email, Username: username, Password: "a squatter's passphrase"})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: u.Email + u.Username, Password: "a squatter's passphrase"})
		if err != nil {
			t.Fatal(err)
		}
		return u, tok.SessionID
	}
	squatter, sid := signIn("owner@example.com", "")
	_, err := e.svc.Factors.EnrolTOTP(ctx, squatter.ID, sid)
	wantCode(t, err, auth.CodeEmailNotVerified)
	_, err = e.svc.Passkeys.BeginPasskeyRegistration(ctx, squatter.ID, sid)
	wantCode(t, err, auth.CodeEmailNotVerified)
	if _, err := e.store.TOTP(ctx, squatter.ID); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("a refused enrolment left an authenticator: %v", err)
	}

	squatter = e.verify(t, squatter) // had it been theirs
	if _, err := e.svc.Factors.EnrolTOTP(ctx, squatter.ID, sid); err != nil {
		t.Fatalf("verified: %v", err)
	}
	noAddress, sid := signIn("", "nomail")
	if _, err := e.svc.Factors.EnrolTOTP(ctx, noAddress.ID, sid); err != nil {
		t.Fatalf("without an address: %v", err)
	}
	if _, err := e.svc.Passkeys.BeginPasskeyRegistration(ctx, noAddress.ID, sid); err != nil {
		t.Fatalf("passkey without an address: %v", err)
	}
}

// The mailbox owner wins: a reset link spent on an account whose address
// was never verified proves the address, so the account's factors (those of
// whoever signed up with it, enrolled before the rule above) and sessions
// go, no second factor is asked for, and the address is verified, audited.
func TestResetLinkOfAnUnverifiedAddressRemovesFactors(t *testing.T) {
	t.Parallel()
	e := newMFAEnv(t, nil)
	ctx := context.Background()
	const pw = "a squatter's passphrase"
	squatter, err := e.svc.Accounts.Register(ctx, auth.RegisterInput{Email: "owner@example.com", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "owner@example.com", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	// An authenticator enrolled before unverified accounts were refused one.
	key, err := mfa.NewTOTP("owner@example.com")
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := e.sealer.Seal([]byte(key.Secret), []byte("totp:"+squatter.ID))
	if err := e.store.PutPendingTOTP(ctx, squatter.ID, tok.SessionID, sealed, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f, _ := e.store.TOTP(ctx, squatter.ID)
	if ok, err := e.store.ConfirmTOTP(ctx, f, mfa.Step(e.clock.Now()), []string{hashOf("recovery")}, e.clock.Now()); !ok || err != nil {
		t.Fatalf("legacy enrolment: %v %v", ok, err)
	}

	link, err := e.svc.Recovery.AdminPasswordReset(ctx, "cli", squatter.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(link)
	const next = "the owner's own passphrase"
	if err := e.svc.Recovery.ResetPassword(ctx, auth.ResetPasswordInput{Token: u.Query().Get("token"), NewPassword: next}); err != nil {
		t.Fatalf("the owner's reset: %v", err)
	}
	owner, err := e.svc.Accounts.User(ctx, squatter.ID)
	if err != nil || owner.MFA.Enabled() || !owner.EmailVerified {
		t.Fatalf("after the reset: %+v %v", owner, err)
	}
	if left, _ := e.svc.Factors.RecoveryCodesLeft(ctx, owner.ID); left != 0 {
		t.Fatalf("%d recovery codes left", left)
	}
	if _, err := e.guard.Verify(tok.AccessToken); err == nil {
		t.Fatal("the squatter's session survived")
	}
	if _, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "owner@example.com", Password: next}); err != nil {
		t.Fatalf("the owner's login: %v", err)
	}
	ev := slices.DeleteFunc(e.events(t, auth.EventEmailVerified), func(ev auth.AuditEvent) bool { return ev.UserID != owner.ID })
	if len(ev) != 1 || !strings.Contains(ev[0].Detail, "second factors removed (authenticator app: true") {
		t.Fatalf("audit %+v", ev)
	}
}

// A pending enrolment's secret is the key to the account's second factor:
// it is shown to, and confirmed by, only the session that started it, while
// its sign-in is recent (--reauth-max-age), for PendingTOTPTTL. A stolen,
// older session of the same user waiting for the enrolment gets nothing.
func TestPendingEnrolmentBelongsToItsSession(t *testing.T) {
	t.Parallel()
	e := newMFAEnv(t, nil)
	ctx := context.Background()
	stolen := e.passwordLogin(t).SessionID
	e.clock.Advance(auth.DefaultReauthMaxAge + time.Minute)
	own := e.passwordLogin(t).SessionID
	other := e.passwordLogin(t).SessionID // another device, as recent
	en, err := e.svc.Factors.EnrolTOTP(ctx, e.user.ID, own)
	if err != nil {
		t.Fatal(err)
	}
	shown := func(sessionID string) bool {
		t.Helper()
		got, ok, err := e.svc.Factors.PendingTOTP(ctx, e.user.ID, sessionID)
		if err != nil {
			t.Fatal(err)
		}
		if ok && got.Secret != en.Secret {
			t.Fatalf("another secret shown: %q", got.Secret)
		}
		return ok
	}
	if !shown(own) || shown(stolen) || shown(other) {
		t.Fatalf("shown to its own session %t, the stolen one %t, another %t; want only its own", shown(own), shown(stolen), shown(other))
	}
	_, err = e.svc.Factors.ConfirmTOTP(ctx, e.user.ID, other, e.code(t, en.Secret, 0), auth.Client{})
	wantCode(t, err, auth.CodeInvalidRequest)
	_, err = e.svc.Factors.ConfirmTOTP(ctx, e.user.ID, stolen, e.code(t, en.Secret, 0), auth.Client{})
	wantCode(t, err, auth.CodeReauthenticationRequired)

	// Its own session, once its sign-in is old: neither shown nor
	// confirmed until it signs in again, and never after PendingTOTPTTL.
	e.clock.Advance(auth.DefaultReauthMaxAge + time.Second)
	if shown(own) {
		t.Fatal("shown to a stale sign-in")
	}
	_, err = e.svc.Factors.ConfirmTOTP(ctx, e.user.ID, own, e.code(t, en.Secret, 0), auth.Client{})
	wantCode(t, err, auth.CodeReauthenticationRequired)
	if _, err := e.svc.Sessions.Reauthenticate(ctx, auth.ReauthInput{UserID: e.user.ID, SessionID: own, Password: annPW}); err != nil {
		t.Fatal(err)
	}
	if !shown(own) {
		t.Fatal("not shown after re-authenticating")
	}
	e.clock.Advance(auth.PendingTOTPTTL - auth.DefaultReauthMaxAge)
	if _, err := e.svc.Sessions.Reauthenticate(ctx, auth.ReauthInput{UserID: e.user.ID, SessionID: own, Password: annPW}); err != nil {
		t.Fatal(err)
	}
	if shown(own) {
		t.Fatal("shown past its lifetime")
	}
	_, err = e.svc.Factors.ConfirmTOTP(ctx, e.user.ID, own, e.code(t, en.Secret, 0), auth.Client{})
	wantCode(t, err, auth.CodeInvalidRequest)
	if u, _ := e.svc.Accounts.User(ctx, e.user.ID); u.MFA.TOTP {
		t.Fatal("an expired enrolment was confirmed")
	}
	// Starting again works, from any recent session.
	en, err = e.svc.Factors.EnrolTOTP(ctx, e.user.ID, own)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Factors.ConfirmTOTP(ctx, e.user.ID, own, e.code(t, en.Secret, 0), auth.Client{}); err != nil {
		t.Fatalf("confirm: %v", err)
	}
}
