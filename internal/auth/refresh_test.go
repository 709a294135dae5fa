package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/golang-jwt/jwt/v5"
)

// A refresh token names its session; what makes it work is the secret. A
// made-up token naming a real session is invalid_grant and ends nothing:
// it is neither the live token nor a spent one, so it is no reuse.
func TestForgedRefreshTokenNamingARealSessionEndsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.login(t)
	ctx := context.Background()
	if !strings.HasPrefix(first.RefreshToken, first.SessionID+".") {
		t.Fatalf("refresh token %q does not name its session %s", first.RefreshToken, first.SessionID)
	}
	next, err := e.svc.Sessions.Refresh(ctx, first.RefreshToken) // so the session has a spent token too
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute) // past the reuse grace
	secret := func(raw string) string { return raw[strings.IndexByte(raw, '.')+1:] }
	for _, forged := range []string{
		first.SessionID + "." + strings.Repeat("A", 43),
		first.SessionID + "." + secret(first.RefreshToken)[:42] + "B",
		strings.ToUpper(first.SessionID) + "." + secret(next.RefreshToken),  // another spelling of the id
		"00000000-0000-7000-8000-000000000000." + secret(next.RefreshToken), // the secret, another session
	} {
		_, err := e.svc.Sessions.Refresh(ctx, forged)
		wantCode(t, err, auth.CodeInvalidGrant)
		if err := e.svc.Sessions.LogoutRefresh(ctx, forged, true); auth.ErrorCode(err) != auth.CodeInvalidGrant {
			t.Fatalf("logout with a forged token %q: %v", forged, err)
		}
	}
	if _, err := e.guard.Verify(next.AccessToken); err != nil {
		t.Fatalf("the session ended after forged tokens: %v", err)
	}
	if _, err := e.svc.Sessions.Refresh(ctx, next.RefreshToken); err != nil {
		t.Fatalf("the live token stopped working after forged tokens: %v", err)
	}
	// Each forged token, and one that is no token at all, is audited.
	_, _ = e.svc.Sessions.Refresh(ctx, "not a token")
	events, _, err := e.svc.Accounts.AuditEvents(ctx, auth.AuditFilter{Event: auth.EventRefreshRefused, Limit: 100})
	if err != nil || len(events) != 5 {
		t.Fatalf("%d refused refreshes audited (%v), want 5", len(events), err)
	}
}

// Reuse detection reaches back along the whole chain: the first token of a
// session, spent four rotations ago, still ends the session when replayed.
func TestRefreshReuseOfAnOldTokenRevokesSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	tokens := []string{e.login(t).RefreshToken}
	for range 4 {
		e.clock.Advance(time.Minute)
		next, err := e.svc.Sessions.Refresh(ctx, tokens[len(tokens)-1])
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, next.RefreshToken)
	}
	_, err := e.svc.Sessions.Refresh(ctx, tokens[0])
	wantCode(t, err, auth.CodeInvalidGrant)
	_, err = e.svc.Sessions.Refresh(ctx, tokens[len(tokens)-1])
	wantCode(t, err, auth.CodeInvalidGrant) // the live token died with its session
}

// A refresh answers with the user as the login would: a verified address
// stays verified in the user object and in the new access token.
func TestRefreshKeepsWhatTheUserIs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRecEnv(t, nil)
	if _, err := e.svc.Recovery.VerifyEmail(ctx, auth.LinkInput{Token: e.mail.token(t, mail.VerifyEmail, "ann@example.com")}); err != nil {
		t.Fatal(err)
	}
	login, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: annPW})
	if err != nil {
		t.Fatal(err)
	}
	next, err := e.svc.Sessions.Refresh(ctx, login.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if !next.User.EmailVerified || next.User.CreatedAt.IsZero() || next.User.Email != "ann@example.com" {
		t.Fatalf("the refresh's user = %+v; want ann, verified", next.User)
	}
	var claims guard.Claims // the signature is other tests' business
	if _, _, err := jwt.NewParser().ParseUnverified(next.AccessToken, &claims); err != nil || !claims.EmailVerified {
		t.Fatalf("the refreshed access token: %+v, %v; want email_verified", claims, err)
	}
}
