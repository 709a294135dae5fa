package store_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/google/uuid"
)

func newServiceClient(t *testing.T, ctx context.Context, s interface {
	CreateClient(context.Context, oidc.Client) error
}) oidc.Client {
	t.Helper()
	c := oidc.Client{ID: uuid.Must(uuid.NewV7()).String(), Name: "svc", SecretHash: "h", Scopes: []string{"books:read"},
		IDTokenAlg: "EdDSA", CreatedAt: now, GrantTypes: oidc.GrantsService, Audiences: []string{"https://api.example"},
		JWKS: `{"keys":[]}`, RevocationID: "cc-first"}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// A service client's settings round-trip; ending its tokens puts its
// revocation id in the change feed and gives it the next, once: a second
// end from the same old id (a concurrent one) is refused.
func TestServiceClientTokensEndThroughTheFeed(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	c := newServiceClient(t, ctx, s)
	got, err := s.Client(ctx, c.ID)
	if err != nil || !got.Service() || !slices.Equal(got.Audiences, c.Audiences) || got.JWKS != c.JWKS || got.RevocationID != "cc-first" || got.Disabled {
		t.Fatalf("read back %+v, %v", got, err)
	}
	got.Disabled = true
	end := &oidc.TokensEnd{Old: "cc-first", New: "cc-second", LiveUntil: now.Add(time.Hour)}
	if err := s.UpdateClient(ctx, got, now, end); err != nil {
		t.Fatal(err)
	}
	if err := s.SetClientSecret(ctx, c.ID, "h2", now, end); auth.ErrorCode(err) != auth.CodeAlreadyExists {
		t.Fatalf("a second end from the same id: %v", err)
	}
	if again, _ := s.Client(ctx, c.ID); again.RevocationID != "cc-second" || !again.Disabled || again.SecretHash != "h" {
		t.Fatalf("after the end: %+v", again)
	}
	ended, err := s.DeleteClient(ctx, c.ID, now, now.Add(time.Hour))
	if err != nil || !slices.Contains(ended, "cc-second") {
		t.Fatalf("delete ended %v, %v", ended, err)
	}
	page, err := s.Changes(ctx, auth.ChangeFilter{Limit: 10, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ch := range page.Changes {
		ids = append(ids, ch.SessionID)
	}
	if !slices.Equal(ids, []string{"cc-first", "cc-second"}) {
		t.Fatalf("feed %v, want both revocation ids in order", ids)
	}
}

// An assertion's jti is accepted once while it lives, by one of any
// number of racing instances; once expired, the same jti is new again.
func TestAssertionJTISpentOnce(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	c := newServiceClient(t, ctx, s)
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.SpendAssertion(ctx, c.ID, "jti-1", now.Add(time.Minute), now)
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d racing uses of one jti accepted, want 1", won.Load())
	}
	if ok, err := s.SpendAssertion(ctx, "another-client", "jti-1", now.Add(time.Minute), now); err != nil || !ok {
		t.Fatalf("another client's jti of the same value: %v %v", ok, err)
	}
	later := now.Add(2 * time.Minute)
	if ok, err := s.SpendAssertion(ctx, c.ID, "jti-1", later.Add(time.Minute), later); err != nil || !ok {
		t.Fatalf("the jti after its assertion expired: %v %v", ok, err)
	}
	if ok, _ := s.SpendAssertion(ctx, c.ID, "jti-1", later.Add(time.Minute), later); ok {
		t.Fatal("replayed within the new lifetime")
	}
}

// Every change of a client (settings, secret, removal) puts its id in the
// change feed in the same transaction, for instances to forget their copy;
// the feed's readers of ended sessions (GET /revocations, guards) never see
// it as a revoked session.
func TestClientChangesAreInTheFeedButNotInTheRevocations(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	rs := oidc.Client{ID: uuid.Must(uuid.NewV7()).String(), Name: "rs", SecretHash: "h", Scopes: []string{"openid"},
		IDTokenAlg: "EdDSA", CreatedAt: now, GrantTypes: oidc.GrantsUserFacing, RedirectURIs: []string{"https://rs.example/cb"}, Introspect: true}
	if err := s.CreateClient(ctx, rs); err != nil {
		t.Fatal(err)
	}
	svc := newServiceClient(t, ctx, s)
	rs.Introspect = false
	if err := s.UpdateClient(ctx, rs, now, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetClientSecret(ctx, rs.ID, "h2", now, nil); err != nil {
		t.Fatal(err)
	}
	end := &oidc.TokensEnd{Old: "cc-first", New: "cc-second", LiveUntil: now.Add(time.Hour)}
	if err := s.SetClientSecret(ctx, svc.ID, "h3", now, end); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteClient(ctx, rs.ID, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	all, err := s.Changes(ctx, auth.ChangeFilter{Limit: 10, Users: true, Clients: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range all.Changes {
		switch {
		case c.ClientID != "" && c.SessionID == "" && c.UserID == "":
			got = append(got, "client "+c.ClientID)
		case c.SessionID != "" && c.ClientID == "":
			got = append(got, "session "+c.SessionID)
		default:
			t.Fatalf("entry %+v names more than one thing", c)
		}
	}
	want := []string{"client " + rs.ID, "client " + rs.ID, "session cc-first", "client " + svc.ID, "client " + rs.ID}
	if !slices.Equal(got, want) {
		t.Fatalf("feed %v, want %v", got, want)
	}
	revocations, err := s.Changes(ctx, auth.ChangeFilter{Limit: 10, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(revocations.Changes) != 1 || revocations.Changes[0].SessionID != "cc-first" || revocations.Cursor != all.Cursor {
		t.Fatalf("ended sessions only: %+v, want cc-first alone and the same cursor %d", revocations, all.Cursor)
	}
	// A client's entry outlives any copy read before the change.
	later, err := s.Changes(ctx, auth.ChangeFilter{Limit: 10, Clients: true, Now: now.Add(time.Minute)})
	if err != nil || len(later.Changes) != 5 {
		t.Fatalf("a minute on: %+v, %v; want every entry", later, err)
	}
}
