// Package books is Gatehouse's demo resource (seed 002's bookstore): each
// book belongs to the user who created it. Its handlers know callers only
// through guard's claims, as any application protected by Gatehouse would.
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

// Store persists books. Every lookup is scoped to an owner, so another user's
// book is simply not found.
type Store interface {
	CreateBook(ctx context.Context, b Book) error
	// Books lists the books of ownerID, or every book when ownerID is "".
	Books(ctx context.Context, ownerID string) ([]Book, error)
	Book(ctx context.Context, id, ownerID string) (Book, error)
	UpdateBook(ctx context.Context, b Book) error
	DeleteBook(ctx context.Context, id, ownerID string) error
}
