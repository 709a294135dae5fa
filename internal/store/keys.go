package store

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// SigningKeys returns every signing key, oldest first, as stored: sealed
// (token.Record.Sealed) or, if stored before keys were sealed, plain.
func (s *Store) SigningKeys(ctx context.Context) ([]token.Record, error) {
	return queryAll(ctx, s.reader(), nil, scanSigningKey, `SELECT id, algorithm, private_key, sealed, created_at, retired_at FROM signing_keys
		ORDER BY created_at, id`)
}

func scanSigningKey(row scanner) (token.Record, error) {
	var r token.Record
	var der string
	var sealed int
	if err := row.Scan(&r.ID, &r.Algorithm, &der, &sealed, msDest{&r.CreatedAt}, msDest{&r.RetiredAt}); err != nil {
		return r, err
	}
	var err error
	if r.PrivateKey, err = base64.StdEncoding.DecodeString(der); err != nil {
		return r, err
	}
	r.Sealed = sealed != 0
	return r, nil
}

// InsertSigningKey stores a new signing key (token.Rotate seals it first).
func (s *Store) InsertSigningKey(ctx context.Context, r token.Record) error {
	_, err := s.writer().exec(ctx, `INSERT INTO signing_keys (id, algorithm, private_key, sealed, created_at) VALUES (?, ?, ?, ?, ?)`,
		r.ID, r.Algorithm, base64.StdEncoding.EncodeToString(r.PrivateKey), boolInt(r.Sealed), ms(r.CreatedAt))
	return err
}

// SealSigningKeys implements token.Store: it reads every key in one write
// transaction (rows locked on PostgreSQL, so two instances starting at once
// seal each key once) and stores the private keys f changed.
func (s *Store) SealSigningKeys(ctx context.Context, f func(token.Record) (token.Record, bool, error)) (int, error) {
	n := 0
	err := s.inTx(ctx, func(e execer) error {
		n = 0
		records, err := queryAll(ctx, e, nil, scanSigningKey, `SELECT r.id, r.algorithm, r.private_key, r.sealed, r.created_at, r.retired_at FROM signing_keys r
			ORDER BY r.created_at, r.id`+s.forUpdate)
		if err != nil {
			return err
		}
		for _, r := range records {
			out, changed, err := f(r)
			if err != nil {
				return err
			}
			if !changed {
				continue
			}
			if _, err := e.exec(ctx, `UPDATE signing_keys SET private_key = ?, sealed = ? WHERE id = ?`,
				base64.StdEncoding.EncodeToString(out.PrivateKey), boolInt(out.Sealed), r.ID); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// HoldsSealedSecrets reports whether the database holds anything sealed with
// a master key (signing keys, TOTP secrets), so that a missing default key file is not silently replaced
// by a new one that opens none of it.
func (s *Store) HoldsSealedSecrets(ctx context.Context) (bool, error) {
	var n int
	err := s.reader().queryRow(ctx, `SELECT (SELECT COUNT(*) FROM signing_keys WHERE sealed = 1) + (SELECT COUNT(*) FROM totp)`).Scan(&n)
	return n > 0, err
}

// RetireSigningKey records that a key no longer verifies anything.
func (s *Store) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.writer().exec(ctx, `UPDATE signing_keys SET retired_at = ? WHERE id = ? AND retired_at IS NULL`, ms(at), id)
	return err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
