package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

func addRequest(t *testing.T, s *store.Store, ident string, at time.Time) string {
	t.Helper()
	id, err := s.AddLinkRequest(context.Background(), auth.LinkRequest{Kind: auth.RequestReset, Identifier: ident,
		Client: auth.Client{IP: "192.0.2.1", UserAgent: "ua"}, CreatedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func requestCount(t *testing.T, s *store.Store) int {
	t.Helper()
	n, err := s.LinkRequestCount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Two claimers (batch sweeps and the per-request job) racing over the same
// rows each get every row at most once while its lease lasts, and together
// get all of them.
func TestLinkRequestsClaimedOnceAcrossClaimers(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	var ids []string
	for i := range 40 {
		ids = append(ids, addRequest(t, s, fmt.Sprintf("u%d@example.com", i), now.Add(-time.Minute)))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	take := func(rs ...auth.LinkRequest) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range rs {
			seen[r.ID]++
		}
	}
	var wg sync.WaitGroup
	for w := range 2 { // two sweepers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := s.ClaimLinkRequests(ctx, fmt.Sprint("sweep", w), now, now, time.Minute, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				take(got...)
			}
		}()
	}
	wg.Add(1)
	go func() { // the woken jobs, by id
		defer wg.Done()
		for _, id := range ids {
			r, err := s.ClaimLinkRequest(ctx, id, "job-"+id, now, time.Minute)
			if errors.Is(err, auth.ErrLinkRequestLost) {
				continue
			}
			if err != nil {
				t.Error(err)
				return
			}
			take(r)
		}
	}()
	wg.Wait()
	if len(seen) != len(ids) {
		t.Fatalf("%d distinct requests claimed, want %d", len(seen), len(ids))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("request %s claimed %d times", id, n)
		}
	}
	// Leased: nobody gets them again until the lease ends; then they are due.
	if got, err := s.ClaimLinkRequests(ctx, "late", now.Add(59*time.Second), now, time.Minute, 100); err != nil || len(got) != 0 {
		t.Fatalf("claimed %d leased requests, err %v", len(got), err)
	}
	if _, err := s.ClaimLinkRequest(ctx, ids[0], "late", now.Add(59*time.Second), time.Minute); !errors.Is(err, auth.ErrLinkRequestLost) {
		t.Fatalf("a leased request claimed by id: %v", err)
	}
	got, err := s.ClaimLinkRequests(ctx, "late", now.Add(time.Minute), now, time.Minute, 100)
	if err != nil || len(got) != len(ids) {
		t.Fatalf("after the leases: claimed %d, err %v; want %d", len(got), err, len(ids))
	}
	if got[0].Identifier != "u0@example.com" || got[0].Kind != auth.RequestReset || got[0].Client.IP != "192.0.2.1" ||
		got[0].Client.UserAgent != "ua" || !got[0].CreatedAt.Equal(now.Add(-time.Minute)) || got[0].Owner != "late" {
		t.Fatalf("claimed request %+v", got[0])
	}
}

// The sweep takes only requests older than its bound: a fresh one is its
// own job's.
func TestLinkRequestsSweepSkipsFreshOnes(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	addRequest(t, s, "fresh@example.com", now)
	got, err := s.ClaimLinkRequests(context.Background(), "sweep", now, now.Add(-time.Second), time.Minute, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("claimed %d fresh requests, err %v", len(got), err)
	}
}

// The link, its mail and the request's deletion are one transaction, done
// only by the lease holder: a claimer whose lease was taken over writes
// nothing, so the request is mailed once.
func TestIssueLinkDeletesItsRequestOnlyUnderItsLease(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	u := newUser("bob@example.com", "")
	if err := s.CreateUser(ctx, u, "hash"); err != nil {
		t.Fatal(err)
	}
	id := addRequest(t, s, u.Email, now)
	first, err := s.ClaimLinkRequest(ctx, id, "first", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.ClaimLinkRequest(ctx, id, "second", now.Add(time.Minute), time.Minute) // first's lease ran out
	if err != nil {
		t.Fatal(err)
	}
	m := outbox.Message{To: u.Email, Subject: "Reset", Text: "link"}
	err = s.IssueLink(ctx, link(u, "late", auth.PurposeResetPassword, u.Email), []outbox.Message{m}, first)
	if !errors.Is(err, auth.ErrLinkRequestLost) {
		t.Fatalf("issue under a lost lease: %v, want ErrLinkRequestLost", err)
	}
	if _, err := s.LinkToken(ctx, "late"); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("the link of a lost lease was stored: %v", err)
	}
	if d := depth(t, s); d != 0 {
		t.Fatalf("outbox depth %d after a lost lease, want 0", d)
	}
	if err := s.DropLinkRequest(ctx, first); !errors.Is(err, auth.ErrLinkRequestLost) {
		t.Fatalf("drop under a lost lease: %v", err)
	}
	if err := s.IssueLink(ctx, link(u, "h", auth.PurposeResetPassword, u.Email), []outbox.Message{m}, second); err != nil {
		t.Fatal(err)
	}
	if d, n := depth(t, s), requestCount(t, s); d != 1 || n != 0 {
		t.Fatalf("after the holder's issue: outbox %d, requests %d; want 1, 0", d, n)
	}
	if err := s.IssueLink(ctx, link(u, "h2", auth.PurposeResetPassword, u.Email), []outbox.Message{m}, second); !errors.Is(err, auth.ErrLinkRequestLost) {
		t.Fatalf("a second issue for a served request: %v", err)
	}
	// Dropped alone when nothing is mailed.
	id = addRequest(t, s, "nobody@example.com", now)
	r, err := s.ClaimLinkRequest(ctx, id, "job", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DropLinkRequest(ctx, r); err != nil || requestCount(t, s) != 0 {
		t.Fatalf("drop: %v, %d left", err, requestCount(t, s))
	}
}

// Requests older than a day are pruned.
func TestPruneDropsDayOldLinkRequests(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	addRequest(t, s, "old@example.com", now.Add(-25*time.Hour))
	addRequest(t, s, "new@example.com", now.Add(-23*time.Hour))
	if _, err := s.Prune(context.Background(), store.PruneOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
	if n := requestCount(t, s); n != 1 {
		t.Fatalf("%d requests after prune, want 1", n)
	}
}
