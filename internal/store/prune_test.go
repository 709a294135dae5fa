package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// Prune drops spent refresh tokens once no replay of them could still end a
// live session, idle sessions, old audit events and dead feed entries, and
// keeps what reuse detection and the feed still need.
func TestPrune(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	u := newUser("prune@example.com", "")
	if err := s.CreateUser(ctx, u, "h"); err != nil {
		t.Fatal(err)
	}
	mk := func(id string, lastUsed time.Time) {
		sess := auth.Session{ID: id, UserID: u.ID, CreatedAt: lastUsed, LastUsedAt: lastUsed, ExpiresAt: now.Add(30 * 24 * time.Hour)}
		if err := s.CreateSession(ctx, sess, auth.RefreshToken{Hash: id + "-t0", SessionID: id, CreatedAt: lastUsed,
			ExpiresAt: now.Add(30 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	key := func(hash string) auth.RefreshKey { // "<session>-t<n>"
		return auth.RefreshKey{SessionID: strings.Split(hash, "-")[0], Hash: hash}
	}
	rotate := func(hash, next string, at time.Time) {
		err := s.Rotate(ctx, key(hash), func(st auth.RefreshState) (auth.Rotation, error) {
			return auth.Rotation{Successor: &auth.RefreshToken{Hash: next, SessionID: st.Session.ID, CreatedAt: at, ExpiresAt: now.Add(30 * 24 * time.Hour)},
				SealedSuccessor: []byte("sealed"), Now: at}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	refreshTTL := 7 * 24 * time.Hour
	mk("live", now.Add(-10*24*time.Hour))
	rotate("live-t0", "live-t1", now.Add(-10*24*time.Hour)) // spent 10 days ago: older than the refresh TTL
	rotate("live-t1", "live-t2", now.Add(-time.Hour))       // spent an hour ago: reuse detection still needs it
	mk("idle", now.Add(-200*time.Hour))                     // past a 168 h idle timeout
	for i, at := range []time.Time{now.Add(-100 * 24 * time.Hour), now.Add(-time.Hour)} {
		if err := s.RecordAudit(ctx, auth.AuditEvent{ID: []string{"a-old", "a-new"}[i], At: at, Event: "login"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Prune(ctx, store.PruneOptions{Now: now, RevokedBefore: now.Add(-16 * time.Minute),
		IdleBefore: now.Add(-168 * time.Hour), SpentBefore: now.Add(-refreshTTL), AuditBefore: now.Add(-90 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for hash, want := range map[string]bool{"live-t0": false, "live-t1": true, "live-t2": true, "idle-t0": false} {
		_, _, err := s.RefreshToken(ctx, key(hash))
		if found := err == nil; found != want {
			t.Errorf("refresh token %s kept = %v, want %v (%v)", hash, found, want, err)
		}
	}
	events, err := s.AuditEvents(ctx, auth.AuditFilter{Limit: 10})
	if err != nil || len(events) != 1 || events[0].ID != "a-new" {
		t.Fatalf("audit after prune = %v, %v; want only the recent event", events, err)
	}
}

// Expired feed entries go, but never the newest: the next entry's seq is
// MAX(seq) + 1, so a reader's cursor stays valid.
func TestPruneKeepsNewestChange(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	ids := sessionsOf(t, s, 2)
	for _, id := range ids {
		if _, err := s.RevokeSessions(ctx, auth.SessionFilter{SessionID: id}, now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	_, cursor := readAll(t, s, 0, 10)
	later := now.Add(time.Hour)
	if _, err := s.Prune(ctx, store.PruneOptions{Now: later}); err != nil {
		t.Fatal(err)
	}
	more := sessionsOf(t, s, 1)
	if _, err := s.RevokeSessions(ctx, auth.SessionFilter{SessionID: more[0]}, later, later.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	page, err := s.Changes(ctx, auth.ChangeFilter{After: cursor, Limit: 10, Now: later})
	if err != nil || len(page.Changes) != 1 || page.Changes[0].SessionID != more[0] || page.Changes[0].Seq != cursor+1 {
		t.Fatalf("after prune, from cursor %d: %+v, %v", cursor, page, err)
	}
}
