package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/google/uuid"
	"github.com/pressly/goose/v3"
)

// Link requests: a link asked for without being signed in is written here
// before the answer (one short insert, the same for every account); the
// account's lookup and its link and mail follow from a claimed row (see
// migration 00011 and auth.LinkRequest).

// AddLinkRequest writes r (r.ID, when empty, becomes a fresh UUIDv7) and
// returns its id.
func (s *Store) AddLinkRequest(ctx context.Context, r auth.LinkRequest) (string, error) {
	if r.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return "", err
		}
		r.ID = id.String()
	}
	_, err := s.writer().exec(ctx, `INSERT INTO link_requests (id, kind, identifier, ip, user_agent, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, r.ID, string(r.Kind), r.Identifier, r.Client.IP, r.Client.UserAgent, ms(r.CreatedAt))
	if err != nil {
		return "", err
	}
	return r.ID, nil
}

const linkRequestColumns = `id, kind, identifier, ip, user_agent, created_at, lease_owner`

func scanLinkRequest(row scanner) (auth.LinkRequest, error) {
	var r auth.LinkRequest
	var kind string
	err := row.Scan(&r.ID, &kind, &r.Identifier, &r.Client.IP, &r.Client.UserAgent, msDest{&r.CreatedAt}, &r.Owner)
	r.Kind = auth.LinkRequestKind(kind)
	return r, err
}

// ClaimLinkRequest leases the request id to owner until now+leaseFor,
// unless another claimer holds a live lease on it or it is gone
// (auth.ErrLinkRequestLost).
func (s *Store) ClaimLinkRequest(ctx context.Context, id, owner string, now time.Time, leaseFor time.Duration) (auth.LinkRequest, error) {
	rows, err := s.writer().query(ctx, `UPDATE link_requests SET lease_owner = ?, lease_until = ?
		WHERE id = ? AND (lease_until IS NULL OR lease_until <= ?)
		RETURNING `+linkRequestColumns, owner, ms(now.Add(leaseFor)), id, ms(now))
	if err != nil {
		return auth.LinkRequest{}, err
	}
	defer rows.Close()
	got, err := scanAll(rows, nil, scanLinkRequest)
	if err != nil {
		return auth.LinkRequest{}, s.write.counted(err)
	}
	if len(got) == 0 {
		return auth.LinkRequest{}, auth.ErrLinkRequestLost
	}
	return got[0], nil
}

// ClaimLinkRequests leases to owner, until now+leaseFor, up to limit
// requests created before createdBefore that no claimer holds a live lease
// on, oldest first: two claimers never hold the same row while its lease
// lasts. On PostgreSQL, rows another claimer is claiming are skipped (SKIP
// LOCKED); SQLite has a single writer.
func (s *Store) ClaimLinkRequests(ctx context.Context, owner string, now, createdBefore time.Time, leaseFor time.Duration, limit int) ([]auth.LinkRequest, error) {
	skipLocked := ""
	if s.dialect == goose.DialectPostgres {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	rows, err := s.writer().query(ctx, `UPDATE link_requests SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT id FROM link_requests
			WHERE created_at < ? AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY id LIMIT ?`+skipLocked+`)
		RETURNING `+linkRequestColumns,
		owner, ms(now.Add(leaseFor)), ms(createdBefore), ms(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out, err := scanAll(rows, nil, scanLinkRequest)
	if err != nil {
		return nil, s.write.counted(err)
	}
	slices.SortFunc(out, func(a, b auth.LinkRequest) int { return strings.Compare(a.ID, b.ID) }) // RETURNING has no order
	return out, nil
}

// DropLinkRequest deletes a request r.Owner holds (nothing was to be
// mailed); auth.ErrLinkRequestLost when another claimer took it over or it
// is gone.
func (s *Store) DropLinkRequest(ctx context.Context, r auth.LinkRequest) error {
	return dropLinkRequest(ctx, s.writer(), r)
}

func dropLinkRequest(ctx context.Context, e execer, r auth.LinkRequest) error {
	res, err := e.exec(ctx, `DELETE FROM link_requests WHERE id = ? AND lease_owner = ?`, r.ID, r.Owner)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return auth.ErrLinkRequestLost
	}
	return nil
}

// LinkRequestCount counts the requests not handled yet, for inspection.
func (s *Store) LinkRequestCount(ctx context.Context) (int, error) {
	var n int
	err := s.reader().queryRow(ctx, `SELECT COUNT(*) FROM link_requests`).Scan(&n)
	return n, err
}
