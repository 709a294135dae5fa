package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
)

// API keys (auth.APIKeyStore): only each key's SHA-256 is kept. A revoked
// key's id goes into the change feed as a revocation id, so guards holding
// it (after introspection) drop it.

const apiKeyColumns = "id, user_id, name, prefix, hash, scopes, created_at, expires_at, last_used_at, revoked_at"

func scanAPIKey(r scanner) (auth.APIKey, error) {
	var k auth.APIKey
	var scopes string
	err := r.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &k.Hash, &scopes, msDest{&k.CreatedAt}, msDest{&k.ExpiresAt},
		msDest{&k.LastUsedAt}, msDest{&k.RevokedAt})
	k.Scopes = strings.Fields(scopes)
	return k, err
}

// CreateAPIKey stores a new key.
func (s *Store) CreateAPIKey(ctx context.Context, k auth.APIKey) error {
	return s.inTx(ctx, func(e execer) error {
		_, err := e.exec(ctx, `INSERT INTO api_keys (id, user_id, name, prefix, hash, scopes, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, k.ID, k.UserID, k.Name, k.Prefix, k.Hash, strings.Join(k.Scopes, " "),
			ms(k.CreatedAt), nullMS(k.ExpiresAt))
		if isUniqueViolation(err) {
			return auth.Errorf(auth.CodeAlreadyExists, "The API key exists already.")
		} else if err != nil {
			return err
		}
		return emit(ctx, e, events.New(events.APIKeyCreated, k.CreatedAt, events.Data{"user_id": k.UserID, "api_key_id": k.ID}))
	})
}

// APIKeyByHash finds a key by its hash, live or not.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (auth.APIKey, error) {
	k, err := scanAPIKey(s.reader().queryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return k, notFound("The API key")
	}
	return k, err
}

// APIKeys lists a user's unrevoked keys, newest first.
func (s *Store) APIKeys(ctx context.Context, userID string) ([]auth.APIKey, error) {
	return queryAll(ctx, s.reader(), nil, scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at DESC, id DESC`, userID)
}

// RevokeAPIKey revokes a live key of the user and logs its id in the
// change feed until liveUntil, in one transaction.
func (s *Store) RevokeAPIKey(ctx context.Context, userID, id string, now, liveUntil time.Time) error {
	return s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL`,
			ms(now), id, userID)
		if err := affectedOne(res, err, "The API key"); err != nil {
			return err
		}
		e.logChange("session", id, liveUntil) // the key's id is its revocation id
		return emit(ctx, e, events.New(events.APIKeyRevoked, now, events.Data{"user_id": userID, "api_key_id": id}))
	})
}

// TouchAPIKeys writes last-used times, one statement per key in one
// transaction; a key written less than interval ago is left alone, so that
// instances noting the same key write it at most once per interval.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[string]time.Time, interval time.Duration) error {
	if len(used) == 0 {
		return nil
	}
	return s.inTx(ctx, func(e execer) error {
		for id, at := range used {
			if _, err := e.exec(ctx, `UPDATE api_keys SET last_used_at = ?
				WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`, ms(at), id, ms(at.Add(-interval))); err != nil {
				return err
			}
		}
		return nil
	})
}

// logKeyRevocations adds the revocation ids of a user's live keys to the
// change feed, in the transaction that disables or deletes the user, so
// guards holding those keys (after introspection) drop them with the
// user's sessions. The keys themselves are left as they are: a disabled
// user's keys are refused here by the user's state, a deleted user's go
// with the user.
func logKeyRevocations(ctx context.Context, e execer, userID string, liveUntil time.Time) error {
	ids, err := queryAll(ctx, e, nil, scanColumn[string], `SELECT id FROM api_keys WHERE user_id = ? AND revoked_at IS NULL`, userID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		e.logChange("session", id, liveUntil)
	}
	return nil
}
