package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
)

// newInstance is another Gatehouse instance on e's database: its own memory,
// its own access-token lifetime.
func (e *env) newInstance(t *testing.T, accessTTL time.Duration) (*auth.Services, *auth.Revocations) {
	b := e.instance(t, authtest.WithConfig(func(c *auth.Config) { c.AccessTTL = accessTTL }))
	return b.Services, b.Revocations
}

// loginWith logs in on an instance of e's deployment whose access tokens
// live ttl.
func (e *env) loginWith(t *testing.T, ttl time.Duration) *auth.Tokens {
	t.Helper()
	ctx := context.Background()
	svc, _ := e.newInstance(t, ttl)
	if _, err := svc.Accounts.Register(ctx, auth.RegisterInput{Email: "ann@example.com", Password: "correct horse battery"}); err != nil &&
		auth.ErrorCode(err) != auth.CodeAlreadyExists {
		t.Fatal(err)
	}
	tok, err := svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpiresIn != ttl {
		t.Fatalf("token lives %s, want %s", tok.ExpiresIn, ttl)
	}
	return tok
}

// A revocation stamped long before it commits (its transaction queued for
// the writer behind a big logout) still reaches an instance that read the
// feed in between: the cursor follows commit order, not the stamp.
func TestLateRevocationReachesAnotherInstance(t *testing.T) {
	t.Parallel()
	a := newEnv(t)
	tok := a.login(t)
	b, rev := a.newInstance(t, 15*time.Minute)
	stamped := a.clock.Now().Truncate(time.Millisecond)
	a.clock.Advance(30 * time.Second) // the writer is busy for 30 s
	if err := b.Feed.SyncChanges(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The logout stamped 30 s ago commits only now.
	if _, err := a.store.RevokeSessions(context.Background(), auth.SessionFilter{SessionID: tok.SessionID}, stamped,
		stamped.Add(16*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := b.Feed.SyncChanges(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !rev.Revoked(tok.SessionID) {
		t.Fatal("a revocation committed after its stamp never reached the other instance")
	}
}

// A revocation lives as long as the longest access token its session was
// given, whatever today's --access-ttl: tokens issued under a 2 h lifetime
// stay revoked after a restart with 15 min tokens.
func TestRevocationOutlivesShorterAccessTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.loginWith(t, 2*time.Hour)
	short, _ := e.newInstance(t, 15*time.Minute) // restarted with shorter tokens
	if err := short.Sessions.Logout(context.Background(), auth.LogoutInput{SessionID: tok.SessionID}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour) // past the short lifetime, within the long token's
	fresh, rev := e.newInstance(t, 15*time.Minute)
	if err := fresh.Feed.SyncChanges(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !rev.Revoked(tok.SessionID) {
		t.Fatal("the revocation was forgotten while a 2 h access token of the session still lives")
	}
	e.clock.Advance(2 * time.Hour)
	later, rev := e.newInstance(t, 15*time.Minute)
	if err := later.Feed.SyncChanges(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rev.Revoked(tok.SessionID) {
		t.Fatal("the revocation outlived every token of its session")
	}
}
