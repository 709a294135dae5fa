package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
)

// Passkeys and WebAuthn ceremonies (auth.PasskeyStore). Adding or removing
// a passkey changes the user object's mfa.passkeys: those writes add the
// user to the change feed.

// CreateCeremony stores a begun ceremony.
func (s *Store) CreateCeremony(ctx context.Context, c auth.Ceremony) error {
	_, err := s.writer().exec(ctx, `INSERT INTO webauthn_ceremonies (hash, purpose, user_id, challenge_hash, session_data, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, c.Hash, c.Purpose, nullString(c.UserID), c.ChallengeHash, string(c.Session),
		ms(c.CreatedAt), ms(c.ExpiresAt))
	return err
}

// TakeCeremony marks the live ceremony of hash and purpose used, in one
// statement: of parallel finishes with one challenge, one gets it.
func (s *Store) TakeCeremony(ctx context.Context, hash, purpose string, now time.Time) (auth.Ceremony, error) {
	var c auth.Ceremony
	var userID sql.NullString
	var data string
	err := s.writer().queryRow(ctx, `UPDATE webauthn_ceremonies SET used_at = ?
		WHERE hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?
		RETURNING hash, purpose, user_id, challenge_hash, session_data, created_at, expires_at`, ms(now), hash, purpose, ms(now)).
		Scan(&c.Hash, &c.Purpose, &userID, &c.ChallengeHash, &data, msDest{&c.CreatedAt}, msDest{&c.ExpiresAt})
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("The passkey ceremony")
	}
	c.UserID, c.Session = userID.String, []byte(data)
	return c, err
}

const passkeyColumns = "id, user_id, credential_id, public_key, sign_count, aaguid, transports, attestation, " +
	"backup_eligible, backup_state, name, created_at, last_used_at"

func scanPasskey(r scanner) (auth.Passkey, error) {
	var p auth.Passkey
	var credID, pub, aaguid, transports string
	var count int64
	var be, bs int
	err := r.Scan(&p.ID, &p.UserID, &credID, &pub, &count, &aaguid, &transports, &p.Attestation, &be, &bs, &p.Name,
		msDest{&p.CreatedAt}, msDest{&p.LastUsedAt})
	if err != nil {
		return p, err
	}
	p.SignCount, p.BackupEligible, p.BackupState, p.Transports = uint32(count), be == 1, bs == 1, strings.Fields(transports)
	if p.CredentialID, err = base64.RawURLEncoding.DecodeString(credID); err != nil {
		return p, err
	}
	if p.PublicKey, err = base64.StdEncoding.DecodeString(pub); err != nil {
		return p, err
	}
	p.AAGUID, err = hex.DecodeString(aaguid)
	return p, err
}

// Passkeys lists the user's passkeys, oldest first.
func (s *Store) Passkeys(ctx context.Context, userID string) ([]auth.Passkey, error) {
	return queryAll(ctx, s.reader(), nil, scanPasskey, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ? ORDER BY created_at, id`, userID)
}

// PasskeyByCredential finds the passkey of a credential ID.
func (s *Store) PasskeyByCredential(ctx context.Context, credentialID []byte) (auth.Passkey, error) {
	p, err := scanPasskey(s.reader().queryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = ?`,
		base64.RawURLEncoding.EncodeToString(credentialID)))
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound("The passkey")
	}
	return p, err
}

// AddPasskey stores p; the unique credential_id turns a credential
// registered already (here or to another account) into already_exists.
func (s *Store) AddPasskey(ctx context.Context, p auth.Passkey) error {
	return s.inTx(ctx, func(e execer) error {
		_, err := e.exec(ctx, `INSERT INTO passkeys (id, user_id, credential_id, public_key, sign_count, aaguid, transports, attestation,
			backup_eligible, backup_state, name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.UserID, base64.RawURLEncoding.EncodeToString(p.CredentialID), base64.StdEncoding.EncodeToString(p.PublicKey),
			int64(p.SignCount), hex.EncodeToString(p.AAGUID), strings.Join(p.Transports, " "), p.Attestation,
			boolInt(p.BackupEligible), boolInt(p.BackupState), p.Name, ms(p.CreatedAt))
		if isUniqueViolation(err) {
			return auth.Errorf(auth.CodeAlreadyExists, "This passkey is registered already.")
		} else if err != nil {
			return err
		}
		e.logChange("user", p.UserID, p.CreatedAt.Add(userChangesKept))
		return emit(ctx, e, events.New(events.MFAEnrolled, p.CreatedAt, events.Data{"user_id": p.UserID, "factor": "passkey", "passkey_id": p.ID}))
	})
}

// UsePasskey records an accepted assertion if the counter is still u.Old
// (and, with u.ChallengeHash, marks that challenge used), in one transaction.
func (s *Store) UsePasskey(ctx context.Context, u auth.PasskeyUse) (bool, error) {
	ok := false
	err := s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `UPDATE passkeys SET sign_count = ?, backup_state = ?, last_used_at = ?
			WHERE id = ? AND user_id = ? AND sign_count = ?`,
			int64(u.New), boolInt(u.BackupState), ms(u.Now), u.ID, u.UserID, int64(u.Old))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		if err := useChallenge(ctx, e, u.ChallengeHash, u.UserID, u.Now); err != nil {
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

// RenamePasskey renames one of the user's passkeys (not_found otherwise).
func (s *Store) RenamePasskey(ctx context.Context, userID, id, name string) error {
	res, err := s.writer().exec(ctx, `UPDATE passkeys SET name = ? WHERE id = ? AND user_id = ?`, name, id, userID)
	return affectedOne(res, err, "The passkey")
}

// DeletePasskey removes one of the user's passkeys (not_found otherwise).
func (s *Store) DeletePasskey(ctx context.Context, userID, id string, now time.Time) error {
	return s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `DELETE FROM passkeys WHERE id = ? AND user_id = ?`, id, userID)
		if err := affectedOne(res, err, "The passkey"); err != nil {
			return err
		}
		e.logChange("user", userID, now.Add(userChangesKept))
		return emit(ctx, e, events.New(events.MFARemoved, now, events.Data{"user_id": userID, "factor": "passkey", "passkey_id": id}))
	})
}
