package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

func sessionsOf(t *testing.T, s *store.Store, n int) []string {
	t.Helper()
	ctx := context.Background()
	u := newUser("", fmt.Sprintf("u%d", time.Now().UnixNano()))
	if err := s.CreateUser(ctx, u, "h"); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-s%d", u.ID, i)
		sess := auth.Session{ID: ids[i], UserID: u.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateSession(ctx, sess, auth.RefreshToken{Hash: ids[i], SessionID: ids[i], CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// readAll follows the feed from cursor to its end, as a poller does.
func readAll(t *testing.T, s *store.Store, cursor int64, limit int) ([]string, int64) {
	t.Helper()
	var got []string
	for {
		page, err := s.Changes(context.Background(), auth.ChangeFilter{After: cursor, Limit: limit, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Changes {
			got = append(got, c.SessionID)
		}
		cursor = page.Cursor
		if !page.More {
			return got, cursor
		}
	}
}

// On PostgreSQL writers run concurrently: a transaction that took its place
// in the feed first and commits last must still be read, and before the
// one that followed it. The first is held open while the second tries to
// commit and a reader polls; no read may move past the held entry.
func TestChangeFeedFollowsCommitOrderOnPostgres(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	if !s.IsPostgresStore() {
		t.Skip("SQLite has one writer: commit order is seq order by construction (GATEHOUSE_TEST_STORE=postgres runs this)")
	}
	ctx := context.Background()
	ids := sessionsOf(t, s, 2)
	commit, err := s.RevokeHeld(ctx, ids[0], now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		_, err := s.RevokeSessions(ctx, auth.SessionFilter{SessionID: ids[1]}, now, now.Add(time.Hour))
		second <- err
	}()
	// Wait until the second transaction either committed or waits for a lock.
	var secondErr error
	secondDone := false
wait:
	for {
		select {
		case secondErr = <-second:
			secondDone = true
			break wait
		default:
		}
		if n, err := s.LockWaiters(ctx); err != nil {
			t.Fatal(err)
		} else if n > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	got, cursor := readAll(t, s, 0, 10)
	if err := commit(); err != nil {
		t.Fatal(err)
	}
	if !secondDone {
		secondErr = <-second
	}
	if secondErr != nil {
		t.Fatalf("second revocation: %v", secondErr)
	}
	more, _ := readAll(t, s, cursor, 10)
	got = append(got, more...)
	if len(got) != 2 || got[0] != ids[0] || got[1] != ids[1] {
		t.Fatalf("the feed read %v while the first was held, then from its cursor; want %v in commit order", got, ids)
	}
}

// The feed pages: a reader following cursor while More reads every entry
// once, oldest first; expired entries are skipped; the cursor of an empty
// read stays put.
func TestChangeFeedPages(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	ids := sessionsOf(t, s, 7)
	for i, id := range ids {
		until := now.Add(time.Hour)
		if i == 3 {
			until = now.Add(-time.Second) // its tokens are already dead
		}
		if _, err := s.RevokeSessions(ctx, auth.SessionFilter{SessionID: id}, now, until); err != nil {
			t.Fatal(err)
		}
	}
	got, cursor := readAll(t, s, 0, 2)
	want := append(append([]string{}, ids[:3]...), ids[4:]...)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paged read = %v, want %v", got, want)
	}
	if again, c := readAll(t, s, cursor, 2); len(again) != 0 || c != cursor {
		t.Fatalf("read from the end = %v (cursor %d → %d)", again, cursor, c)
	}
}

// A revocation lasts as long as the longest access token issued for its
// session (recorded with each refresh token), not the revoker's idea of it.
func TestRevocationKeepsLongestTokenLifetime(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	u := newUser("", "longtok")
	if err := s.CreateUser(ctx, u, "h"); err != nil {
		t.Fatal(err)
	}
	sess := auth.Session{ID: "s-long", UserID: u.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(48 * time.Hour)}
	if err := s.CreateSession(ctx, sess, auth.RefreshToken{Hash: "h-long", SessionID: sess.ID, CreatedAt: now,
		ExpiresAt: now.Add(48 * time.Hour), AccessLiveUntil: now.Add(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeSessions(ctx, auth.SessionFilter{SessionID: sess.ID}, now, now.Add(16*time.Minute)); err != nil {
		t.Fatal(err)
	}
	page, err := s.Changes(ctx, auth.ChangeFilter{Limit: 10, Now: now.Add(2 * time.Hour)})
	if err != nil || len(page.Changes) != 1 || !page.Changes[0].ExpiresAt.Equal(now.Add(3*time.Hour)) {
		t.Fatalf("two hours on: %+v, %v; want the revocation, until the 3 h token expires", page, err)
	}
}
