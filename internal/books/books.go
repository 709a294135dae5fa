// Package books is Gatehouse's demo resource (seed 002's bookstore): each
// book belongs to the user who created it. Service holds every rule, over
// the Store port; Gatehouse's JSON API (internal/httpapi) and pages
// (internal/web) are thin adapters over it. books imports guard only: its refusals are *guard.Error,
// which the application's one error writer renders.
package books

import (
	"context"
	"time"
)

// Book is one user's book.
type Book struct {
	ID        string
	OwnerID   string
	Title     string
	Author    string
	Publisher string
	Price     int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Filter selects a page of books, in id (creation) order.
type Filter struct {
	OwnerID string // "" for every user's books
	After   string // only books whose id sorts after this one; "" from the start
	Limit   int    // at most this many
}

// Store persists books. Every lookup is scoped to an owner, so another user's
// book is simply not found.
type Store interface {
	CreateBook(ctx context.Context, b Book) error
	// Books lists a page of books selected by f, oldest first.
	Books(ctx context.Context, f Filter) ([]Book, error)
	Book(ctx context.Context, id, ownerID string) (Book, error)
	UpdateBook(ctx context.Context, b Book) error
	DeleteBook(ctx context.Context, id, ownerID string) error
}
