package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

type env struct {
	svc   *auth.Services
	guard *guard.Guard
	clock *authtest.Clock
	store *store.Store
}

const issuer = authtest.Issuer

func newEnv(t testing.TB) *env {
	t.Helper()
	a := authtest.New(t)
	return envOf(t, a)
}

// envOf is the env of a's services, with a guard over its keys.
func envOf(t testing.TB, a *authtest.Env) *env {
	t.Helper()
	g, err := guard.New(guard.Config{Issuer: issuer, Audience: issuer, Algorithms: []string{"EdDSA"},
		Keys: a.Keys, Revocations: a.Revocations, Now: a.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{svc: a.Services, guard: g, clock: a.Clock, store: a.Store}
}

// instance is another Gatehouse instance on e's database and clock: its own
// memory (revocation set, user cache).
func (e *env) instance(t testing.TB, opts ...authtest.Option) *authtest.Env {
	t.Helper()
	return authtest.New(t, append([]authtest.Option{authtest.WithStore(e.store), authtest.WithClock(e.clock)}, opts...)...)
}

func (e *env) login(t testing.TB) *auth.Tokens {
	t.Helper()
	ctx := context.Background()
	if _, err := e.svc.Accounts.Register(ctx, auth.RegisterInput{Email: "ann@example.com", Password: "correct horse battery"}); err != nil &&
		auth.ErrorCode(err) != auth.CodeAlreadyExists {
		t.Fatal(err)
	}
	tok, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ANN@example.com", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := auth.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func TestLoginFailuresAreIndistinguishable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.login(t)
	ctx := context.Background()
	for _, in := range []auth.LoginInput{
		{Identifier: "nobody@example.com", Password: "correct horse battery"},
		{Identifier: "ann@example.com", Password: "wrong horse battery"},
		{Identifier: "", Password: "x"},
		{Identifier: "ann@example.com", Password: string(make([]byte, 2000))},
	} {
		_, err := e.svc.Sessions.Login(ctx, in)
		wantCode(t, err, auth.CodeInvalidCredentials)
		if auth.ErrorMessage(err) != "The credentials are not valid." {
			t.Fatalf("message %q differs", auth.ErrorMessage(err))
		}
	}
	u, _, _ := e.store.UserCredentials(ctx, "ann@example.com")
	if _, err := e.svc.Accounts.AdminUpdate(ctx, "cli", u.ID, nil, ptr(true)); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: "correct horse battery"})
	wantCode(t, err, auth.CodeInvalidCredentials)
}

func ptr[T any](v T) *T { return &v }

func TestRefreshRotatesAndKeepsSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.login(t)
	e.clock.Advance(time.Minute)
	second, err := e.svc.Sessions.Refresh(context.Background(), first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == first.RefreshToken || second.SessionID != first.SessionID {
		t.Fatalf("rotation: new token %v, same session %v", second.RefreshToken != first.RefreshToken, second.SessionID == first.SessionID)
	}
	claims, err := e.guard.Verify(second.AccessToken)
	if err != nil || claims.SessionID != first.SessionID {
		t.Fatalf("new access token: %v, sid %v", err, claims)
	}
}

func TestRefreshReuseWithinGraceReturnsSameSuccessor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.login(t)
	ctx := context.Background()
	a, err := e.svc.Sessions.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(5 * time.Second)
	b, err := e.svc.Sessions.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatalf("replay within grace: %v", err)
	}
	if a.RefreshToken != b.RefreshToken {
		t.Fatal("replay within grace got a different successor: the session forked")
	}
	if _, err := e.guard.Verify(b.AccessToken); err != nil {
		t.Fatal(err)
	}
}

func TestRefreshReuseAfterGraceRevokesSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.login(t)
	ctx := context.Background()
	next, err := e.svc.Sessions.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(11 * time.Second)
	_, err = e.svc.Sessions.Refresh(ctx, first.RefreshToken)
	wantCode(t, err, auth.CodeInvalidGrant)
	// Every token of the session is dead: the successor and both access tokens.
	_, err = e.svc.Sessions.Refresh(ctx, next.RefreshToken)
	wantCode(t, err, auth.CodeInvalidGrant)
	for _, at := range []string{first.AccessToken, next.AccessToken} {
		if _, err := e.guard.Verify(at); err == nil || err.(*guard.Error).Code != "token_revoked" {
			t.Fatalf("access token after reuse: %v, want token_revoked", err)
		}
	}
}

func TestConcurrentRefreshKeepsOneLineage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.login(t)
	var wg sync.WaitGroup
	results := make(chan string, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := e.svc.Sessions.Refresh(context.Background(), first.RefreshToken)
			if err != nil {
				t.Errorf("concurrent refresh: %v", err)
				return
			}
			results <- tok.RefreshToken
		}()
	}
	wg.Wait()
	close(results)
	successors := map[string]bool{}
	for r := range results {
		successors[r] = true
	}
	if len(successors) != 1 {
		t.Fatalf("20 concurrent refreshes produced %d successors, want 1", len(successors))
	}
}

func TestSessionLifetimes(t *testing.T) {
	t.Parallel()
	t.Run("idle timeout", func(t *testing.T) {
		e := newEnv(t)
		tok := e.login(t)
		e.clock.Advance(168*time.Hour + time.Second)
		_, err := e.svc.Sessions.Refresh(context.Background(), tok.RefreshToken)
		wantCode(t, err, auth.CodeInvalidGrant)
	})
	t.Run("refresh keeps an active session alive", func(t *testing.T) {
		e := newEnv(t)
		tok := e.login(t)
		for range 4 { // 4 × 6 days: past the idle timeout in total, never idle that long
			e.clock.Advance(144 * time.Hour)
			var err error
			if tok, err = e.svc.Sessions.Refresh(context.Background(), tok.RefreshToken); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("absolute lifetime", func(t *testing.T) {
		e := newEnv(t)
		tok := e.login(t)
		for range 5 { // 5 × 6 days = 30 days: the session's absolute end
			e.clock.Advance(144 * time.Hour)
			next, err := e.svc.Sessions.Refresh(context.Background(), tok.RefreshToken)
			if err != nil {
				wantCode(t, err, auth.CodeInvalidGrant)
				return
			}
			tok = next
		}
		t.Fatal("session outlived --session-max-age")
	})
	t.Run("access token expires", func(t *testing.T) {
		e := newEnv(t)
		tok := e.login(t)
		e.clock.Advance(15*time.Minute + 6*time.Second)
		if _, err := e.guard.Verify(tok.AccessToken); err == nil || err.(*guard.Error).Code != "token_expired" {
			t.Fatalf("err = %v, want token_expired", err)
		}
	})
}

func TestLogoutAndAdminChangesEndSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.login(t), e.login(t)
	if err := e.svc.Sessions.Logout(ctx, auth.LogoutInput{SessionID: a.SessionID}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.guard.Verify(a.AccessToken); err == nil {
		t.Fatal("logged-out access token still verifies")
	}
	if _, err := e.guard.Verify(b.AccessToken); err != nil {
		t.Fatalf("other session ended by a single logout: %v", err)
	}
	_, err := e.svc.Sessions.Refresh(ctx, a.RefreshToken)
	wantCode(t, err, auth.CodeInvalidGrant)

	if _, err := e.svc.Accounts.AdminUpdate(ctx, "cli", b.User.ID, ptr(auth.RoleAdmin), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.guard.Verify(b.AccessToken); err == nil {
		t.Fatal("role change left the session alive")
	}
	c := e.login(t)
	if c.User.Role != auth.RoleAdmin {
		t.Fatalf("role after change = %s", c.User.Role)
	}
	claims, _ := e.guard.Verify(c.AccessToken)
	if claims.Role != auth.RoleAdmin {
		t.Fatalf("new token role = %s", claims.Role)
	}
}

func TestRevocationsSurviveRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.login(t)
	if err := e.svc.Sessions.Logout(context.Background(), auth.LogoutInput{SessionID: tok.SessionID}); err != nil {
		t.Fatal(err)
	}
	// A fresh set, as after a restart, learns the revocation from the database.
	fresh := e.instance(t)
	rev := fresh.Revocations
	if err := fresh.Feed.SyncChanges(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !rev.Revoked(tok.SessionID) {
		t.Fatal("revocation forgotten after restart")
	}
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name string
		in   auth.RegisterInput
		code string
	}{
		{"no identity", auth.RegisterInput{Password: "correct horse battery"}, auth.CodeInvalidRequest},
		{"bad email", auth.RegisterInput{Email: "not-an-email", Password: "correct horse battery"}, auth.CodeInvalidRequest},
		{"display-name email", auth.RegisterInput{Email: "Ann <ann@example.com>", Password: "correct horse battery"}, auth.CodeInvalidRequest},
		{"bad username", auth.RegisterInput{Username: "a b", Password: "correct horse battery"}, auth.CodeInvalidRequest},
		{"short username", auth.RegisterInput{Username: "ab", Password: "correct horse battery"}, auth.CodeInvalidRequest},
		{"common password", auth.RegisterInput{Username: "romel", Password: "12345678"}, auth.CodeWeakPassword},
		{"password equals username", auth.RegisterInput{Username: "romelromel", Password: "RomelRomel"}, auth.CodeWeakPassword},
		{"control characters in name", auth.RegisterInput{Username: "romel", Name: "a\x00b", Password: "correct horse battery"}, auth.CodeInvalidRequest},
		{"ok", auth.RegisterInput{Username: "Romel", Name: " Romel ", Password: "correct horse battery"}, ""},
		{"taken username other case", auth.RegisterInput{Username: "ROMEL", Password: "correct horse battery"}, auth.CodeAlreadyExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := e.svc.Accounts.Register(ctx, tt.in)
			wantCode(t, err, tt.code)
			if err == nil && (u.Name != "Romel" || u.Role != auth.RoleUser) {
				t.Fatalf("user = %+v", u)
			}
		})
	}
}

func TestRevocationsReachAnotherInstance(t *testing.T) {
	t.Parallel()
	a := newEnv(t)
	tok := a.login(t)
	// Instance B shares A's database but has its own memory.
	bEnv := a.instance(t)
	b, rev := bEnv.Services, bEnv.Revocations
	if err := b.Feed.SyncChanges(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rev.Revoked(tok.SessionID) {
		t.Fatal("revoked before logout")
	}
	if err := a.svc.Sessions.Logout(context.Background(), auth.LogoutInput{SessionID: tok.SessionID}); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(time.Second)
	if err := b.Feed.SyncChanges(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !rev.Revoked(tok.SessionID) {
		t.Fatal("instance B did not learn of A's logout from the revocation log")
	}
	page, err := b.Feed.RevocationsSince(context.Background(), "", 0)
	if err != nil || len(page.Revoked) != 1 || page.Cursor == "" || page.HasMore {
		t.Fatalf("RevocationsSince = %+v, %v", page, err)
	}
	if next, _ := b.Feed.RevocationsSince(context.Background(), page.Cursor, 0); len(next.Revoked) != 0 || next.Cursor != page.Cursor {
		t.Fatalf("a read from the cursor repeats the entry: %+v", next)
	}
	a.clock.Advance(17 * time.Minute) // past every token of the session
	if page, _ := b.Feed.RevocationsSince(context.Background(), "", 0); len(page.Revoked) != 0 {
		t.Fatalf("expired revocations still listed: %v", page.Revoked)
	}
}

// BenchmarkRefresh rotates refresh tokens on SQLite: each goroutine follows
// its own session's chain, as many clients would.
func BenchmarkRefresh(b *testing.B) {
	e := newEnv(b)
	e.login(b) // registers the user once
	b.RunParallel(func(pb *testing.PB) {
		raw := e.login(b).RefreshToken
		for pb.Next() {
			tok, err := e.svc.Sessions.Refresh(context.Background(), raw)
			if err != nil {
				b.Fatal(err)
			}
			raw = tok.RefreshToken
		}
	})
}

func TestUserCacheFollowsChanges(t *testing.T) {
	t.Parallel()
	a := newEnv(t)
	tok := a.login(t)
	ctx := context.Background()
	id := tok.User.ID
	if err := a.svc.Feed.SyncChanges(ctx); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(6 * time.Second) // past the feed's overlap: the next read sees only new changes
	if err := a.svc.Feed.SyncChanges(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.Accounts.User(ctx, id); err != nil { // now cached on A
		t.Fatal(err)
	}
	// Instance B, on the same database, renames the user.
	b := a.instance(t).Services
	a.clock.Advance(time.Second)
	if _, err := b.Accounts.UpdateProfile(ctx, id, ptr("Renamed on B")); err != nil {
		t.Fatal(err)
	}
	if u, _ := a.svc.Accounts.User(ctx, id); u.Name == "Renamed on B" {
		t.Fatal("test premise: A should still hold its cached copy")
	}
	if err := a.svc.Feed.SyncChanges(ctx); err != nil {
		t.Fatal(err)
	}
	if u, _ := a.svc.Accounts.User(ctx, id); u.Name != "Renamed on B" {
		t.Fatalf("A serves a stale user after the change feed: %q", u.Name)
	}
	// A's own writes drop its copy at once.
	if _, err := a.svc.Accounts.UpdateProfile(ctx, id, ptr("Renamed on A")); err != nil {
		t.Fatal(err)
	}
	if u, _ := a.svc.Accounts.User(ctx, id); u.Name != "Renamed on A" {
		t.Fatalf("A serves a stale user after its own write: %q", u.Name)
	}
}
