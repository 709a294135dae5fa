package store

// Rows runs a query in the job's transaction and reads all its rows, as
// revokeSessions and childSessions do (review 15b).
func (b BatchTx) Rows(q string, args ...any) error {
	rows, err := b.e.query(b.ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return err
		}
	}
	return rows.Err()
}
