package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

func sha(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }

// Migration 00012 moves refresh tokens into their sessions: a session's live
// token from before it is still found (by its hash, through
// legacy_refresh_tokens) and rotates, and its spent tokens still answer
// reuse detection with their sealed successors. Its Down puts every token
// back in refresh_tokens, so a round trip loses nothing.
func TestRefreshTokensSurviveTheLayoutMigration(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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

// Migration 00012 with several sessions: live and spent tokens of live
// sessions, a revoked session (whose tokens the old layout had deleted), an
// OpenID Connect client session with no refresh token. Up keeps every token
// findable with its state; Down puts back one row per token; Up again keeps
// them still.
func TestMigrationRoundTripWithRealisticData(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	u := newUser("many@example.com", "")
	if err := s.CreateUser(ctx, u, "h"); err != nil {
		t.Fatal(err)
	}
	if err := s.MigrateDownTo(ctx, 11); err != nil {
		t.Fatal(err)
	}
	type tok struct {
		raw, sess string
		spent     bool
	}
	var toks []tok
	for i, id := range []string{"s1", "s2", "s3", "s-revoked", "s-client"} {
		revoked := any(nil)
		if id == "s-revoked" {
			revoked = now.Add(-time.Minute).UnixMilli()
		}
		if err := s.Exec(ctx, `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip, amr, scope, revoked_at)
			VALUES (?, ?, ?, ?, ?, '', '', 'pwd', '', ?)`, id, u.ID, now.Add(-time.Hour).UnixMilli(), now.UnixMilli(),
			now.Add(24*time.Hour).UnixMilli(), revoked); err != nil {
			t.Fatal(err)
		}
		if id == "s-revoked" || id == "s-client" {
			continue
		}
		for k := 0; k <= i; k++ { // i spent tokens and one live
			raw := id + "-tok-" + string(rune('a'+k))
			spent := k < i
			var spentAt, succ any
			if spent {
				spentAt, succ = now.Add(-time.Duration(i-k)*time.Minute).UnixMilli(), "c2VhbGVk"
			}
			if err := s.Exec(ctx, `INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at, spent_at, successor)
				VALUES (?, ?, ?, ?, ?, ?)`, sha(raw), id, now.Add(-time.Hour).UnixMilli(), now.Add(time.Hour).UnixMilli(), spentAt, succ); err != nil {
				t.Fatal(err)
			}
			toks = append(toks, tok{raw, id, spent})
		}
	}
	check := func(stage string) {
		t.Helper()
		for _, tk := range toks {
			id, err := s.LegacyRefreshSession(ctx, sha(tk.raw))
			if err != nil || id != tk.sess {
				t.Fatalf("%s: legacy lookup of %s = %q, %v", stage, tk.raw, id, err)
			}
			got, sess, err := s.RefreshToken(ctx, auth.RefreshKey{SessionID: id, Hash: sha(tk.raw)})
			if err != nil || sess.ID != tk.sess || got.SpentAt.IsZero() == tk.spent {
				t.Fatalf("%s: %s = %+v, %v; want spent %v", stage, tk.raw, got, err, tk.spent)
			}
			if !tk.spent && !got.ExpiresAt.Equal(now.Add(time.Hour)) {
				t.Fatalf("%s: live %s expires %v", stage, tk.raw, got.ExpiresAt)
			}
		}
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	check("up")
	if err := s.MigrateDownTo(ctx, 11); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(ctx, `SELECT count(*) FROM refresh_tokens`); err != nil || n != len(toks) {
		t.Fatalf("down: %d rows in refresh_tokens, %v; want %d", n, err, len(toks))
	}
	if n, err := s.Count(ctx, `SELECT count(*) FROM refresh_tokens WHERE spent_at IS NULL`); err != nil || n != 3 {
		t.Fatalf("down: %d live tokens, %v; want 3", n, err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	check("up again")
}

// Prune's own rule: a spent token stays while it could be replayed against
// a live session, until the refresh TTL has passed since it was spent. A
// token from before 00012 is found only through legacy_refresh_tokens,
// which Prune empties at the token's own expiry; a legacy token spent just
// before it expired then loses reuse detection (its spent row is still
// there, but nothing finds it), while its session lives on.
func TestPruneKeepsLegacySpentTokensFindable(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	u := newUser("legacy2@example.com", "")
	if err := s.CreateUser(ctx, u, "h"); err != nil {
		t.Fatal(err)
	}
	const ttl = 720 * time.Hour
	sess := auth.Session{ID: "s-legacy2", UserID: u.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(2 * ttl)}
	if err := s.CreateSession(ctx, sess, auth.RefreshToken{Hash: sha("x"), SessionID: sess.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}); err != nil {
		t.Fatal(err)
	}
	if err := s.MigrateDownTo(ctx, 11); err != nil {
		t.Fatal(err)
	}
	// Issued a TTL ago less a day, spent an hour ago: it expires in a day.
	if err := s.Exec(ctx, `UPDATE refresh_tokens SET hash = ?, created_at = ?, expires_at = ?, spent_at = ?, successor = 'cw=='
		WHERE session_id = ?`, sha("legacy spent"), now.Add(-ttl+24*time.Hour).UnixMilli(), now.Add(24*time.Hour).UnixMilli(),
		now.Add(-time.Hour).UnixMilli(), sess.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	later := now.Add(48 * time.Hour) // the token has expired; it was spent 49 h ago, well within the TTL
	if err := s.Exec(ctx, `UPDATE sessions SET last_used_at = ? WHERE id = ?`, later.UnixMilli(), sess.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, store.PruneOptions{Now: later, SpentBefore: later.Add(-ttl), IdleBefore: later.Add(-168 * time.Hour),
		RevokedBefore: later.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx, `SELECT count(*) FROM spent_refresh_tokens WHERE session_id = ?`, sess.ID); n != 1 {
		t.Fatalf("%d spent rows kept; want 1 (spent within the TTL)", n)
	}
	if _, err := s.LegacyRefreshSession(ctx, sha("legacy spent")); err != nil {
		t.Fatalf("a spent legacy token within the refresh TTL of its spending is no longer found (%v): replaying it "+
			"is a plain invalid_grant, not reuse, and its live session goes on", err)
	}
}
