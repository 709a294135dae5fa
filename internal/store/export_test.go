package store

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
)

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

// LockWaiters counts PostgreSQL backends of this database waiting for a lock.
func (s *Store) LockWaiters(ctx context.Context) (int, error) {
	var n int
	err := s.read.db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
	return n, err
}

// IsPostgresStore reports whether s runs on PostgreSQL.
func (s *Store) IsPostgresStore() bool { return s.forUpdate != "" }

// EnqueueMailThenFail enqueues msgs in a transaction whose next statement
// fails, as a store method storing a token and its mail would.
func EnqueueMailThenFail(ctx context.Context, s *Store, now time.Time, msgs ...outbox.Message) error {
	return s.inTx(ctx, func(e execer) error {
		if err := enqueueMail(ctx, e, now, msgs); err != nil {
			return err
		}
		return errors.New("the token's insert failed")
	})
}
