package store

import (
	"context"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
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
