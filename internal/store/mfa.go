package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
)

// Second factors (auth.FactorStore). A user's factors change what the user
// object says (its "mfa" field), so every write that adds or removes one
// adds the user to the change feed: other instances drop it from their
// caches.

// TOTP returns the user's authenticator, confirmed or pending.
func (s *Store) TOTP(ctx context.Context, userID string) (auth.TOTPFactor, error) {
	f := auth.TOTPFactor{UserID: userID}
	var secret string
	var session sql.NullString
	err := s.reader().queryRow(ctx, `SELECT secret, session_id, created_at, confirmed_at, last_step FROM totp WHERE user_id = ?`, userID).
		Scan(&secret, &session, msDest{&f.CreatedAt}, msDest{&f.ConfirmedAt}, &f.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return f, notFound("The authenticator")
	} else if err != nil {
		return f, err
	}
	f.SessionID = session.String
	f.Sealed, err = base64.StdEncoding.DecodeString(secret)
	return f, err
}

// PutPendingTOTP stores an unconfirmed authenticator, started by session
// sessionID, in place of an unconfirmed one; a confirmed one is
// already_exists.
func (s *Store) PutPendingTOTP(ctx context.Context, userID, sessionID string, sealed []byte, now time.Time) error {
	return s.inTx(ctx, func(e execer) error {
		var confirmed sql.NullInt64
		err := e.queryRow(ctx, `SELECT confirmed_at FROM totp WHERE user_id = ?`+s.rowLock(), userID).Scan(&confirmed)
		switch {
		case err == nil && confirmed.Valid:
			return auth.Errorf(auth.CodeAlreadyExists, "An authenticator app is already set up; remove it first to set up another.")
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := e.exec(ctx, `DELETE FROM totp WHERE user_id = ?`, userID); err != nil {
			return err
		}
		_, err = e.exec(ctx, `INSERT INTO totp (user_id, secret, session_id, created_at) VALUES (?, ?, ?, ?)`,
			userID, base64.StdEncoding.EncodeToString(sealed), sessionID, ms(now))
		return err
	})
}

// rowLock ends a SELECT of rows the transaction changes next: PostgreSQL
// locks them; SQLite's BEGIN IMMEDIATE holds the only write lock already.
func (s *Store) rowLock() string {
	if s.forUpdate != "" {
		return " FOR UPDATE"
	}
	return ""
}

// ConfirmTOTP confirms the pending authenticator with step and replaces the
// recovery codes, in one transaction; only if it is still pending, the one
// read (its sealed secret, unique to it, says so).
func (s *Store) ConfirmTOTP(ctx context.Context, pending auth.TOTPFactor, step int64, hashes []string, now time.Time) (bool, error) {
	ok, userID := false, pending.UserID
	err := s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `UPDATE totp SET confirmed_at = ?, last_step = ?
			WHERE user_id = ? AND secret = ? AND confirmed_at IS NULL AND last_step < ?`,
			ms(now), step, userID, base64.StdEncoding.EncodeToString(pending.Sealed), step)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		ok = true
		e.logChange("user", userID, now.Add(userChangesKept))
		if err := emit(ctx, e, events.New(events.MFAEnrolled, now, events.Data{"user_id": userID, "factor": "totp"})); err != nil {
			return err
		}
		return replaceRecoveryCodes(ctx, e, userID, hashes, now)
	})
	return ok, err
}

// UseTOTPStep accepts step for the user's confirmed authenticator: the
// UPDATE's condition last_step < step makes a step, and every older one,
// work once, whichever instance or request asks first. With challengeHash
// the challenge is marked used in the same transaction.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64, challengeHash string, now time.Time) (bool, error) {
	ok := false
	err := s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `UPDATE totp SET last_step = ? WHERE user_id = ? AND confirmed_at IS NOT NULL AND last_step < ?`,
			step, userID, step)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		if err := useChallenge(ctx, e, challengeHash, userID, now); err != nil {
			return err
		}
		ok = true
		return nil
	})
	if errors.Is(err, errChallengeGone) {
		return false, nil
	}
	return ok, err
}

// errChallengeGone rolls back a transaction whose challenge was used or
// expired meanwhile.
var errChallengeGone = errors.New("the mfa challenge is no longer live")

// useChallenge marks the user's live challenge hash used, in the
// transaction of the factor it completes; errChallengeGone when it was used
// or expired meanwhile. No hash (a factor used outside a login) is nothing
// to mark.
func useChallenge(ctx context.Context, e execer, hash, userID string, now time.Time) error {
	if hash == "" {
		return nil
	}
	res, err := e.exec(ctx, `UPDATE mfa_challenges SET used_at = ? WHERE hash = ? AND user_id = ? AND used_at IS NULL AND expires_at > ?`,
		ms(now), hash, userID, ms(now))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errChallengeGone
	}
	return nil
}

// DeleteTOTP removes the authenticator and every recovery code.
func (s *Store) DeleteTOTP(ctx context.Context, userID string, now time.Time) (bool, error) {
	removed := false
	err := s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `DELETE FROM totp WHERE user_id = ?`, userID)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		if removed = n > 0; !removed {
			return nil
		}
		if _, err := e.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return err
		}
		e.logChange("user", userID, now.Add(userChangesKept))
		return emit(ctx, e, events.New(events.MFARemoved, now, events.Data{"user_id": userID, "factor": "totp"}))
	})
	return removed, err
}

// ReplaceRecoveryCodes voids the user's codes and stores hashes.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) error {
	return s.inTx(ctx, func(e execer) error { return replaceRecoveryCodes(ctx, e, userID, hashes, now) })
}

func replaceRecoveryCodes(ctx context.Context, e execer, userID string, hashes []string, now time.Time) error {
	if _, err := e.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return err
	}
	for _, h := range hashes {
		if h == "" {
			return errors.New("recovery codes: an empty hash")
		}
		if _, err := e.exec(ctx, `INSERT INTO recovery_codes (user_id, hash, created_at) VALUES (?, ?, ?)`, userID, h, ms(now)); err != nil {
			return err
		}
	}
	return nil
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.reader().queryRow(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID).Scan(&n)
	return n, err
}

// UseRecoveryCode spends a code, marks the challenge used and enqueues the
// notice, all in one transaction or none of it.
func (s *Store) UseRecoveryCode(ctx context.Context, u auth.RecoveryUse) (int, bool, error) {
	remaining, ok := 0, false
	err := s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at IS NULL`,
			ms(u.Now), u.UserID, u.Hash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		if err := useChallenge(ctx, e, u.ChallengeHash, u.UserID, u.Now); err != nil {
			return err
		}
		if err := e.queryRow(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, u.UserID).Scan(&remaining); err != nil {
			return err
		}
		if u.Mail != nil {
			msgs, err := u.Mail(remaining)
			if err != nil {
				return err
			}
			if err := s.enqueueMail(ctx, e, u.Now, msgs); err != nil {
				return err
			}
		}
		ok = true
		return nil
	})
	if errors.Is(err, errChallengeGone) {
		return 0, false, nil
	}
	return remaining, ok, err
}

// RemoveFactors removes every second factor and pending challenge of the
// user and ends its sessions; when anything was removed, notice is enqueued
// in the same transaction.
func (s *Store) RemoveFactors(ctx context.Context, userID string, now, liveUntil time.Time, notice []outbox.Message) (bool, []string, error) {
	removed := false
	var ended []string
	err := s.inTx(ctx, func(e execer) error {
		var exists int
		if err := e.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE id = ?`, userID).Scan(&exists); err != nil {
			return err
		} else if exists == 0 {
			return notFound("The user")
		}
		var err error
		if removed, err = removeFactors(ctx, e, userID); err != nil {
			return err
		}
		if removed {
			if err := emit(ctx, e, events.New(events.MFARemoved, now, events.Data{"user_id": userID, "factor": "all"})); err != nil {
				return err
			}
		}
		if ended, err = revokeSessions(ctx, e, auth.SessionFilter{UserID: userID}, now, liveUntil); err != nil {
			return err
		}
		e.logChange("user", userID, now.Add(userChangesKept))
		if removed {
			return s.enqueueMail(ctx, e, now, notice)
		}
		return nil
	})
	return removed, ended, err
}

// CreateMFAChallenge stores the second step of a login.
func (s *Store) CreateMFAChallenge(ctx context.Context, c auth.MFAChallenge) error {
	_, err := s.writer().exec(ctx, `INSERT INTO mfa_challenges (hash, user_id, amr, pwd_fingerprint, user_agent, ip, created_at, expires_at, idp)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.Hash, c.UserID, strings.Join(c.AMR, " "), c.PasswordFingerprint,
		c.Client.UserAgent, c.Client.IP, ms(c.CreatedAt), ms(c.ExpiresAt), c.IDP)
	return err
}

const challengeColumns = "hash, user_id, amr, pwd_fingerprint, user_agent, ip, created_at, expires_at, failures, used_at, idp"

func scanChallenge(r scanner) (auth.MFAChallenge, error) {
	var c auth.MFAChallenge
	var amr string
	err := r.Scan(&c.Hash, &c.UserID, &amr, &c.PasswordFingerprint, &c.Client.UserAgent, &c.Client.IP,
		msDest{&c.CreatedAt}, msDest{&c.ExpiresAt}, &c.Failures, msDest{&c.UsedAt}, &c.IDP)
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("The sign-in")
	}
	c.AMR = strings.Fields(amr)
	return c, err
}

// MFAChallenge reads a challenge by the hash of its mfa_token.
func (s *Store) MFAChallenge(ctx context.Context, hash string) (auth.MFAChallenge, error) {
	return scanChallenge(s.reader().queryRow(ctx, `SELECT `+challengeColumns+` FROM mfa_challenges WHERE hash = ?`, hash))
}

// ChargeMFAChallenge counts an attempt against a live challenge in one
// statement, so parallel attempts get at most maxFailures checks in all.
func (s *Store) ChargeMFAChallenge(ctx context.Context, hash string, now time.Time, maxFailures int) (auth.MFAChallenge, error) {
	return scanChallenge(s.writer().queryRow(ctx, `UPDATE mfa_challenges SET failures = failures + 1
		WHERE hash = ? AND used_at IS NULL AND expires_at > ? AND failures < ?
		RETURNING `+challengeColumns, hash, ms(now), maxFailures))
}

// LiveSession returns the session id unless it was revoked.
func (s *Store) LiveSession(ctx context.Context, id string) (auth.Session, error) {
	var sess auth.Session
	err := s.reader().queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions s WHERE s.id = ? AND s.revoked_at IS NULL`, id).
		Scan(scanSession(&sess)...)
	if errors.Is(err, sql.ErrNoRows) {
		return sess, notFound("The session")
	}
	return sess, err
}

// Reauthenticate records the session's new amr and auth_time and replaces
// its refresh tokens by next, in one transaction; a session ended meanwhile
// is not_found.
func (s *Store) Reauthenticate(ctx context.Context, sessionID string, amr []string, authTime time.Time, next auth.RefreshToken) error {
	return s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `UPDATE sessions SET amr = ?, auth_time = ? WHERE id = ? AND revoked_at IS NULL`,
			strings.Join(amr, " "), ms(authTime), sessionID)
		if err := affectedOne(res, err, "The session"); err != nil {
			return err
		}
		return replaceRefreshToken(ctx, e, next)
	})
}

// removeFactors deletes every second factor of the user, with its recovery
// codes, pending login challenges and passkey ceremonies; removed says
// whether there was a factor (or a pending enrolment).
func removeFactors(ctx context.Context, e execer, userID string) (removed bool, err error) {
	for _, q := range []string{`DELETE FROM totp WHERE user_id = ?`, `DELETE FROM recovery_codes WHERE user_id = ?`,
		`DELETE FROM passkeys WHERE user_id = ?`} {
		res, err := e.exec(ctx, q, userID)
		if err != nil {
			return false, err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			removed = true
		}
	}
	for _, q := range []string{`DELETE FROM mfa_challenges WHERE user_id = ?`, `DELETE FROM webauthn_ceremonies WHERE user_id = ?`} {
		if _, err := e.exec(ctx, q, userID); err != nil {
			return false, err
		}
	}
	return removed, nil
}
