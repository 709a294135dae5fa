package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

func testMail(i int) outbox.Message {
	return outbox.Message{To: fmt.Sprintf("u%d@example.com", i), Subject: fmt.Sprint("s", i), Text: "text", HTML: "<p>html</p>"}
}

func depth(t *testing.T, s *store.Store) int {
	t.Helper()
	n, err := s.OutboxDepth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOutboxEnqueueIsPartOfItsTransaction(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	if err := store.EnqueueMailThenFail(ctx, s, now, testMail(1)); err == nil {
		t.Fatal("the failing transaction succeeded")
	}
	if n := depth(t, s); n != 0 {
		t.Fatalf("a mail of a rolled-back transaction stayed in the outbox (depth %d)", n)
	}
	if err := s.EnqueueMail(ctx, now, outbox.Message{Subject: "no one"}); err == nil {
		t.Fatal("a mail without a recipient was enqueued")
	}
	if err := s.EnqueueMail(ctx, now, testMail(1), testMail(2)); err != nil {
		t.Fatal(err)
	}
	if n := depth(t, s); n != 2 {
		t.Fatalf("depth %d, want 2", n)
	}
}

func TestOutboxLeasesRetriesAndGivingUp(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	if err := s.EnqueueMail(ctx, now, testMail(1), testMail(2), testMail(3)); err != nil {
		t.Fatal(err)
	}
	lease := 10 * time.Second
	a, err := s.ClaimMail(ctx, "A", now, lease, 2)
	if err != nil || len(a) != 2 || a[0].Attempts != 1 || a[0].Message != testMail(1) || !a[0].CreatedAt.Equal(now) {
		t.Fatalf("A claims %+v, %v; want the first two, attempt 1", a, err)
	}
	b, err := s.ClaimMail(ctx, "B", now, lease, 5)
	if err != nil || len(b) != 1 || b[0].Message != testMail(3) {
		t.Fatalf("B claims %+v, %v; want only the third (the others are leased)", b, err)
	}
	if again, _ := s.ClaimMail(ctx, "B", now.Add(lease-time.Millisecond), lease, 5); len(again) != 0 {
		t.Fatalf("claimed %d leased mails again", len(again))
	}
	if err := s.MarkSent(ctx, a[0].ID, "B", now); !errors.Is(err, outbox.ErrLeaseLost) {
		t.Fatalf("B marks A's mail sent: %v, want ErrLeaseLost", err)
	}
	if err := s.MarkSent(ctx, a[0].ID, "A", now); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx, a[1].ID, "A", now, now.Add(30*time.Second), "451 try later"); err != nil {
		t.Fatal(err)
	}
	if n := depth(t, s); n != 2 {
		t.Fatalf("depth %d after one sent, want 2", n)
	}
	// B's lease runs out without a word from B: A takes the mail over.
	over, err := s.ClaimMail(ctx, "A", now.Add(lease), lease, 5)
	if err != nil || len(over) != 1 || over[0].ID != b[0].ID || over[0].Attempts != 2 {
		t.Fatalf("after B's lease: %+v, %v; want B's mail at attempt 2", over, err)
	}
	if err := s.MarkSent(ctx, b[0].ID, "B", now.Add(lease)); !errors.Is(err, outbox.ErrLeaseLost) {
		t.Fatalf("B reports a mail whose lease ran out: %v, want ErrLeaseLost", err)
	}
	if err := s.MarkSent(ctx, over[0].ID, "A", now.Add(lease)); err != nil {
		t.Fatal(err)
	}
	retry, err := s.ClaimMail(ctx, "B", now.Add(30*time.Second), lease, 5)
	if err != nil || len(retry) != 1 || retry[0].ID != a[1].ID || retry[0].Attempts != 2 {
		t.Fatalf("at its retry time: %+v, %v; want the failed mail at attempt 2", retry, err)
	}
	if err := s.MarkFailed(ctx, retry[0].ID, "B", now.Add(31*time.Second), time.Time{}, "550 no such user"); err != nil {
		t.Fatal(err)
	}
	if n := depth(t, s); n != 0 {
		t.Fatalf("depth %d, want 0 (two sent, one given up)", n)
	}
	if late, _ := s.ClaimMail(ctx, "B", now.Add(24*time.Hour), lease, 5); len(late) != 0 {
		t.Fatalf("claimed %d ended mails", len(late))
	}
	entries, err := s.OutboxEntries(ctx, 10)
	if err != nil || len(entries) != 3 {
		t.Fatalf("entries %+v, %v", entries, err)
	}
	given := entries[1]
	if given.FailedAt.IsZero() || given.LastError != "550 no such user" || given.Attempts != 2 || !given.SentAt.IsZero() {
		t.Fatalf("the given-up mail reads %+v", given)
	}
	if entries[0].SentAt.IsZero() || entries[0].LastError != "" {
		t.Fatalf("the sent mail reads %+v", entries[0])
	}
	if n, err := s.PruneMail(ctx, now.Add(20*time.Second)); err != nil || n != 2 {
		t.Fatalf("PruneMail before the last end = %d, %v; want the two sent", n, err)
	}
	if n, err := s.PruneMail(ctx, now.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("PruneMail = %d, %v; want the given-up one", n, err)
	}
}

func TestOutboxConcurrentClaimsTakeEachMailOnce(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	var msgs []outbox.Message
	for i := range 60 {
		msgs = append(msgs, testMail(i))
	}
	if err := s.EnqueueMail(ctx, now, msgs...); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := s.ClaimMail(ctx, fmt.Sprint("w", w), now, time.Minute, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 60 {
		t.Fatalf("%d distinct mails claimed, want 60", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("mail %s claimed %d times", id, n)
		}
	}
}
