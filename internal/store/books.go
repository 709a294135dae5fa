package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/gatehouse-auth/gatehouse/internal/books"
)

const bookColumns = "id, owner_id, COALESCE(org_id, ''), title, author, publisher, price, created_at, updated_at"

func scanBook(row scanner) (books.Book, error) {
	var b books.Book
	err := row.Scan(&b.ID, &b.OwnerID, &b.OrgID, &b.Title, &b.Author, &b.Publisher, &b.Price, msDest{&b.CreatedAt}, msDest{&b.UpdatedAt})
	return b, err
}

// CreateBook inserts b.
func (s *Store) CreateBook(ctx context.Context, b books.Book) error {
	_, err := s.writer().exec(ctx, `INSERT INTO books (id, owner_id, org_id, title, author, publisher, price, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.ID, b.OwnerID, nullString(b.OrgID), b.Title, b.Author, b.Publisher, b.Price, ms(b.CreatedAt), ms(b.UpdatedAt))
	return err
}

// Books lists a page of f.OwnerID's personal books, f.OrgID's books, or
// everyone's when both are "", oldest (lowest id) first, after f.After.
func (s *Store) Books(ctx context.Context, f books.Filter) ([]books.Book, error) {
	// One statement each, so each walks an index in order: (owner_id, id),
	// (org_id, id), or the key.
	query, args := `SELECT `+bookColumns+` FROM books WHERE id > ? ORDER BY id LIMIT ?`, []any{f.After, f.Limit}
	switch {
	case f.OwnerID != "":
		query = `SELECT ` + bookColumns + ` FROM books WHERE owner_id = ? AND org_id IS NULL AND id > ? ORDER BY id LIMIT ?`
		args = []any{f.OwnerID, f.After, f.Limit}
	case f.OrgID != "":
		query = `SELECT ` + bookColumns + ` FROM books WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?`
		args = []any{f.OrgID, f.After, f.Limit}
	}
	return queryAll(ctx, s.reader(), []books.Book{}, scanBook, query, args...)
}

// inScope is the condition of a book in scope: a personal book of its
// owner, or a book of its organization (arguments: owner, organization).
const inScope = `((org_id IS NULL AND owner_id = ?) OR org_id = ?)`

// Book returns the book id if it is in scope.
func (s *Store) Book(ctx context.Context, id string, in books.Scope) (books.Book, error) {
	b, err := scanBook(s.reader().queryRow(ctx, `SELECT `+bookColumns+` FROM books WHERE id = ? AND `+inScope, id, in.OwnerID, in.OrgID))
	if errors.Is(err, sql.ErrNoRows) {
		return b, notFound("The book")
	}
	return b, err
}

// UpdateBook writes b's fields if b is in scope.
func (s *Store) UpdateBook(ctx context.Context, b books.Book, in books.Scope) error {
	res, err := s.writer().exec(ctx, `UPDATE books SET title = ?, author = ?, publisher = ?, price = ?, updated_at = ?
		WHERE id = ? AND `+inScope, b.Title, b.Author, b.Publisher, b.Price, ms(b.UpdatedAt), b.ID, in.OwnerID, in.OrgID)
	return affectedOne(res, err, "The book")
}

// DeleteBook deletes the book id if it is in scope.
func (s *Store) DeleteBook(ctx context.Context, id string, in books.Scope) error {
	res, err := s.writer().exec(ctx, `DELETE FROM books WHERE id = ? AND `+inScope, id, in.OwnerID, in.OrgID)
	return affectedOne(res, err, "The book")
}

func affectedOne(res sql.Result, err error, what string) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return notFound(what)
	}
	return nil
}
