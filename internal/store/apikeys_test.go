package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// Keys: stored by hash, listed while unrevoked, revoked once (into the
// feed), their last use written at most once per interval, and pruned once
// revoked longer than a token lives or expired a month ago.
func TestAPIKeyStore(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	u := newUser("keys@example.com", "")
	if err := s.CreateUser(ctx, u, "h"); err != nil {
		t.Fatal(err)
	}
	mk := func(id string, created, expires time.Time) auth.APIKey {
		k := auth.APIKey{ID: id, UserID: u.ID, Name: id, Prefix: "gh_pat_abcd", Hash: "hash-" + id, Scopes: []string{"me:read", "books:read"},
			CreatedAt: created, ExpiresAt: expires}
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	mk("live", now.Add(-time.Hour), time.Time{})
	mk("expired-long-ago", now.Add(-90*24*time.Hour), now.Add(-40*24*time.Hour))
	mk("revoked", now.Add(-2*time.Hour), time.Time{})
	if err := s.CreateAPIKey(ctx, auth.APIKey{ID: "dup", UserID: u.ID, Hash: "hash-live", Scopes: []string{"me:read"}, CreatedAt: now}); auth.ErrorCode(err) != auth.CodeAlreadyExists {
		t.Fatalf("a second key with the same hash: %v", err)
	}
	got, err := s.APIKeyByHash(ctx, "hash-live")
	if err != nil || got.ID != "live" || len(got.Scopes) != 2 || !got.ExpiresAt.IsZero() || !got.LastUsedAt.IsZero() {
		t.Fatalf("by hash: %+v %v", got, err)
	}
	if err := s.RevokeAPIKey(ctx, "someone-else", "revoked", now, now.Add(time.Hour)); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("revoking another user's key: %v", err)
	}
	if err := s.RevokeAPIKey(ctx, u.ID, "revoked", now.Add(-time.Hour), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIKey(ctx, u.ID, "revoked", now, now.Add(time.Hour)); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("revoking twice: %v", err)
	}
	list, err := s.APIKeys(ctx, u.ID)
	if err != nil || len(list) != 2 || list[0].ID != "live" {
		t.Fatalf("list: %+v %v", list, err)
	}
	page, err := s.Changes(ctx, auth.ChangeFilter{Limit: 10, Now: now})
	if err != nil || len(page.Changes) != 1 || page.Changes[0].SessionID != "revoked" {
		t.Fatalf("feed: %+v %v", page, err)
	}
	if err := s.TouchAPIKeys(ctx, map[string]time.Time{"live": now}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchAPIKeys(ctx, map[string]time.Time{"live": now.Add(30 * time.Second)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.APIKeyByHash(ctx, "hash-live"); !got.LastUsedAt.Equal(now) {
		t.Fatalf("last use %v, want %v (written again within the minute)", got.LastUsedAt, now)
	}
	if _, err := s.Prune(ctx, store.PruneOptions{Now: now, RevokedBefore: now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	for hash, want := range map[string]bool{"hash-live": true, "hash-expired-long-ago": false, "hash-revoked": false} {
		if _, err := s.APIKeyByHash(ctx, hash); (err == nil) != want {
			t.Errorf("%s after prune: %v", hash, err)
		}
	}
}
