package store

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// SigningKeys returns every signing key, oldest first.
func (s *Store) SigningKeys(ctx context.Context) ([]token.Record, error) {
	rows, err := s.reader().query(ctx, `SELECT id, algorithm, private_key, created_at, retired_at FROM signing_keys
		ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []token.Record
	for rows.Next() {
		var r token.Record
		var der string
		if err := rows.Scan(&r.ID, &r.Algorithm, &der, msDest{&r.CreatedAt}, msDest{&r.RetiredAt}); err != nil {
			return nil, err
		}
		if r.PrivateKey, err = base64.StdEncoding.DecodeString(der); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// InsertSigningKey stores a new signing key.
func (s *Store) InsertSigningKey(ctx context.Context, r token.Record) error {
	_, err := s.writer().exec(ctx, `INSERT INTO signing_keys (id, algorithm, private_key, created_at) VALUES (?, ?, ?, ?)`,
		r.ID, r.Algorithm, base64.StdEncoding.EncodeToString(r.PrivateKey), ms(r.CreatedAt))
	return err
}

// RetireSigningKey records that a key no longer verifies anything.
func (s *Store) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.writer().exec(ctx, `UPDATE signing_keys SET retired_at = ? WHERE id = ? AND retired_at IS NULL`, ms(at), id)
	return err
}
