package store

import (
	"context"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// The change feed (table changes): ended sessions, changed users and changed
// clients, each
// numbered with a seq that follows commit order, so a reader that has seen
// seq n has seen every entry up to n and will see every later one. A clock
// cannot give that: a transaction stamped at T may commit long after one
// stamped later (they queue for the writer), and a reader that moved past T
// meanwhile would never see it.
//
// How seq follows commit order: every transaction writes its entries last,
// just before it commits (inTx calls writeChanges), numbering them from
// MAX(seq) + 1 while it holds the feed's writer lock until the commit.
//   - SQLite has one writer (BEGIN IMMEDIATE): the lock is the database's.
//   - PostgreSQL runs writers concurrently, and a sequence value taken inside
//     a transaction is not commit-ordered: tx1 takes 10, tx2 takes 11 and
//     commits first, a reader sees 11, moves its cursor past 10 and never sees
//     it. So writers take pg_advisory_xact_lock(changesLockKey) first; it is
//     held until commit, so the next writer numbers its entries only after
//     this one's are visible. (The alternative, reading only below the
//     snapshot's xmin, needs PostgreSQL-only reads and still delays every
//     reader behind the oldest open transaction; the lock is taken only by
//     writes that end sessions or change users, for the few statements
//     between the entries' insert and the commit, and after every other row
//     lock of the transaction, so it adds no lock-order cycle.)
//
// MAX + 1 under the lock also leaves no gaps for a rolled-back transaction,
// and needs no dialect-specific column type. Prune never deletes the newest
// entry, so MAX(seq) never goes back.

// changesLockKey is the advisory lock of the change feed's writers (any
// constant unlikely to collide with another application's lock on the same
// database: the bytes of "gatehous" as a big-endian int64).
const changesLockKey = "7449363237540164979"

// userChangesKept is how long a changed user stays in the feed. Instances
// read the feed every half second; one that could not for this long drops its
// whole user cache (auth.Feed.SyncChanges), so none can miss a change.
const userChangesKept = 24 * time.Hour

// clientChangesKept is how long a changed client stays in the feed. An
// instance keeps its copy of a client for a second (oidc's clientCacheTTL),
// so the entry matters only that long after the change; an hour covers any
// clock skew between instances and keeps the feed short.
const clientChangesKept = time.Hour

// change is one entry a transaction adds to the feed.
type change struct {
	kind    string // "session" (ended), "user" or "client" (changed)
	id      string
	expires time.Time
}

// logChange adds an entry to the feed, written when the transaction commits.
func (e execer) logChange(kind, id string, expires time.Time) {
	*e.changes = append(*e.changes, change{kind: kind, id: id, expires: expires})
}

// writeChanges numbers and inserts a transaction's entries, under the feed's
// writer lock (held until the commit that follows).
func (s *Store) writeChanges(ctx context.Context, e execer, changes []change) error {
	if len(changes) == 0 {
		return nil
	}
	if s.lockChanges != "" {
		if _, err := e.exec(ctx, s.lockChanges); err != nil {
			return err
		}
	}
	var seq int64
	if err := e.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&seq); err != nil {
		return err
	}
	for _, c := range changes {
		seq++
		if _, err := e.exec(ctx, `INSERT INTO changes (seq, kind, subject_id, expires_at) VALUES (?, ?, ?, ?)`,
			seq, c.kind, c.id, ms(c.expires)); err != nil {
			return err
		}
	}
	return nil
}

// Changes reads the feed after f.After, oldest first: ended sessions whose
// tokens may still live at f.Now and, with f.Users, changed users, with
// f.Clients, changed clients (never an ended session's id). The
// page's cursor is the seq of its last entry, or when nothing more follows
// the newest seq there is (so a reader skips expired entries only once).
func (s *Store) Changes(ctx context.Context, f auth.ChangeFilter) (auth.ChangePage, error) {
	page := auth.ChangePage{Changes: []auth.Change{}}
	// The newest seq is read first: every entry up to it is committed, so the
	// page below (a later snapshot) holds all of them that match.
	var top int64
	if err := s.reader().queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&top); err != nil {
		return page, err
	}
	changes, err := queryAll(ctx, s.reader(), []auth.Change{}, scanChange, `SELECT seq, kind, subject_id, expires_at FROM changes
		WHERE seq > ? AND seq <= ? AND expires_at > ? AND (kind = 'session' OR (kind = 'user' AND ?) OR (kind = 'client' AND ?))
		ORDER BY seq LIMIT ?`, f.After, top, ms(f.Now), f.Users, f.Clients, f.Limit+1)
	if err != nil {
		return page, err
	}
	page.Changes = changes
	page.Cursor = top // a cursor past the end (a restored database) comes back to it
	if len(page.Changes) > f.Limit {
		page.Changes, page.More = page.Changes[:f.Limit], true
		page.Cursor = page.Changes[f.Limit-1].Seq
	}
	return page, nil
}

func scanChange(r scanner) (auth.Change, error) {
	var c auth.Change
	var kind, id string
	if err := r.Scan(&c.Seq, &kind, &id, msDest{&c.ExpiresAt}); err != nil {
		return c, err
	}
	switch kind {
	case "user":
		c.UserID = id
	case "client":
		c.ClientID = id
	default:
		c.SessionID = id
	}
	return c, nil
}
