package store

import (
	"context"
	"encoding/base64"
	"time"
)

// InsertPlainSigningKey stores a private key the way versions before
// sealed keys did: base64 DER, with no word of sealing.
func (s *Store) InsertPlainSigningKey(ctx context.Context, id, alg string, der []byte, created time.Time) error {
	_, err := s.write.db.ExecContext(ctx, s.write.rebind(`INSERT INTO signing_keys (id, algorithm, private_key, created_at) VALUES (?, ?, ?, ?)`),
		id, alg, base64.StdEncoding.EncodeToString(der), ms(created))
	return err
}
