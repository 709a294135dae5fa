package store

import (
	"context"
	"encoding/base64"

	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// SigningKeys returns every unretired signing key.
func (s *Store) SigningKeys(ctx context.Context) ([]token.Record, error) {
	rows, err := s.reader().query(ctx, `SELECT id, algorithm, private_key, created_at FROM signing_keys
		WHERE retired_at IS NULL ORDER BY created_at`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []token.Record
	for rows.Next() {
		var r token.Record
		var der string
		if err := rows.Scan(&r.ID, &r.Algorithm, &der, msDest{&r.CreatedAt}); err != nil {
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
