package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

func sha(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }

// Migration 00012 moves refresh tokens into their sessions: a session's live
// token from before it is still found (by its hash, through
// legacy_refresh_tokens) and rotates, and its spent tokens still answer
// reuse detection with their sealed successors. Its Down puts every token
// back in refresh_tokens, so a round trip loses nothing.
func TestRefreshTokensSurviveTheLayoutMigration(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	u := newUser("legacy@example.com", "")
	if err := s.CreateUser(ctx, u, "h"); err != nil {
		t.Fatal(err)
	}
	sess := auth.Session{ID: "s-legacy", UserID: u.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if err := s.CreateSession(ctx, sess, auth.RefreshToken{Hash: sha("new-format"), SessionID: sess.ID, CreatedAt: now,
		ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.MigrateDownTo(ctx, 11); err != nil {
		t.Fatal(err)
	}
	// Tokens as the old layout kept them: one live, one spent an hour ago.
	if err := s.Exec(ctx, `UPDATE refresh_tokens SET hash = ? WHERE session_id = ?`, sha("old live"), sess.ID); err != nil {
		t.Fatal(err)
	}
	sealed := base64.StdEncoding.EncodeToString([]byte("sealed successor"))
	if err := s.Exec(ctx, `INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at, spent_at, successor)
		VALUES (?, ?, ?, ?, ?, ?)`, sha("old spent"), sess.ID, now.Add(-2*time.Hour).UnixMilli(), now.Add(time.Hour).UnixMilli(),
		now.Add(-time.Hour).UnixMilli(), sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	for _, old := range []string{"old live", "old spent"} {
		if id, err := s.LegacyRefreshSession(ctx, sha(old)); err != nil || id != sess.ID {
			t.Fatalf("legacy lookup of %q = %q, %v; want %s", old, id, err, sess.ID)
		}
	}
	live, _, err := s.RefreshToken(ctx, auth.RefreshKey{SessionID: sess.ID, Hash: sha("old live")})
	if err != nil || !live.SpentAt.IsZero() || !live.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("the old live token = %+v, %v; want live, expiring in an hour", live, err)
	}
	var spent auth.RefreshState
	err = s.Rotate(ctx, auth.RefreshKey{SessionID: sess.ID, Hash: sha("old spent")}, func(st auth.RefreshState) (auth.Rotation, error) {
		spent = st
		return auth.Rotation{}, nil // look only
	})
	if err != nil || !spent.Token.SpentAt.Equal(now.Add(-time.Hour)) || string(spent.Token.Successor) != "sealed successor" {
		t.Fatalf("the old spent token = %+v, %v; want spent an hour ago, with its successor", spent.Token, err)
	}
	// The live one rotates into the new layout; it is then a spent token.
	err = s.Rotate(ctx, auth.RefreshKey{SessionID: sess.ID, Hash: sha("old live")}, func(st auth.RefreshState) (auth.Rotation, error) {
		return auth.Rotation{Successor: &auth.RefreshToken{Hash: sha("next"), SessionID: sess.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
			SealedSuccessor: []byte("s"), Now: now}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for hash, wantSpent := range map[string]bool{sha("next"): false, sha("old live"): true} {
		tok, _, err := s.RefreshToken(ctx, auth.RefreshKey{SessionID: sess.ID, Hash: hash})
		if err != nil || tok.SpentAt.IsZero() != !wantSpent {
			t.Fatalf("after the rotation: %+v, %v; want spent %v", tok, err, wantSpent)
		}
	}
	// Ending the session forgets every token of it, the legacy lookup too.
	if _, err := s.RevokeSessions(ctx, auth.SessionFilter{SessionID: sess.ID}, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, hash := range []string{sha("next"), sha("old live"), sha("old spent")} {
		if _, _, err := s.RefreshToken(ctx, auth.RefreshKey{SessionID: sess.ID, Hash: hash}); auth.ErrorCode(err) != auth.CodeNotFound {
			t.Fatalf("a token of an ended session is still found: %v", err)
		}
	}
	if _, err := s.LegacyRefreshSession(ctx, sha("old live")); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("the legacy lookup outlived the session: %v", err)
	}
}

// ANALYZE's sqlite_stat4 samples make SQLite re-plan lookups by key at each
// use; the store says when a database has them, so the server can warn.
func TestHasSampleStats(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	if s.HasSampleStats(ctx) {
		t.Fatal("a new database reported ANALYZE samples")
	}
	if s.IsPostgresStore() {
		return // PostgreSQL plans otherwise: never reported
	}
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if err := s.CreateUser(ctx, newUser(email, ""), "h"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	if !s.HasSampleStats(ctx) {
		t.Fatal("an analyzed database reported no samples")
	}
	if err := s.Exec(ctx, `DELETE FROM sqlite_stat4`); err != nil {
		t.Fatal(err)
	}
	if s.HasSampleStats(ctx) {
		t.Fatal("samples still reported after the documented remedy")
	}
}
