package main

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	_ "modernc.org/sqlite"
)

// store keeps this service's books in its own SQLite file. Owners are
// Gatehouse user ids (the token's sub) and organizations Gatehouse
// organization ids (the token's org_id); this service has no users table.
// Every lookup is scoped to an owner and an organization, so another
// user's or another organization's book is not found.
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
	if err == nil { // org_id came later: add it to a file made before
		_, err = db.ExecContext(ctx, `ALTER TABLE books ADD COLUMN org_id TEXT NOT NULL DEFAULT ''`)
		if err != nil && strings.Contains(err.Error(), "duplicate column") {
			err = nil
		}
	}
	if err == nil {
		_, err = db.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS books_org ON books (org_id, id)`)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return &store{db: db}, nil
}

func (s *store) Close() error { return s.db.Close() }

func (s *store) create(ctx context.Context, b book) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO books (`+columns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.ID, b.OwnerID, b.OrgID, b.Title, b.Author, b.Publisher, b.Price, b.CreatedAt.UnixMilli(), b.UpdatedAt.UnixMilli())
	return err
}

const columns = "id, owner_id, org_id, title, author, publisher, price, created_at, updated_at"

// inScope: a personal book of the owner, or a book of the organization
// (arguments: owner, organization; "" for none).
const inScope = `((org_id = '' AND owner_id = ?) OR (org_id <> '' AND org_id = ?))`

// scope is whose books a caller reaches: its own, and its organization's.
type scope struct{ ownerID, orgID string }

// filter selects a page of books in id (creation) order.
type filter struct {
	scope        // the zero scope: every user's books
	after string // only books whose id sorts after this one; "" from the start
	limit int
}

func (s *store) list(ctx context.Context, f filter) ([]book, error) {
	q, args := `SELECT `+columns+` FROM books WHERE id > ? ORDER BY id LIMIT ?`, []any{f.after, f.limit}
	switch {
	case f.orgID != "":
		q, args = `SELECT `+columns+` FROM books WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?`, []any{f.orgID, f.after, f.limit}
	case f.ownerID != "":
		q, args = `SELECT `+columns+` FROM books WHERE org_id = '' AND owner_id = ? AND id > ? ORDER BY id LIMIT ?`, []any{f.ownerID, f.after, f.limit}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []book{}
	for rows.Next() {
		b, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

func (s *store) get(ctx context.Context, id string, sc scope) (book, error) {
	b, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM books WHERE id = ? AND `+inScope, id, sc.ownerID, sc.orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return b, errNotFound
	}
	return b, err
}

func (s *store) update(ctx context.Context, b book, sc scope) error {
	return one(s.db.ExecContext(ctx, `UPDATE books SET title = ?, author = ?, publisher = ?, price = ?, updated_at = ?
		WHERE id = ? AND `+inScope, b.Title, b.Author, b.Publisher, b.Price, b.UpdatedAt.UnixMilli(), b.ID, sc.ownerID, sc.orgID))
}

func (s *store) remove(ctx context.Context, id string, sc scope) error {
	return one(s.db.ExecContext(ctx, `DELETE FROM books WHERE id = ? AND `+inScope, id, sc.ownerID, sc.orgID))
}

func scan(row interface{ Scan(...any) error }) (book, error) {
	var b book
	var created, updated int64
	err := row.Scan(&b.ID, &b.OwnerID, &b.OrgID, &b.Title, &b.Author, &b.Publisher, &b.Price, &created, &updated)
	b.CreatedAt, b.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return b, err
}

// one is the outcome of a statement that must touch exactly one book.
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
