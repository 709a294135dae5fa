package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/books"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
)

// TestBooksPages walks the books of one owner and of everyone in pages: each
// book once, in id order, another owner's never in an owner's pages.
func TestBooksPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := storetest.New(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	owners := map[string]string{}
	for _, name := range []string{"ann", "bob"} {
		u := auth.User{ID: fmt.Sprintf("0190a000-0000-7000-8000-%012d", len(owners)), Email: name + "@example.com", Role: auth.RoleUser, CreatedAt: now}
		if err := s.CreateUser(ctx, u, "x"); err != nil {
			t.Fatal(err)
		}
		owners[name] = u.ID
	}
	for i := range 7 {
		owner := owners["ann"]
		if i%3 == 2 {
			owner = owners["bob"]
		}
		b := books.Book{ID: fmt.Sprintf("0190b000-0000-7000-8000-%012d", i), OwnerID: owner, Title: "T", CreatedAt: now, UpdatedAt: now}
		if err := s.CreateBook(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	walk := func(owner string) []string {
		var ids []string
		f := books.Filter{OwnerID: owner, Limit: 2}
		for {
			page, err := s.Books(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range page {
				if owner != "" && b.OwnerID != owner {
					t.Fatalf("page of %s holds a book of %s", owner, b.OwnerID)
				}
				if len(ids) > 0 && b.ID <= ids[len(ids)-1] {
					t.Fatalf("book %s after %s: not in id order", b.ID, ids[len(ids)-1])
				}
				ids = append(ids, b.ID)
			}
			if len(page) < f.Limit {
				return ids
			}
			f.After = page[len(page)-1].ID
		}
	}
	if got := walk(owners["ann"]); len(got) != 5 {
		t.Fatalf("ann's pages held %d books, want 5: %v", len(got), got)
	}
	if got := walk(owners["bob"]); len(got) != 2 {
		t.Fatalf("bob's pages held %d books, want 2: %v", len(got), got)
	}
	if got := walk(""); len(got) != 7 {
		t.Fatalf("everyone's pages held %d books, want 7: %v", len(got), got)
	}
}
