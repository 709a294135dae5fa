package store

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
)

// MigrateDownTo rolls the schema back to version.
func (s *Store) MigrateDownTo(ctx context.Context, version int64) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(s.dialect, s.write.db, sub)
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}

// Exec runs a statement on the writer, outside any batch.
func (s *Store) Exec(ctx context.Context, q string, args ...any) error {
	_, err := s.write.db.ExecContext(ctx, s.write.rebind(q), args...)
	return err
}

// RevokeHeld ends a session in a transaction that writes its change-feed
// entry and then stays open until commit is called: a transaction that
// took its place in the feed and commits late.
func (s *Store) RevokeHeld(ctx context.Context, sessionID string, now, liveUntil time.Time) (commit func() error, err error) {
	tx, err := s.write.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	var changes []change
	e := execer{c: s.write, tx: tx, changes: &changes}
	if _, err := revokeSessions(ctx, e, auth.SessionFilter{SessionID: sessionID}, now, liveUntil); err != nil {
		tx.Rollback()
		return nil, err
	}
	if err := s.writeChanges(ctx, e, changes); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx.Commit, nil
}

// LockWaiters counts PostgreSQL backends waiting for a lock while holding
// one on a table of s's schema: tests running in parallel, each in a schema
// of its own, do not count each other's waits.
func (s *Store) LockWaiters(ctx context.Context) (int, error) {
	var n int
	err := s.read.db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity a
		WHERE a.datname = current_database() AND a.wait_event_type = 'Lock'
		AND a.pid IN (SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			WHERE l.granted AND c.relnamespace = current_schema()::regnamespace)`).Scan(&n)
	return n, err
}

// IsPostgresStore reports whether s runs on PostgreSQL.
func (s *Store) IsPostgresStore() bool { return s.forUpdate != "" }

// EnqueueMailThenFail enqueues msgs in a transaction whose next statement
// fails, as a store method storing a token and its mail would.
func EnqueueMailThenFail(ctx context.Context, s *Store, now time.Time, msgs ...outbox.Message) error {
	return s.inTx(ctx, func(e execer) error {
		if err := s.enqueueMail(ctx, e, now, msgs); err != nil {
			return err
		}
		return errors.New("the token's insert failed")
	})
}

// BatchTx is a group-committed job's view of its transaction.
type BatchTx struct {
	ctx context.Context
	e   execer
}

// Exec runs a statement in the job's transaction.
func (b BatchTx) Exec(q string, args ...any) error {
	_, err := b.e.exec(b.ctx, q, args...)
	return err
}

// Select runs a query whose rows are read and dropped.
func (b BatchTx) Select(q string, args ...any) error {
	var n int
	return b.e.queryRow(b.ctx, q, args...).Scan(&n)
}

// LogSessionEnded adds a change-feed entry, as revokeSessions does.
func (b BatchTx) LogSessionEnded(id string, until time.Time) { b.e.logChange("session", id, until) }

// Batch runs f as a group-committed job, in key's lane.
func (s *Store) Batch(ctx context.Context, key string, f func(BatchTx) error) error {
	return s.batch.do(ctx, key, func(ctx context.Context, e execer) error { return f(BatchTx{ctx, e}) })
}

// SetBatch replaces the store's group-commit writers by one lane whose queue
// holds queue jobs, with hooks run before and after each COMMIT (each given
// how many jobs ran). Call it before any write.
func (s *Store) SetBatch(queue int, beforeCommit, afterCommit func(jobs int)) {
	s.batch.close()
	b := newBatcher(s, 0, 0)
	b.beforeCommit, b.afterCommit = beforeCommit, afterCommit
	lane := make(chan *job, queue)
	b.lanes = append(b.lanes, lane)
	b.wg.Add(1)
	go b.run(lane)
	s.batch = b
}

// BatchRedone is how many batches were run again with a savepoint per job.
func (s *Store) BatchRedone() int64 { return s.batch.redone.Load() }

// BatchQueued is how many jobs wait in the first lane.
func (s *Store) BatchQueued() int { return len(s.batch.lanes[0]) }

// Count runs a SELECT count(*) on the read pool.
func (s *Store) Count(ctx context.Context, q string, args ...any) (int, error) {
	var n int
	err := s.read.db.QueryRowContext(ctx, s.read.rebind(q), args...).Scan(&n)
	return n, err
}

// Rows runs a query in the job's transaction and reads all its rows, as
// revokeSessions and childSessions do.
func (b BatchTx) Rows(q string, args ...any) error {
	_, err := queryAll(b.ctx, b.e, nil, scanColumn[any], q, args...)
	return err
}
