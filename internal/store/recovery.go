package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
)

// One-time links (auth/recovery.go): tokens stored as their SHA-256, and
// the effects of spending them, each in one transaction with its mail.

// IssueLink voids the user's unspent links of t's purpose, stores t, and
// writes mails to the outbox, in one transaction; with done.ID set, that
// transaction also deletes the link request done.Owner holds, or writes
// nothing (auth.ErrLinkRequestLost) when another claimer took it over.
func (s *Store) IssueLink(ctx context.Context, t auth.LinkToken, mails []outbox.Message, done auth.LinkRequest) error {
	return s.inTx(ctx, func(e execer) error {
		if done.ID != "" {
			if err := dropLinkRequest(ctx, e, done); err != nil {
				return err
			}
		}
		if err := voidLinks(ctx, e, t.UserID, t.CreatedAt, t.Purpose); err != nil {
			return err
		}
		if _, err := e.exec(ctx, `INSERT INTO one_time_tokens (hash, user_id, purpose, email, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`,
			t.Hash, t.UserID, string(t.Purpose), t.Email, ms(t.CreatedAt), ms(t.ExpiresAt)); err != nil {
			return err
		}
		return s.enqueueMail(ctx, e, t.CreatedAt, mails)
	})
}

// voidLinks marks the user's unspent links of the purposes spent at now.
func voidLinks(ctx context.Context, e execer, userID string, now time.Time, purposes ...auth.LinkPurpose) error {
	for _, p := range purposes {
		if _, err := e.exec(ctx, `UPDATE one_time_tokens SET used_at = ? WHERE user_id = ? AND purpose = ? AND used_at IS NULL`,
			ms(now), userID, string(p)); err != nil {
			return err
		}
	}
	return nil
}

// LinkToken returns the link stored under hash.
func (s *Store) LinkToken(ctx context.Context, hash string) (auth.LinkToken, error) {
	var t auth.LinkToken
	var purpose string
	var created, expires int64
	var used sql.NullInt64
	err := s.reader().queryRow(ctx, `SELECT hash, user_id, purpose, email, created_at, expires_at, used_at
		FROM one_time_tokens WHERE hash = ?`, hash).Scan(&t.Hash, &t.UserID, &purpose, &t.Email, &created, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return t, notFound("The link")
	}
	t.Purpose, t.CreatedAt, t.ExpiresAt, t.UsedAt = auth.LinkPurpose(purpose), fromMS(created), fromMS(expires), fromNullMS(used)
	return t, err
}

// UseLink spends a link and applies its effect (see auth.LinkUse), in one
// transaction; auth.ErrLinkSpent when it is no longer spendable.
func (s *Store) UseLink(ctx context.Context, u auth.LinkUse) (auth.User, []string, error) {
	var user auth.User
	var ended []string
	err := s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `UPDATE one_time_tokens SET used_at = ?
			WHERE hash = ? AND user_id = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?`,
			ms(u.Now), u.Hash, u.UserID, string(u.Purpose), ms(u.Now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return auth.ErrLinkSpent
		}
		switch u.Purpose {
		case auth.PurposeVerifyEmail:
			res, err := e.exec(ctx, `UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?), updated_at = ?
				WHERE id = ? AND email = ?`, ms(u.Now), ms(u.Now), u.UserID, u.Email)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 { // the address changed since the link was mailed
				return auth.ErrLinkSpent
			}
			if err := emit(ctx, e, events.New(events.UserEmailVerified, u.Now, events.Data{"user_id": u.UserID})); err != nil {
				return err
			}
		case auth.PurposeResetPassword:
			if u.PasswordHash == "" {
				return errors.New("use link: a reset without a password hash")
			}
			if u.ProvesAddress {
				var email sql.NullString
				var verified sql.NullInt64
				if err := e.queryRow(ctx, `SELECT email, email_verified_at FROM users WHERE id = ?`+s.rowLock(), u.UserID).
					Scan(&email, &verified); err != nil {
					return err
				}
				if email.String != u.Email || verified.Valid { // changed since the service looked
					return auth.ErrLinkSpent
				}
				if removed, err := removeFactors(ctx, e, u.UserID); err != nil {
					return err
				} else if removed {
					if err := emit(ctx, e, events.New(events.MFARemoved, u.Now, events.Data{"user_id": u.UserID, "factor": "all"})); err != nil {
						return err
					}
				}
			}
			if _, err := e.exec(ctx, `UPDATE users SET password_hash = ?, updated_at = ?,
				email_verified_at = CASE WHEN email = ? THEN COALESCE(email_verified_at, ?) ELSE email_verified_at END
				WHERE id = ?`, u.PasswordHash, ms(u.Now), u.Email, ms(u.Now), u.UserID); err != nil {
				return err
			}
			if err := voidLinks(ctx, e, u.UserID, u.Now, auth.PurposeResetPassword); err != nil {
				return err
			}
			if ended, err = revokeSessions(ctx, e, auth.SessionFilter{UserID: u.UserID}, u.Now, u.LiveUntil); err != nil {
				return err
			}
			if err := emit(ctx, e, events.New(events.UserPasswordChanged, u.Now, events.Data{"user_id": u.UserID})); err != nil {
				return err
			}
		case auth.PurposeChangeEmail:
			_, err := e.exec(ctx, `UPDATE users SET email = ?, email_verified_at = ?, updated_at = ? WHERE id = ?`,
				u.Email, ms(u.Now), ms(u.Now), u.UserID)
			if isUniqueViolation(err) {
				return auth.Errorf(auth.CodeAlreadyExists, "An account with this email address already exists.")
			}
			if err != nil {
				return err
			}
			// Links mailed to the old address die with it, reset links too.
			if err := voidLinks(ctx, e, u.UserID, u.Now, auth.PurposeChangeEmail, auth.PurposeVerifyEmail, auth.PurposeResetPassword); err != nil {
				return err
			}
			if err := emit(ctx, e, events.New(events.UserUpdated, u.Now, events.Data{"user_id": u.UserID})); err != nil {
				return err
			}
		default:
			return errors.New("use link: unknown purpose " + string(u.Purpose))
		}
		e.logChange("user", u.UserID, u.Now.Add(userChangesKept))
		if err := s.enqueueMail(ctx, e, u.Now, u.Mails); err != nil {
			return err
		}
		user, err = scanUser(e.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, u.UserID))
		return err
	})
	return user, ended, err
}
