// Package books is Gatehouse's demo resource (seed 002's bookstore): each
// book belongs to the user who created it, or, when created by a token
// acting in an organization, to that organization: its members read it,
// and those whose role holds books:write change it. Service holds every rule, over
// the Store port; Gatehouse's JSON API (internal/httpapi) and pages
// (internal/web) are thin adapters over it. books imports guard only: its refusals are *guard.Error,
// which the application's one error writer renders.
package books

import (
	"context"
	"time"
)

// Book is one user's book, or one organization's (OrgID).
type Book struct {
	ID        string
	OwnerID   string // who created it
	OrgID     string // the organization it belongs to; "" for a personal book
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
	OrgID   string // with OwnerID "": this organization's books only
	After   string // only books whose id sorts after this one; "" from the start
	Limit   int    // at most this many
}

// Scope is whose books a lookup may find: OwnerID's personal books, and
// when OrgID is set that organization's.
type Scope struct {
	OwnerID string
	OrgID   string
}

// Store persists books. Every lookup is scoped, so another user's or
// another organization's book is simply not found.
type Store interface {
	CreateBook(ctx context.Context, b Book) error
	// Books lists a page of books selected by f, oldest first.
	Books(ctx context.Context, f Filter) ([]Book, error)
	Book(ctx context.Context, id string, in Scope) (Book, error)
	// UpdateBook writes b's fields if b is in scope.
	UpdateBook(ctx context.Context, b Book, in Scope) error
	DeleteBook(ctx context.Context, id string, in Scope) error
}
