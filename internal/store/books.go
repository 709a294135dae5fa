package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/gatehouse-auth/gatehouse/internal/books"
)

const bookColumns = "id, owner_id, title, author, publisher, price, created_at, updated_at"

func scanBook(row interface{ Scan(...any) error }) (books.Book, error) {
	var b books.Book
	err := row.Scan(&b.ID, &b.OwnerID, &b.Title, &b.Author, &b.Publisher, &b.Price, msDest{&b.CreatedAt}, msDest{&b.UpdatedAt})
	return b, err
}

// CreateBook inserts b.
func (s *Store) CreateBook(ctx context.Context, b books.Book) error {
	_, err := s.writer().exec(ctx, `INSERT INTO books (`+bookColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		b.ID, b.OwnerID, b.Title, b.Author, b.Publisher, b.Price, ms(b.CreatedAt), ms(b.UpdatedAt))
	return err
}

// Books lists a page of f.OwnerID's books, or everyone's when it is "",
// oldest (lowest id) first, after f.After.
func (s *Store) Books(ctx context.Context, f books.Filter) ([]books.Book, error) {
	// Two statements, so each walks an index in order: (owner_id, id), or the key.
	query, args := `SELECT `+bookColumns+` FROM books WHERE id > ? ORDER BY id LIMIT ?`, []any{f.After, f.Limit}
	if f.OwnerID != "" {
		query = `SELECT ` + bookColumns + ` FROM books WHERE owner_id = ? AND id > ? ORDER BY id LIMIT ?`
		args = []any{f.OwnerID, f.After, f.Limit}
	}
	rows, err := s.reader().query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []books.Book{}
	for rows.Next() {
		b, err := scanBook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Book returns the book id if ownerID owns it.
func (s *Store) Book(ctx context.Context, id, ownerID string) (books.Book, error) {
	b, err := scanBook(s.reader().queryRow(ctx, `SELECT `+bookColumns+` FROM books WHERE id = ? AND owner_id = ?`, id, ownerID))
	if errors.Is(err, sql.ErrNoRows) {
		return b, notFound("The book")
	}
	return b, err
}

// UpdateBook writes b's fields if b.OwnerID owns it.
func (s *Store) UpdateBook(ctx context.Context, b books.Book) error {
	res, err := s.writer().exec(ctx, `UPDATE books SET title = ?, author = ?, publisher = ?, price = ?, updated_at = ?
		WHERE id = ? AND owner_id = ?`, b.Title, b.Author, b.Publisher, b.Price, ms(b.UpdatedAt), b.ID, b.OwnerID)
	return affectedOne(res, err, "The book")
}

// DeleteBook deletes the book id if ownerID owns it.
func (s *Store) DeleteBook(ctx context.Context, id, ownerID string) error {
	res, err := s.writer().exec(ctx, `DELETE FROM books WHERE id = ? AND owner_id = ?`, id, ownerID)
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
