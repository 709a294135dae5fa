package main

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/books"
	_ "modernc.org/sqlite"
)

// store keeps this service's books in its own SQLite file. Owners are
// Gatehouse user ids (the token's sub); this service has no users table.
type store struct{ db *sql.DB }

func openStore(ctx context.Context, path string) (*store, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	_, err = db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS books (
		id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, title TEXT NOT NULL, author TEXT NOT NULL,
		publisher TEXT NOT NULL, price INTEGER NOT NULL CHECK (price >= 0),
		created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
		CREATE INDEX IF NOT EXISTS books_owner ON books (owner_id, id);`)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &store{db: db}, nil
}

func (s *store) Close() error { return s.db.Close() }

var errNotFound = auth.Errorf(auth.CodeNotFound, "The book was not found.")

func (s *store) CreateBook(ctx context.Context, b books.Book) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO books VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		b.ID, b.OwnerID, b.Title, b.Author, b.Publisher, b.Price, b.CreatedAt.UnixMilli(), b.UpdatedAt.UnixMilli())
	return err
}

func (s *store) Books(ctx context.Context, f books.Filter) ([]books.Book, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT * FROM books WHERE (owner_id = ? OR ? = '') AND id > ? ORDER BY id LIMIT ?`,
		f.OwnerID, f.OwnerID, f.After, f.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []books.Book{}
	for rows.Next() {
		b, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

func (s *store) Book(ctx context.Context, id, ownerID string) (books.Book, error) {
	b, err := scan(s.db.QueryRowContext(ctx, `SELECT * FROM books WHERE id = ? AND owner_id = ?`, id, ownerID))
	if errors.Is(err, sql.ErrNoRows) {
		return b, errNotFound
	}
	return b, err
}

func (s *store) UpdateBook(ctx context.Context, b books.Book) error {
	return one(s.db.ExecContext(ctx, `UPDATE books SET title = ?, author = ?, publisher = ?, price = ?, updated_at = ?
		WHERE id = ? AND owner_id = ?`, b.Title, b.Author, b.Publisher, b.Price, b.UpdatedAt.UnixMilli(), b.ID, b.OwnerID))
}

func (s *store) DeleteBook(ctx context.Context, id, ownerID string) error {
	return one(s.db.ExecContext(ctx, `DELETE FROM books WHERE id = ? AND owner_id = ?`, id, ownerID))
}

func scan(row interface{ Scan(...any) error }) (books.Book, error) {
	var b books.Book
	var created, updated int64
	err := row.Scan(&b.ID, &b.OwnerID, &b.Title, &b.Author, &b.Publisher, &b.Price, &created, &updated)
	b.CreatedAt, b.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return b, err
}

func one(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return errNotFound
	}
	return nil
}
