package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
)

// linkMail is a mail whose both parts carry a link only it has.
func linkMail(to, secret string) outbox.Message {
	return outbox.Message{To: to, Subject: "Reset your password",
		Text: "Open https://id.example.com/reset-password?token=" + secret,
		HTML: `<a href="https://id.example.com/reset-password?token=` + secret + `">reset</a>`}
}

// bodies counts the outbox rows that still hold a body, plain or sealed.
func bodies(t *testing.T, s *store.Store) int {
	t.Helper()
	n, err := s.Count(context.Background(), `SELECT COUNT(*) FROM mail_outbox WHERE text_body <> '' OR html_body <> '' OR sealed_body <> ''`)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestQueuedMailIsSealedAndBlankedOnceDone(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	sent, given := linkMail("ann@example.com", "secret-of-ann-4f1d"), linkMail("bob@example.com", "secret-of-bob-9c2e")
	if err := s.EnqueueMail(ctx, now, sent, given); err != nil {
		t.Fatal(err)
	}
	copied := storetest.Copy(t, s)
	for _, secret := range []string{"secret-of-ann-4f1d", "secret-of-bob-9c2e", "reset-password"} {
		if strings.Contains(copied, secret) {
			t.Fatalf("a copy of the database holds %q of a queued mail", secret)
		}
	}
	claimed, err := s.ClaimMail(ctx, "A", now, time.Minute, 5)
	if err != nil || len(claimed) != 2 || claimed[0].Message != sent || claimed[1].Message != given ||
		claimed[0].Unreadable != nil || claimed[1].Unreadable != nil {
		t.Fatalf("claimed %+v, %v; want both mails opened as written", claimed, err)
	}
	if n := bodies(t, s); n != 2 {
		t.Fatalf("%d queued mails keep a body, want 2", n)
	}
	if err := s.MarkSent(ctx, claimed[0].ID, "A", now); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx, claimed[1].ID, "A", now, now.Add(time.Minute), "451 later"); err != nil {
		t.Fatal(err)
	}
	if n := bodies(t, s); n != 1 {
		t.Fatalf("%d mails keep a body after one was sent and one is to be retried, want 1", n)
	}
	retry, err := s.ClaimMail(ctx, "A", now.Add(time.Minute), time.Minute, 5)
	if err != nil || len(retry) != 1 || retry[0].Message != given {
		t.Fatalf("the retry claims %+v, %v", retry, err)
	}
	if err := s.MarkFailed(ctx, retry[0].ID, "A", now, time.Time{}, "550 no such user"); err != nil {
		t.Fatal(err)
	}
	if n := bodies(t, s); n != 0 {
		t.Fatalf("%d mails keep a body once sent or given up, want 0", n)
	}
}

func TestMailSealedForAnotherRowDoesNotOpen(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	if err := s.EnqueueMail(ctx, now, linkMail("ann@example.com", "ann-token"), linkMail("eve@example.com", "eve-token")); err != nil {
		t.Fatal(err)
	}
	entries, err := s.OutboxEntries(ctx, 10)
	if err != nil || len(entries) != 2 {
		t.Fatalf("entries %+v, %v", entries, err)
	}
	// Whoever can write to the database moves ann's sealed body into the
	// row of a mail to eve.
	ann, eve := entries[0].ID, entries[1].ID
	if err := s.Exec(ctx, `UPDATE mail_outbox SET sealed_body = (SELECT sealed_body FROM mail_outbox WHERE id = ?) WHERE id = ?`, ann, eve); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.ClaimMail(ctx, "A", now, time.Minute, 5)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claimed %+v, %v", claimed, err)
	}
	if claimed[0].Unreadable != nil || !strings.Contains(claimed[0].Message.Text, "ann-token") {
		t.Fatalf("ann's own mail: %+v", claimed[0])
	}
	moved := claimed[1]
	if !errors.Is(moved.Unreadable, seal.ErrOpen) || moved.Message.Text != "" || moved.Message.HTML != "" || moved.Message.To != "eve@example.com" {
		t.Fatalf("the moved body opened for another row: %+v", moved)
	}
}

func TestOutboxWithoutMasterKeyWritesNoMail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.EnqueueMail(ctx, now, linkMail("ann@example.com", "t")); err == nil {
		t.Fatal("a mail was written without a key to seal it")
	}
	if _, err := s.ClaimMail(ctx, "A", now, time.Minute, 5); err == nil {
		t.Fatal("mail was claimed without a key to open it")
	}
	if n, err := s.Count(ctx, `SELECT COUNT(*) FROM mail_outbox`); err != nil || n != 0 {
		t.Fatalf("%d rows, %v", n, err)
	}
}

// TestMailQueuedBeforeSealingIsDeliveredAndSealed: mails written plain by
// the version before sealing are still delivered as they are, and the
// first start seals those still queued; the migration blanks the bodies of
// those already sent.
func TestMailQueuedBeforeSealingIsDeliveredAndSealed(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	if err := s.MigrateDownTo(ctx, 13); err != nil {
		t.Fatal(err)
	}
	plain := map[string]outbox.Message{
		"0190a000-0000-7000-8000-000000000001": linkMail("ann@example.com", "old-ann-token"),
		"0190a000-0000-7000-8000-000000000002": linkMail("bob@example.com", "old-bob-token"),
		"0190a000-0000-7000-8000-000000000003": linkMail("cat@example.com", "old-cat-token"),
	}
	for id, m := range plain {
		if err := s.Exec(ctx, `INSERT INTO mail_outbox (id, recipient, subject, text_body, html_body, created_at, next_attempt_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, id, m.To, m.Subject, m.Text, m.HTML, now.UnixMilli(), now.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Exec(ctx, `UPDATE mail_outbox SET sent_at = ? WHERE recipient = 'cat@example.com'`, now.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if n := bodies(t, s); n != 2 {
		t.Fatalf("%d bodies after the migration, want the 2 queued (the sent one blanked)", n)
	}

	first, err := s.ClaimMail(ctx, "A", now, time.Minute, 1)
	if err != nil || len(first) != 1 || first[0].Message != plain[first[0].ID] || first[0].Unreadable != nil {
		t.Fatalf("a mail queued plain is claimed as %+v, %v; want it as written", first, err)
	}
	if n, err := s.SealQueuedMail(ctx); err != nil || n != 2 {
		t.Fatalf("SealQueuedMail = %d, %v; want the 2 queued", n, err)
	}
	if n, err := s.SealQueuedMail(ctx); err != nil || n != 0 {
		t.Fatalf("SealQueuedMail again = %d, %v; want nothing left", n, err)
	}
	// Neither what SQL reads (a dump, a replica) nor, with SQLite, the
	// files (freed pages and the write-ahead log included) hold any of them.
	copied := storetest.Copy(t, s)
	for _, token := range []string{"old-ann-token", "old-bob-token", "old-cat-token"} {
		if strings.Contains(copied, token) {
			t.Fatalf("a copy of the database still holds %q", token)
		}
	}
	if err := s.MarkSent(ctx, first[0].ID, "A", now); err != nil {
		t.Fatal(err)
	}
	rest, err := s.ClaimMail(ctx, "A", now, time.Minute, 5)
	if err != nil || len(rest) != 1 || rest[0].Message != plain[rest[0].ID] || rest[0].Unreadable != nil {
		t.Fatalf("the sealed old mail is claimed as %+v, %v; want it as written", rest, err)
	}
}

func TestMigratingDownGivesUpSealedMail(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	if err := s.EnqueueMail(ctx, now, linkMail("ann@example.com", "t")); err != nil {
		t.Fatal(err)
	}
	if err := s.MigrateDownTo(ctx, 13); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(ctx, `SELECT COUNT(*) FROM mail_outbox WHERE failed_at IS NOT NULL AND last_error LIKE '%sealed%'`); err != nil || n != 1 {
		t.Fatalf("%d sealed mails given up by the down migration, %v; want 1 (the version before would send it empty)", n, err)
	}
}
