package store_test

import (
	"context"
	"fmt"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/books"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/google/uuid"
)

func openTemp(t *testing.T) *store.Store { return storetest.New(t) }

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func newUser(email, username string) auth.User {
	return auth.User{ID: uuid.Must(uuid.NewV7()).String(), Email: email, Username: username, Role: auth.RoleUser, CreatedAt: now}
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	n, err := s.Migrate(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("second Migrate applied %d, err %v; want 0, nil", n, err)
	}
}

func TestUniqueIdentityUnderConcurrency(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := "ann@example.com"
			if i%2 == 1 {
				email = "ANN@Example.COM"
			}
			results <- s.CreateUser(ctx, newUser(email, ""), "h")
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		switch auth.ErrorCode(err) {
		case "":
			ok++
		case auth.CodeAlreadyExists:
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d inserts succeeded, want exactly 1", ok)
	}
	if err := s.CreateUser(ctx, newUser("", "Romel"), "h"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, newUser("", "rOMEL"), "h"); auth.ErrorCode(err) != auth.CodeAlreadyExists {
		t.Fatalf("username in other case: %v, want already_exists", err)
	}
	u, hash, err := s.UserCredentials(ctx, "romel")
	if err != nil || u.Username != "Romel" || hash != "h" {
		t.Fatalf("UserCredentials = %+v %q %v", u, hash, err)
	}
	if _, _, err := s.UserCredentials(ctx, "nobody"); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestRevokeAndDeleteCascade(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	u := newUser("bob@example.com", "bob")
	if err := s.CreateUser(ctx, u, "h"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		sess := auth.Session{ID: fmt.Sprint("s", i), UserID: u.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateSession(ctx, sess, auth.RefreshToken{Hash: fmt.Sprint("h", i), SessionID: sess.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	ended, err := s.RevokeSessions(ctx, auth.SessionFilter{UserID: u.ID, ExceptID: "s1"}, now, now.Add(time.Hour))
	if err != nil || len(ended) != 1 || ended[0] != "s0" {
		t.Fatalf("RevokeSessions = %v, %v; want [s0]", ended, err)
	}
	if _, _, err := s.RefreshToken(ctx, auth.RefreshKey{SessionID: "s0", Hash: "h0"}); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("refresh token of a revoked session still found: %v", err)
	}
	if err := s.CreateBook(ctx, books.Book{ID: "b1", OwnerID: u.ID, Title: "T", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ended, err = s.DeleteUser(ctx, u.ID, now, now.Add(time.Hour))
	if err != nil || len(ended) != 1 || ended[0] != "s1" {
		t.Fatalf("DeleteUser ended %v, %v; want [s1]", ended, err)
	}
	if all, _ := s.Books(ctx, books.Filter{Limit: 10}); len(all) != 0 {
		t.Fatalf("books of a deleted user survive: %v", all)
	}
	page, err := s.Changes(ctx, auth.ChangeFilter{Limit: 10, Now: now})
	if err != nil || len(page.Changes) != 2 || page.Changes[0].SessionID != "s0" || page.Changes[1].SessionID != "s1" {
		t.Fatalf("Changes = %+v, %v; want both sessions in order", page, err)
	}
	if _, err := s.DeleteUser(ctx, u.ID, now, now); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("deleting twice: %v", err)
	}
}

func TestBookOwnership(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	ann, bob := newUser("ann@example.com", ""), newUser("bob@example.com", "")
	for _, u := range []auth.User{ann, bob} {
		if err := s.CreateUser(ctx, u, "h"); err != nil {
			t.Fatal(err)
		}
	}
	b := books.Book{ID: "b1", OwnerID: ann.ID, Title: "Dune", Price: 10, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateBook(ctx, b); err != nil {
		t.Fatal(err)
	}
	bobs := books.Scope{OwnerID: bob.ID, OrgID: "org-of-bob"}
	if _, err := s.Book(ctx, "b1", bobs); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("bob reads ann's book: %v", err)
	}
	b.OwnerID, b.Title = bob.ID, "Stolen"
	if err := s.UpdateBook(ctx, b, bobs); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("bob updates ann's book: %v", err)
	}
	if err := s.DeleteBook(ctx, "b1", bobs); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("bob deletes ann's book: %v", err)
	}
	got, err := s.Book(ctx, "b1", books.Scope{OwnerID: ann.ID})
	if err != nil || got.Title != "Dune" || !got.CreatedAt.Equal(now) || got.OrgID != "" {
		t.Fatalf("ann's book = %+v, %v", got, err)
	}
	// An organization's book is found in that organization's scope only,
	// its creator's personal scope included.
	shared := books.Book{ID: "b2", OwnerID: ann.ID, OrgID: "org-1", Title: "Shared", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateBook(ctx, shared); err != nil {
		t.Fatal(err)
	}
	for _, sc := range []books.Scope{{OwnerID: ann.ID}, {OwnerID: ann.ID, OrgID: "org-2"}, bobs} {
		if _, err := s.Book(ctx, "b2", sc); auth.ErrorCode(err) != auth.CodeNotFound {
			t.Fatalf("the organization's book in scope %+v: %v", sc, err)
		}
	}
	if got, err := s.Book(ctx, "b2", books.Scope{OwnerID: bob.ID, OrgID: "org-1"}); err != nil || got.OrgID != "org-1" {
		t.Fatalf("a member of the organization reads its book: %+v, %v", got, err)
	}
	if list, err := s.Books(ctx, books.Filter{OwnerID: ann.ID, Limit: 10}); err != nil || len(list) != 1 || list[0].ID != "b1" {
		t.Fatalf("ann's personal books: %+v, %v", list, err)
	}
	if list, err := s.Books(ctx, books.Filter{OrgID: "org-1", Limit: 10}); err != nil || len(list) != 1 || list[0].ID != "b2" {
		t.Fatalf("the organization's books: %+v, %v", list, err)
	}
}
