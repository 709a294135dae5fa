package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

func link(u auth.User, hash string, p auth.LinkPurpose, email string) auth.LinkToken {
	return auth.LinkToken{Hash: hash, UserID: u.ID, Purpose: p, Email: email, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
}

func userWithSession(t *testing.T, s *store.Store, email string) (auth.User, string) {
	t.Helper()
	ctx := context.Background()
	u := newUser(email, "")
	if err := s.CreateUser(ctx, u, "old-hash"); err != nil {
		t.Fatal(err)
	}
	sid := u.ID + "-s"
	sess := auth.Session{ID: sid, UserID: u.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess, auth.RefreshToken{Hash: sid, SessionID: sid, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return u, sid
}

func TestLinkIssueStoresTokenAndMailTogetherAndVoidsOlder(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	u, _ := userWithSession(t, s, "ann@example.com")
	m := outbox.Message{To: "ann@example.com", Subject: "reset", Text: "link"}
	if err := s.IssueLink(ctx, link(u, "h1", auth.PurposeResetPassword, u.Email), []outbox.Message{m}, auth.LinkRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := s.IssueLink(ctx, link(u, "v1", auth.PurposeVerifyEmail, u.Email), nil, auth.LinkRequest{}); err != nil {
		t.Fatal(err)
	}
	// A second link with a taken hash fails whole: no mail goes out for it.
	if err := s.IssueLink(ctx, link(u, "h1", auth.PurposeResetPassword, u.Email), []outbox.Message{m}, auth.LinkRequest{}); err == nil {
		t.Fatal("a duplicate hash was stored")
	}
	if n := depth(t, s); n != 1 {
		t.Fatalf("outbox depth %d, want 1 (the failed link's mail rolled back)", n)
	}
	tok, err := s.LinkToken(ctx, "h1")
	if err != nil || tok.UserID != u.ID || tok.Purpose != auth.PurposeResetPassword || !tok.UsedAt.IsZero() || !tok.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("stored %+v, %v", tok, err)
	}
	// A newer reset link voids the first, and only links of its purpose.
	if err := s.IssueLink(ctx, link(u, "h2", auth.PurposeResetPassword, u.Email), nil, auth.LinkRequest{}); err != nil {
		t.Fatal(err)
	}
	if tok, _ := s.LinkToken(ctx, "h1"); tok.UsedAt.IsZero() {
		t.Fatal("the older reset link was not voided")
	}
	if tok, _ := s.LinkToken(ctx, "v1"); !tok.UsedAt.IsZero() {
		t.Fatal("a link of another purpose was voided")
	}
	if _, err := s.LinkToken(ctx, "nope"); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("unknown hash: %v", err)
	}
}

func TestUseLinkSpendsOnceAndAppliesItsEffect(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	u, sid := userWithSession(t, s, "ann@example.com")
	for _, h := range []string{"r1", "r2"} {
		if err := s.IssueLink(ctx, auth.LinkToken{Hash: h, UserID: u.ID, Purpose: auth.PurposeResetPassword, Email: u.Email,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, nil, auth.LinkRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	// r1 was voided by r2.
	use := auth.LinkUse{Hash: "r1", Purpose: auth.PurposeResetPassword, UserID: u.ID, Email: u.Email, Now: now, PasswordHash: "new", LiveUntil: now.Add(time.Hour)}
	if _, _, err := s.UseLink(ctx, use); !errors.Is(err, auth.ErrLinkSpent) {
		t.Fatalf("voided link: %v", err)
	}
	use.Hash = "r2"
	use.Purpose = auth.PurposeVerifyEmail // the wrong purpose spends nothing
	if _, _, err := s.UseLink(ctx, use); !errors.Is(err, auth.ErrLinkSpent) {
		t.Fatalf("wrong purpose: %v", err)
	}
	use.Purpose = auth.PurposeResetPassword
	notice := outbox.Message{To: u.Email, Subject: "changed", Text: "x"}
	use.Mails = []outbox.Message{notice}
	got, ended, err := s.UseLink(ctx, use)
	if err != nil || len(ended) != 1 || ended[0] != sid || !got.EmailVerified {
		t.Fatalf("reset: %+v, %v, %v", got, ended, err)
	}
	if h, _ := s.PasswordHash(ctx, u.ID); h != "new" {
		t.Fatalf("hash %q", h)
	}
	if n := depth(t, s); n != 1 {
		t.Fatalf("the notice is not in the outbox (depth %d)", n)
	}
	if _, _, err := s.UseLink(ctx, use); !errors.Is(err, auth.ErrLinkSpent) {
		t.Fatalf("second use: %v", err)
	}
	// Expired: spends nothing.
	if err := s.IssueLink(ctx, auth.LinkToken{Hash: "r3", UserID: u.ID, Purpose: auth.PurposeResetPassword, Email: u.Email,
		CreatedAt: now, ExpiresAt: now.Add(time.Minute)}, nil, auth.LinkRequest{}); err != nil {
		t.Fatal(err)
	}
	use.Hash, use.Now = "r3", now.Add(time.Minute)
	if _, _, err := s.UseLink(ctx, use); !errors.Is(err, auth.ErrLinkSpent) {
		t.Fatalf("expired: %v", err)
	}
}

func TestPasswordChangeVoidsResetLinks(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	u, sid := userWithSession(t, s, "ann@example.com")
	if err := s.IssueLink(ctx, link(u, "r1", auth.PurposeResetPassword, u.Email), nil, auth.LinkRequest{}); err != nil {
		t.Fatal(err)
	}
	keep := auth.Session{ID: sid, UserID: u.ID}
	next := auth.RefreshToken{Hash: "next", SessionID: sid, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if _, err := s.ChangePassword(ctx, u.ID, "changed", keep, next, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if tok, _ := s.LinkToken(ctx, "r1"); tok.UsedAt.IsZero() {
		t.Fatal("a reset link outlived a password change")
	}
}

func TestVerifyAndChangeEmailLinks(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	u, _ := userWithSession(t, s, "ann@example.com")
	other, _ := userWithSession(t, s, "taken@example.com")
	_ = other
	for _, l := range []auth.LinkToken{
		link(u, "v1", auth.PurposeVerifyEmail, u.Email),
		link(u, "c1", auth.PurposeChangeEmail, "taken@example.com"),
	} {
		if err := s.IssueLink(ctx, l, nil, auth.LinkRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	// A taken address at confirmation: already_exists, nothing spent.
	taken := auth.LinkUse{Hash: "c1", Purpose: auth.PurposeChangeEmail, UserID: u.ID, Email: "taken@example.com", Now: now}
	if _, _, err := s.UseLink(ctx, taken); auth.ErrorCode(err) != auth.CodeAlreadyExists {
		t.Fatalf("taken address: %v", err)
	}
	if tok, _ := s.LinkToken(ctx, "c1"); !tok.UsedAt.IsZero() {
		t.Fatal("a refused confirmation spent its link")
	}
	if err := s.IssueLink(ctx, link(u, "c2", auth.PurposeChangeEmail, "new@example.com"), nil, auth.LinkRequest{}); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.UseLink(ctx, auth.LinkUse{Hash: "c2", Purpose: auth.PurposeChangeEmail, UserID: u.ID, Email: "new@example.com", Now: now})
	if err != nil || got.Email != "new@example.com" || !got.EmailVerified {
		t.Fatalf("change: %+v, %v", got, err)
	}
	// The verification link of the old address is void now.
	if _, _, err := s.UseLink(ctx, auth.LinkUse{Hash: "v1", Purpose: auth.PurposeVerifyEmail, UserID: u.ID, Email: "ann@example.com", Now: now}); !errors.Is(err, auth.ErrLinkSpent) {
		t.Fatalf("old address's verification link: %v", err)
	}
	// Deleting the user deletes its links.
	if _, err := s.DeleteUser(ctx, u.ID, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LinkToken(ctx, "c2"); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("a deleted user's link remains: %v", err)
	}
}
