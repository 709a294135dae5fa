package auth_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/google/uuid"
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

// forgotten records the clients an instance was told to forget.
type forgotten struct {
	mu  sync.Mutex
	ids []string
}

func (f *forgotten) forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = append(f.ids, id)
}

func (f *forgotten) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ids)
}

// A client changed by another instance or the command line (its entry in
// the change feed) is forgotten by this instance when it reads the feed,
// and is no revoked session: neither this instance's revocation set nor
// GET /revocations holds its id.
func TestClientChangedElsewhereIsForgottenWhenTheFeedIsRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	b := e.instance(t)
	var forgot forgotten
	b.Services.Feed.OnClientChanged(forgot.forget)
	now := e.clock.Now().Truncate(time.Millisecond)
	c := oidc.Client{ID: uuid.Must(uuid.NewV7()).String(), Name: "rs", SecretHash: "h", Scopes: []string{"openid"}, IDTokenAlg: "EdDSA",
		CreatedAt: now, GrantTypes: oidc.GrantsUserFacing, RedirectURIs: []string{"https://rs.example/cb"}, Introspect: true}
	if err := e.store.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := b.Services.Feed.SyncChanges(ctx); err != nil {
		t.Fatal(err)
	}
	if got := forgot.list(); len(got) != 0 {
		t.Fatalf("forgot %v before any change", got)
	}
	if err := e.store.SetClientSecret(ctx, c.ID, "h2", now, nil); err != nil { // as the command line does
		t.Fatal(err)
	}
	if err := b.Services.Feed.SyncChanges(ctx); err != nil {
		t.Fatal(err)
	}
	if got := forgot.list(); !slices.Equal(got, []string{c.ID}) {
		t.Fatalf("forgot %v, want the rotated client", got)
	}
	if b.Revocations.Revoked(c.ID) {
		t.Fatal("a changed client's id is in the revocation set")
	}
	page, err := e.svc.Feed.RevocationsSince(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Revoked) != 0 {
		t.Fatalf("GET /revocations lists %+v for a client's change", page.Revoked)
	}
	// Read once: the next sync forgets nothing more.
	if err := b.Services.Feed.SyncChanges(ctx); err != nil {
		t.Fatal(err)
	}
	if got := forgot.list(); len(got) != 1 {
		t.Fatalf("forgot %v, want the client once", got)
	}
	// Another instance's fan-out message forgets at once.
	b.Services.Feed.ClientsChangedElsewhere([]string{"other"})
	if got := forgot.list(); !slices.Equal(got, []string{c.ID, "other"}) {
		t.Fatalf("forgot %v after the fan-out message", got)
	}
}

// A client changed at this instance is forgotten here at once and
// announced to the others (the fan-out), besides its entry in the feed.
func TestClientChangedHereIsForgottenAndAnnounced(t *testing.T) {
	t.Parallel()
	fan := &announced{}
	a := authtest.New(t, authtest.WithDeps(func(d *auth.Deps) { d.Fanout = fan }))
	var forgot forgotten
	a.Feed.OnClientChanged(forgot.forget)
	a.Feed.ClientChanged(context.Background(), "c1")
	if got := forgot.list(); !slices.Equal(got, []string{"c1"}) || !slices.Equal(fan.clients, []string{"c1"}) {
		t.Fatalf("forgot %v, announced %v; want c1 in both", got, fan.clients)
	}
}
