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

// userColumns are a user's columns, read FROM users, for scanUser; the last
// two say whether the user has a confirmed authenticator and how many
// passkeys (the user object's mfa).
var userColumns = userColumnsOf("users")

// userColumnsOf is userColumns of the users table under the name t.
func userColumnsOf(t string) string {
	return t + ".id, " + t + ".email, " + t + ".username, " + t + ".name, " + t + ".role, " + t + ".disabled_at, " +
		t + ".created_at, " + t + ".email_verified_at, " +
		"EXISTS (SELECT 1 FROM totp WHERE totp.user_id = " + t + ".id AND totp.confirmed_at IS NOT NULL), " +
		"(SELECT COUNT(*) FROM passkeys WHERE passkeys.user_id = " + t + ".id)"
}

func scanUser(row scanner, extra ...any) (auth.User, error) {
	var u auth.User
	var email, username sql.NullString
	var disabled, verified sql.NullInt64
	var created int64
	err := row.Scan(append([]any{&u.ID, &email, &username, &u.Name, &u.Role, &disabled, &created, &verified, &u.MFA.TOTP, &u.MFA.Passkeys}, extra...)...)
	u.Email, u.Username, u.Disabled, u.CreatedAt = email.String, username.String, disabled.Valid, fromMS(created)
	u.EmailVerified = verified.Valid
	return u, err
}

// CreateUser inserts u; the unique indexes on lower(email) and
// lower(username) turn a taken identity into already_exists, even when two
// registrations race.
func (s *Store) CreateUser(ctx context.Context, u auth.User, passwordHash string) error {
	return s.inTx(ctx, func(e execer) error {
		_, err := e.exec(ctx,
			`INSERT INTO users (id, email, username, name, password_hash, role, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, nullString(u.Email), nullString(u.Username), u.Name, passwordHash, u.Role, ms(u.CreatedAt), ms(u.CreatedAt))
		if isUniqueViolation(err) {
			return auth.Errorf(auth.CodeAlreadyExists, "An account with this email or username already exists.")
		} else if err != nil {
			return err
		}
		return emit(ctx, e, events.New(events.UserCreated, u.CreatedAt, events.Data{"user_id": u.ID}))
	})
}

// User returns the user with id.
func (s *Store) User(ctx context.Context, id string) (auth.User, error) {
	u, err := scanUser(s.reader().queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, notFound("The user")
	}
	return u, err
}

// UserCredentials finds a user by email or username, with its password hash.
func (s *Store) UserCredentials(ctx context.Context, identifier string) (auth.User, string, error) {
	column := "username"
	if strings.Contains(identifier, "@") {
		column = "email"
	}
	var hash string
	u, err := scanUser(s.reader().queryRow(ctx,
		`SELECT `+userColumns+`, password_hash FROM users WHERE lower(`+column+`) = lower(?)`, identifier), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return u, "", notFound("The user")
	}
	return u, hash, err
}

// PasswordHash returns the password hash of the user with id.
func (s *Store) PasswordHash(ctx context.Context, userID string) (string, error) {
	var hash string
	err := s.reader().queryRow(ctx, `SELECT password_hash FROM users WHERE id = ?`, userID).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("The user")
	}
	return hash, err
}

// PasswordHashSamples returns one stored password hash per scheme (as
// scheme names it), skipping the hashes that start with skip (those of the
// current parameters, whose cost is known): the hashes are streamed, never
// held, so an import of many legacy accounts costs one read.
func (s *Store) PasswordHashSamples(ctx context.Context, skip string, scheme func(hash string) string) ([]string, error) {
	rows, err := s.reader().query(ctx, `SELECT password_hash FROM users WHERE password_hash NOT LIKE ? ESCAPE '\'`, escapeLike(skip)+"%")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seen := map[string]bool{}
	var samples []string
	for rows.Next() {
		var hash string
		if err := rows.Scan(&hash); err != nil {
			return nil, err
		}
		if k := scheme(hash); !seen[k] {
			seen[k] = true
			samples = append(samples, hash)
		}
	}
	return samples, rows.Err()
}

// ChangePassword replaces a user's password hash, ends every other session
// of the user, and replaces the kept session's refresh tokens by next, in
// one transaction.
func (s *Store) ChangePassword(ctx context.Context, userID, hash string, keep auth.Session, next auth.RefreshToken, now, liveUntil time.Time) ([]string, error) {
	var ended []string
	err := s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`, hash, ms(now), userID)
		if err := affectedOne(res, err, "The user"); err != nil {
			return err
		}
		if ended, err = revokeSessions(ctx, e, auth.SessionFilter{UserID: userID, ExceptID: keep.ID}, now, liveUntil); err != nil {
			return err
		}
		if err := voidLinks(ctx, e, userID, now, auth.PurposeResetPassword); err != nil { // a new password voids reset links
			return err
		}
		if err := emit(ctx, e, events.New(events.UserPasswordChanged, now, events.Data{"user_id": userID})); err != nil {
			return err
		}
		return replaceRefreshToken(ctx, e, next)
	})
	return ended, err
}

// SetPasswordHash replaces a user's password hash old by hash, only if it
// is still old (a compare-and-swap: a rehash at login never overwrites a
// password changed meanwhile); swapped says whether it did.
func (s *Store) SetPasswordHash(ctx context.Context, userID, old, hash string) (bool, error) {
	res, err := s.writer().exec(ctx, `UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?`, hash, userID, old)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// UpdateUser applies upd and, when asked, ends the user's sessions in the
// same transaction.
func (s *Store) UpdateUser(ctx context.Context, id string, upd auth.UserUpdate, now time.Time) (auth.User, []string, error) {
	var u auth.User
	var ended []string
	err := s.inTx(ctx, func(e execer) error {
		var disabledAt sql.NullInt64 // re-enabling clears it
		if upd.Disabled != nil && *upd.Disabled {
			disabledAt = nullMS(now)
		}
		res, err := e.exec(ctx, `UPDATE users SET
			name = COALESCE(?, name),
			role = COALESCE(?, role),
			disabled_at = CASE WHEN ? THEN CAST(? AS BIGINT) ELSE disabled_at END,
			updated_at = ?
			WHERE id = ?`,
			nullPtr(upd.Name), nullPtr(upd.Role), upd.Disabled != nil, disabledAt, ms(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("The user")
		}
		e.logChange("user", id, now.Add(userChangesKept))
		if err := emit(ctx, e, events.New(events.UserUpdated, now, events.Data{"user_id": id})); err != nil {
			return err
		}
		if upd.EndSessions {
			if ended, err = revokeSessions(ctx, e, auth.SessionFilter{UserID: id}, now, upd.LiveUntil); err != nil {
				return err
			}
			// A role change or a disabling ends what remote guards hold of
			// the user's keys (they ask again and learn the role as it is);
			// a disabling revokes the keys for good, as it ends the sessions.
			if err := logKeyRevocations(ctx, e, id, upd.LiveUntil); err != nil {
				return err
			}
			if upd.Disabled != nil && *upd.Disabled {
				if _, err := e.exec(ctx, `UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, ms(now), id); err != nil {
					return err
				}
			}
		}
		u, err = scanUser(e.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
		return err
	})
	return u, ended, err
}

func nullPtr(p *string) sql.NullString {
	if p == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *p, Valid: true}
}

// ListUsers returns users ordered by id (UUIDv7: creation order) after
// f.After, whose email or username starts with f.Prefix.
func (s *Store) ListUsers(ctx context.Context, f auth.UserFilter) ([]auth.User, error) {
	like := escapeLike(f.Prefix) + "%"
	return queryAll(ctx, s.reader(), []auth.User{}, func(r scanner) (auth.User, error) { return scanUser(r) },
		`SELECT `+userColumns+` FROM users
		WHERE id > ? AND (lower(email) LIKE ? ESCAPE '\' OR lower(username) LIKE ? ESCAPE '\')
		ORDER BY id LIMIT ?`, f.After, like, like, f.Limit)
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// DeleteUser records the user's live sessions as revoked, then deletes the
// user; sessions, refresh tokens and books go with it (ON DELETE CASCADE).
func (s *Store) DeleteUser(ctx context.Context, id string, now, liveUntil time.Time) ([]string, error) {
	var ended []string
	err := s.inTx(ctx, func(e execer) error {
		// An organization's last owner stays until it hands the organization
		// over or deletes it: the account's end would orphan it.
		var org string
		err := e.queryRow(ctx, `SELECT m.org_id FROM org_members m WHERE m.user_id = ? AND m.role = 'owner'
			AND NOT EXISTS (SELECT 1 FROM org_members o WHERE o.org_id = m.org_id AND o.role = 'owner' AND o.user_id <> m.user_id)`,
			id).Scan(&org)
		if err == nil {
			return auth.Errorf(auth.CodeLastOwner, "The account is the last owner of an organization: make another member owner, or delete the organization, first.")
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// The organization's books the account wrote stay the
		// organization's: an owner of it takes them over (one exists, the
		// account being none or not the last).
		if _, err := e.exec(ctx, `UPDATE books SET owner_id = (SELECT m.user_id FROM org_members m
			WHERE m.org_id = books.org_id AND m.role = 'owner' AND m.user_id <> ? ORDER BY m.joined_at, m.user_id LIMIT 1)
			WHERE owner_id = ? AND org_id IS NOT NULL AND EXISTS (SELECT 1 FROM org_members o
			WHERE o.org_id = books.org_id AND o.role = 'owner' AND o.user_id <> ?)`, id, id, id); err != nil {
			return err
		}
		if ended, err = revokeSessions(ctx, e, auth.SessionFilter{UserID: id}, now, liveUntil); err != nil {
			return err
		}
		if err := logKeyRevocations(ctx, e, id, liveUntil); err != nil {
			return err
		}
		res, err := e.exec(ctx, `DELETE FROM users WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("The user")
		}
		e.logChange("user", id, now.Add(userChangesKept))
		return emit(ctx, e, events.New(events.UserDeleted, now, events.Data{"user_id": id}))
	})
	return ended, err
}

// Changed users reach other instances through the change feed (changes.go):
// UpdateUser and DeleteUser add them with logChange.
