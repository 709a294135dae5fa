package auth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/passkeytest"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

const (
	rpID     = "id.example.com"
	rpOrigin = "https://id.example.com"
)

// newPasskeyEnv is newMFAEnv with the relying party id.example.com.
func newPasskeyEnv(t *testing.T, lockout *ratelimit.LockoutPolicy) *mfaEnv {
	t.Helper()
	e := newMFAEnv(t, lockout)
	pk, err := auth.PasskeyConfigFor(rpOrigin, "")
	if err != nil {
		t.Fatal(err)
	}
	e.cfg.Passkeys = pk
	e.svc = auth.New(e.cfg, e.deps)
	return e
}

// register adds a passkey of a to ann from session sessionID.
func (e *mfaEnv) register(t *testing.T, a *passkeytest.Authenticator, sessionID, name string) (auth.PasskeyView, error) {
	t.Helper()
	ctx := context.Background()
	opts, err := e.svc.Passkeys.BeginPasskeyRegistration(ctx, e.user.ID, sessionID)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := a.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e.svc.Passkeys.FinishPasskeyRegistration(ctx, e.user.ID, sessionID, name, cred)
}

// enrolPasskey gives ann a passkey and returns its authenticator.
func (e *mfaEnv) enrolPasskey(t *testing.T) *passkeytest.Authenticator {
	t.Helper()
	a := passkeytest.New(rpID, rpOrigin)
	if _, err := e.register(t, a, e.passwordLogin(t).SessionID, "Laptop"); err != nil {
		t.Fatal(err)
	}
	return a
}

// passwordless runs a passwordless login with a.
func (e *mfaEnv) passwordless(t *testing.T, a *passkeytest.Authenticator) (*auth.Tokens, error) {
	t.Helper()
	ctx := context.Background()
	opts, err := e.svc.Passkeys.BeginPasskeyLogin(ctx, auth.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e.svc.Passkeys.LoginPasskey(ctx, cred, auth.Client{IP: "192.0.2.1"})
}

func (e *mfaEnv) passkeyChallenge(t *testing.T) string {
	t.Helper()
	_, err := e.svc.Sessions.Login(context.Background(), auth.LoginInput{Identifier: "ann@example.com", Password: annPW})
	var mr *auth.MFARequired
	if !errors.As(err, &mr) {
		t.Fatalf("login: %v, want mfa_required", err)
	}
	if !slices.Contains(mr.Methods, auth.MethodPasskey) {
		t.Fatalf("methods %v lack passkey", mr.Methods)
	}
	return mr.Token
}

func (e *mfaEnv) events(t *testing.T, event string) []auth.AuditEvent {
	t.Helper()
	ev, _, err := e.svc.Accounts.AuditEvents(context.Background(), auth.AuditFilter{Event: event, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestPasskeyRegisterListAndPasswordlessLogin(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, nil)
	ctx := context.Background()
	a := passkeytest.New(rpID, rpOrigin)
	pk, err := e.register(t, a, e.passwordLogin(t).SessionID, "  Laptop  ")
	if err != nil {
		t.Fatal(err)
	}
	if pk.Name != "Laptop" || pk.ID == "" || !pk.CreatedAt.Equal(e.clock.Now()) || !pk.LastUsedAt.IsZero() {
		t.Fatalf("passkey %+v", pk)
	}
	u, err := e.svc.Accounts.User(ctx, e.user.ID)
	if err != nil || u.MFA.Passkeys != 1 || !u.MFA.Enabled() {
		t.Fatalf("user mfa %+v %v", u.MFA, err)
	}
	if ev := e.events(t, auth.EventPasskeyAdded); len(ev) != 1 || !strings.Contains(ev[0].Detail, `"Laptop"`) {
		t.Fatalf("audit %+v", ev)
	}
	e.clock.Advance(time.Minute)
	tok, err := e.passwordless(t, a)
	if err != nil {
		t.Fatal(err)
	}
	if c := e.claims(t, tok); !slices.Equal(c.AMR, []string{"hwk", "user", "mfa"}) || c.Subject != e.user.ID {
		t.Fatalf("claims amr %v sub %s", c.AMR, c.Subject)
	}
	list, err := e.svc.Passkeys.Passkeys(ctx, e.user.ID)
	if err != nil || len(list) != 1 || !list[0].LastUsedAt.Equal(e.clock.Now()) {
		t.Fatalf("list %+v %v", list, err)
	}
	// The same authenticator cannot register its credential twice (exclude list).
	opts, err := e.svc.Passkeys.BeginPasskeyRegistration(ctx, e.user.ID, tok.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(opts), `"residentKey":"required"`) || !strings.Contains(string(opts), `"userVerification":"required"`) ||
		!strings.Contains(string(opts), `"excludeCredentials"`) {
		t.Fatalf("creation options %s", opts)
	}
	if _, err := a.Create(opts); err == nil {
		t.Fatal("the exclude list did not name the registered credential")
	}
	// Rename and remove; removing needs a recent login.
	if v, err := e.svc.Passkeys.RenamePasskey(ctx, e.user.ID, pk.ID, "Phone"); err != nil || v.Name != "Phone" {
		t.Fatalf("rename %+v %v", v, err)
	}
	for _, bad := range []string{"", "   ", strings.Repeat("x", 65), "a\x00b"} {
		if _, err := e.svc.Passkeys.RenamePasskey(ctx, e.user.ID, pk.ID, bad); auth.ErrorCode(err) != auth.CodeInvalidRequest {
			t.Fatalf("rename %q: %v", bad, err)
		}
	}
	e.clock.Advance(11 * time.Minute)
	if err := e.svc.Passkeys.RemovePasskey(ctx, e.user.ID, tok.SessionID, pk.ID); auth.ErrorCode(err) != auth.CodeReauthenticationRequired {
		t.Fatalf("remove without recent login: %v", err)
	}
	fresh, err := e.passwordless(t, a) // a fresh login: with a passkey, the password alone is not one
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Passkeys.RemovePasskey(ctx, e.user.ID, fresh.SessionID, "nope"); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("remove unknown: %v", err)
	}
	if err := e.svc.Passkeys.RemovePasskey(ctx, e.user.ID, fresh.SessionID, pk.ID); err != nil {
		t.Fatal(err)
	}
	if u, _ := e.svc.Accounts.User(ctx, e.user.ID); u.MFA.Passkeys != 0 {
		t.Fatalf("passkeys after remove: %d", u.MFA.Passkeys)
	}
	if _, err := e.passwordless(t, a); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("login with a removed passkey: %v", err)
	}
	if len(e.events(t, auth.EventPasskeyRenamed)) != 1 || len(e.events(t, auth.EventPasskeyRemoved)) != 1 {
		t.Fatal("rename/remove not audited")
	}
}

func TestPasskeyRegistrationNeedsRecentLogin(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, nil)
	tok := e.passwordLogin(t)
	e.clock.Advance(11 * time.Minute)
	if _, err := e.svc.Passkeys.BeginPasskeyRegistration(context.Background(), e.user.ID, tok.SessionID); auth.ErrorCode(err) != auth.CodeReauthenticationRequired {
		t.Fatalf("begin: %v", err)
	}
	// Begun in time, finished too late for the recent login: refused too.
	tok = e.passwordLogin(t)
	opts, err := e.svc.Passkeys.BeginPasskeyRegistration(context.Background(), e.user.ID, tok.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := passkeytest.New(rpID, rpOrigin).Create(opts)
	e.clock.Advance(11 * time.Minute)
	if _, err := e.svc.Passkeys.FinishPasskeyRegistration(context.Background(), e.user.ID, tok.SessionID, "x", cred); auth.ErrorCode(err) != auth.CodeReauthenticationRequired {
		t.Fatalf("finish: %v", err)
	}
}

func TestPasskeySecondFactorAfterPassword(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, nil)
	ctx := context.Background()
	a := e.enrolPasskey(t)
	token := e.passkeyChallenge(t)
	opts, err := e.svc.Passkeys.BeginPasskeyMFA(ctx, token, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(opts), `"allowCredentials"`) || !strings.Contains(string(opts), `"userVerification":"required"`) {
		t.Fatalf("request options %s", opts)
	}
	cred, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.svc.Passkeys.LoginMFAPasskey(ctx, token, cred, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if c := e.claims(t, tok); !slices.Equal(c.AMR, []string{"pwd", "hwk", "user", "mfa"}) {
		t.Fatalf("amr %v", c.AMR)
	}
	// The mfa_token worked once: the same answer again, or a new ceremony, fail.
	if _, err := e.svc.Passkeys.LoginMFAPasskey(ctx, token, cred, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCode {
		t.Fatalf("replay: %v", err)
	}
	if _, err := e.svc.Passkeys.BeginPasskeyMFA(ctx, token, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCode {
		t.Fatalf("begin with a used mfa_token: %v", err)
	}
	if _, err := e.svc.Passkeys.BeginPasskeyMFA(ctx, "forged", auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCode {
		t.Fatalf("begin with a forged mfa_token: %v", err)
	}
}

// TestPasskeyMFACeremonyBoundToItsSignIn: a ceremony begun for one login
// attempt (or for a passwordless login) does not finish another.
func TestPasskeyMFACeremonyBoundToItsSignIn(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, nil)
	ctx := context.Background()
	a := e.enrolPasskey(t)
	first, second := e.passkeyChallenge(t), e.passkeyChallenge(t)
	opts, err := e.svc.Passkeys.BeginPasskeyMFA(ctx, first, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := a.Get(opts)
	if _, err := e.svc.Passkeys.LoginMFAPasskey(ctx, second, cred, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCode {
		t.Fatalf("other sign-in's ceremony: %v", err)
	}
	// The ceremony was taken by that attempt: it is gone for its own too.
	if _, err := e.svc.Passkeys.LoginMFAPasskey(ctx, first, cred, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCode {
		t.Fatalf("taken ceremony: %v", err)
	}
	// A passwordless login's ceremony is not a second step's.
	opts, err = e.svc.Passkeys.BeginPasskeyLogin(ctx, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	cred, _ = a.Get(opts)
	if _, err := e.svc.Passkeys.LoginMFAPasskey(ctx, first, cred, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCode {
		t.Fatalf("login ceremony as mfa: %v", err)
	}
	// And a second step's is not a passwordless login's.
	opts, err = e.svc.Passkeys.BeginPasskeyMFA(ctx, first, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	cred, _ = a.Get(opts)
	if _, err := e.svc.Passkeys.LoginPasskey(ctx, cred, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("mfa ceremony as login: %v", err)
	}
}

func TestPasskeyCounterNotAdvancingRefused(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, nil)
	ctx := context.Background()
	a := e.enrolPasskey(t)
	if _, err := e.passwordless(t, a); err != nil { // counter 1
		t.Fatal(err)
	}
	a.Creds[0].Counter = 0 // a clone still at 0 answers 1 again
	if _, err := e.passwordless(t, a); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("counter not advancing: %v", err)
	}
	if ev := e.events(t, auth.EventPasskeyCloned); len(ev) != 1 || !strings.Contains(ev[0].Detail, "possible cloned authenticator") {
		t.Fatalf("clone audit %+v", ev)
	}
	// The stored counter stays 1; the second step refuses the clone too.
	a.Creds[0].Counter = 0
	token := e.passkeyChallenge(t)
	opts, err := e.svc.Passkeys.BeginPasskeyMFA(ctx, token, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := a.Get(opts)
	if _, err := e.svc.Passkeys.LoginMFAPasskey(ctx, token, cred, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCode {
		t.Fatalf("mfa counter not advancing: %v", err)
	}
	// The genuine authenticator, ahead of the stored counter, still works.
	a.Creds[0].Counter = 5
	if _, err := e.passwordless(t, a); err != nil {
		t.Fatal(err)
	}
}

func TestPasskeyWithoutCounterAccepted(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, nil)
	a := passkeytest.New(rpID, rpOrigin)
	a.Synced = true // synced passkeys keep no counter
	if _, err := e.register(t, a, e.passwordLogin(t).SessionID, "Synced"); err != nil {
		t.Fatal(err)
	}
	a.Creds[0].NoCounter = true
	for range 2 {
		if _, err := e.passwordless(t, a); err != nil {
			t.Fatalf("authenticator without a counter: %v", err)
		}
	}
}

func TestPasskeyUserVerificationRequired(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, nil)
	ctx := context.Background()
	noUV := passkeytest.New(rpID, rpOrigin)
	noUV.NoUV = true
	if _, err := e.register(t, noUV, e.passwordLogin(t).SessionID, "x"); auth.ErrorCode(err) != auth.CodeInvalidRequest {
		t.Fatalf("registration without UV: %v", err)
	}
	if u, _ := e.svc.Accounts.User(ctx, e.user.ID); u.MFA.Passkeys != 0 {
		t.Fatal("a passkey without UV was stored")
	}
	a := e.enrolPasskey(t)
	a.NoUV = true
	if _, err := e.passwordless(t, a); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("login without UV: %v", err)
	}
	token := e.passkeyChallenge(t)
	opts, err := e.svc.Passkeys.BeginPasskeyMFA(ctx, token, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := a.Get(opts)
	if _, err := e.svc.Passkeys.LoginMFAPasskey(ctx, token, cred, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCode {
		t.Fatalf("second step without UV: %v", err)
	}
}

func TestPasskeyWrongOriginOrRPIDRefused(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, nil)
	a := e.enrolPasskey(t)
	fresh, err := e.passwordless(t, a)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, rpID, origin string }{
		{"origin", rpID, "https://evil.example"},
		{"origin of a subdomain", rpID, "https://x.id.example.com"},
		{"origin's scheme", rpID, "http://id.example.com"},
		{"rp id", "evil.example", rpOrigin},
		{"rp id of the parent", "example.com", rpOrigin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.RPID, a.Origin = tc.rpID, tc.origin
			if _, err := e.passwordless(t, a); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
				t.Fatalf("login: %v", err)
			}
			other := passkeytest.New(tc.rpID, tc.origin)
			if _, err := e.register(t, other, fresh.SessionID, "x"); auth.ErrorCode(err) != auth.CodeInvalidRequest {
				t.Fatalf("registration: %v", err)
			}
		})
	}
	a.RPID, a.Origin = rpID, rpOrigin
	if _, err := e.passwordless(t, a); err != nil {
		t.Fatalf("the right origin: %v", err)
	}
}

func TestPasskeyChallengeSingleUseAndExpiry(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, nil)
	ctx := context.Background()
	a := e.enrolPasskey(t)
	opts, err := e.svc.Passkeys.BeginPasskeyLogin(ctx, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := a.Get(opts)
	if _, err := e.svc.Passkeys.LoginPasskey(ctx, cred, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Passkeys.LoginPasskey(ctx, cred, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("replayed assertion: %v", err)
	}
	// Parallel finishes of one challenge: exactly one signs in.
	opts2, _ := e.svc.Passkeys.BeginPasskeyLogin(ctx, auth.Client{})
	cred2, _ := a.Get(opts2)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 10 {
		wg.Go(func() {
			if _, err := e.svc.Passkeys.LoginPasskey(ctx, cred2, auth.Client{}); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d parallel finishes of one challenge signed in", wins)
	}
	// A fresh signature over a used challenge: refused all the same.
	again, _ := a.Assert(a.Creds[0], passkeytest.Challenge(opts))
	if _, err := e.svc.Passkeys.LoginPasskey(ctx, again, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("used challenge: %v", err)
	}
	// A challenge the server never issued.
	forged, _ := a.Assert(a.Creds[0], "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if _, err := e.svc.Passkeys.LoginPasskey(ctx, forged, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("forged challenge: %v", err)
	}
	// Expiry: 5 minutes on the injected clock.
	opts, _ = e.svc.Passkeys.BeginPasskeyLogin(ctx, auth.Client{})
	e.clock.Advance(auth.PasskeyCeremonyTTL)
	cred, _ = a.Get(opts)
	if _, err := e.svc.Passkeys.LoginPasskey(ctx, cred, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("expired ceremony: %v", err)
	}
	opts, _ = e.svc.Passkeys.BeginPasskeyLogin(ctx, auth.Client{})
	e.clock.Advance(auth.PasskeyCeremonyTTL - time.Millisecond)
	cred, _ = a.Get(opts)
	if _, err := e.svc.Passkeys.LoginPasskey(ctx, cred, auth.Client{}); err != nil {
		t.Fatalf("just in time: %v", err)
	}
	// Garbage is one more refusal.
	for _, junk := range []string{"", "{}", "null", `{"id":"x","type":"public-key","response":{}}`} {
		if _, err := e.svc.Passkeys.LoginPasskey(ctx, []byte(junk), auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
			t.Fatalf("junk %q: %v", junk, err)
		}
	}
}

func TestPasskeyOtherUsersCredentialRefused(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, nil)
	ctx := context.Background()
	annKey := e.enrolPasskey(t)
	bob, err := e.svc.Accounts.Register(ctx, auth.RegisterInput{Email: "bob@example.com", Password: annPW})
	if err != nil {
		t.Fatal(err)
	}
	bob = e.verify(t, bob)
	bobTok, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "bob@example.com", Password: annPW})
	if err != nil {
		t.Fatal(err)
	}
	bobKey := passkeytest.New(rpID, rpOrigin)
	opts, _ := e.svc.Passkeys.BeginPasskeyRegistration(ctx, bob.ID, bobTok.SessionID)
	cred, _ := bobKey.Create(opts)
	// Ann cannot finish Bob's registration ceremony.
	annTok, err := e.passwordless(t, annKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Passkeys.FinishPasskeyRegistration(ctx, e.user.ID, annTok.SessionID, "stolen", cred); auth.ErrorCode(err) != auth.CodeInvalidRequest {
		t.Fatalf("another user's ceremony: %v", err)
	}
	opts, _ = e.svc.Passkeys.BeginPasskeyRegistration(ctx, bob.ID, bobTok.SessionID)
	bobKey.Creds = nil
	cred, _ = bobKey.Create(opts)
	if _, err := e.svc.Passkeys.FinishPasskeyRegistration(ctx, bob.ID, bobTok.SessionID, "Bob's", cred); err != nil {
		t.Fatal(err)
	}
	// Bob's credential in Ann's second step: refused.
	token := e.passkeyChallenge(t)
	opts, _ = e.svc.Passkeys.BeginPasskeyMFA(ctx, token, auth.Client{})
	assertion, _ := bobKey.Assert(bobKey.Creds[0], passkeytest.Challenge(opts))
	if _, err := e.svc.Passkeys.LoginMFAPasskey(ctx, token, assertion, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCode {
		t.Fatalf("another user's passkey as second factor: %v", err)
	}
	// Bob's credential claiming Ann's user handle: refused.
	opts, _ = e.svc.Passkeys.BeginPasskeyLogin(ctx, auth.Client{})
	bobKey.Creds[0].UserHandle = annKey.Creds[0].UserHandle
	assertion, _ = bobKey.Get(opts)
	if _, err := e.svc.Passkeys.LoginPasskey(ctx, assertion, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("user handle of another user: %v", err)
	}
	// Ann's credential ID claimed for Bob's account: already_exists, and
	// Ann's passkey is untouched.
	bobKey.Creds, bobKey.NextID = nil, annKey.Creds[0].ID
	opts, _ = e.svc.Passkeys.BeginPasskeyRegistration(ctx, bob.ID, bobTok.SessionID)
	reg, _ := bobKey.Create(opts)
	if _, err := e.svc.Passkeys.FinishPasskeyRegistration(ctx, bob.ID, bobTok.SessionID, "x", reg); auth.ErrorCode(err) != auth.CodeAlreadyExists {
		t.Fatalf("another account's credential ID: %v", err)
	}
	if _, err := e.passwordless(t, annKey); err != nil {
		t.Fatalf("Ann after the attempt: %v", err)
	}
}

// TestPasskeyFailuresEndTheMFATokenAndLock: wrong assertions in a login's
// second step count against the mfa_token and the account's lockout.
func TestPasskeyFailuresEndTheMFATokenAndLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("mfa_token", func(t *testing.T) {
		e := newPasskeyEnv(t, nil)
		e.enrolPasskey(t)
		token := e.passkeyChallenge(t)
		for range auth.MaxMFAFailures {
			if _, err := e.svc.Passkeys.LoginMFAPasskey(ctx, token, []byte("{}"), auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCode {
				t.Fatalf("junk: %v", err)
			}
		}
		if _, err := e.svc.Passkeys.BeginPasskeyMFA(ctx, token, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCode {
			t.Fatalf("begin after %d failures: %v", auth.MaxMFAFailures, err)
		}
		if ev := e.events(t, auth.EventLoginFailed); len(ev) < auth.MaxMFAFailures || !strings.Contains(ev[0].Detail, "passkey") {
			t.Fatalf("failures audited %+v", ev)
		}
	})
	t.Run("lockout", func(t *testing.T) {
		e := newPasskeyEnv(t, &ratelimit.LockoutPolicy{FreeFailures: 2, BaseLock: time.Minute, MaxLock: time.Hour})
		a := e.enrolPasskey(t)
		token := e.passkeyChallenge(t)
		// The challenge's right password counts nothing and ends no streak:
		// the third junk assertion is the third failure, and locks.
		for i := range 3 {
			if _, err := e.svc.Passkeys.LoginMFAPasskey(ctx, token, []byte("{}"), auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCode {
				t.Fatalf("junk %d: %v", i, err)
			}
		}
		opts, err := e.svc.Passkeys.BeginPasskeyMFA(ctx, token, auth.Client{})
		if err != nil {
			t.Fatal(err)
		}
		cred, _ := a.Get(opts)
		if _, err := e.svc.Passkeys.LoginMFAPasskey(ctx, token, cred, auth.Client{}); auth.ErrorCode(err) != auth.CodeTooManyRequests {
			t.Fatalf("right passkey while locked: %v", err)
		}
		if len(e.events(t, auth.EventAccountLocked)) != 1 {
			t.Fatal("lock not audited")
		}
	})
}

func TestResetMFARemovesPasskeys(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, nil)
	ctx := context.Background()
	a := e.enrolPasskey(t)
	if err := e.svc.Factors.ResetMFA(ctx, "cli", e.user.ID); err != nil {
		t.Fatal(err)
	}
	if u, _ := e.svc.Accounts.User(ctx, e.user.ID); u.MFA.Passkeys != 0 || u.MFA.Enabled() {
		t.Fatalf("after reset %+v", u.MFA)
	}
	if _, err := e.passwordless(t, a); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("login with a reset passkey: %v", err)
	}
	if ev := e.events(t, auth.EventMFAReset); len(ev) != 1 || !strings.Contains(ev[0].Detail, "factors removed: true") {
		t.Fatalf("audit %+v", ev)
	}
}

func TestPasskeysUnavailableWithoutRP(t *testing.T) {
	t.Parallel()
	e := newMFAEnv(t, nil)
	if _, err := e.svc.Passkeys.BeginPasskeyLogin(context.Background(), auth.Client{}); auth.ErrorCode(err) != auth.CodeUnavailable {
		t.Fatalf("no RP: %v", err)
	}
	for _, tc := range []struct{ url, rp string }{{"ftp://x", ""}, {"https://id.example.com", "evil.example"}, {"https://id.example.com", "d.example.com"}} {
		if _, err := auth.PasskeyConfigFor(tc.url, tc.rp); err == nil {
			t.Fatalf("PasskeyConfigFor(%q, %q) accepted", tc.url, tc.rp)
		}
	}
	if c, err := auth.PasskeyConfigFor("http://localhost:8080", ""); err != nil || c.RPID != "localhost" || !slices.Equal(c.Origins, []string{"http://localhost:8080"}) {
		t.Fatalf("localhost: %+v %v", c, err)
	}
	if c, err := auth.PasskeyConfigFor("https://id.example.com", "example.com"); err != nil || c.RPID != "example.com" {
		t.Fatalf("parent domain: %+v %v", c, err)
	}
}
