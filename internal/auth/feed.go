package auth

import (
	"context"
	"fmt"
	"time"
)

// revocationOverlap is how far before its cursor each read of the
// revocation log looks. A revocation stamped at T can commit just after one
// stamped later (transactions queue for the writer); re-reading a few seconds
// costs little, since adding a session to the set twice changes nothing.
const revocationOverlap = 5 * time.Second

// RevocationsSince returns the logged revocations after cursor (less the
// overlap) whose access tokens may still be live, and the cursor for the
// next read: the time of this read. A zero cursor returns every such
// revocation. An entry is returned again by reads within the overlap after
// it; instances' clocks must agree to well within the overlap (NTP does).
func (s *Service) RevocationsSince(ctx context.Context, cursor time.Time) ([]Revocation, time.Time, error) {
	now := s.now()
	revs, err := s.store.RevokedSince(ctx, cursor.Add(-revocationOverlap), now)
	if err != nil {
		return nil, cursor, fmt.Errorf("read revocation log: %w", err)
	}
	return revs, now, nil
}

// SyncChanges reads what changed in the database since the last read: the
// revocation log, into the in-memory revocation set (at start, so a restart
// forgets no logout, then every poll, so a logout on another instance is
// seen here), and changed users, out of the user cache.
func (s *Service) SyncChanges(ctx context.Context) error {
	s.revMu.Lock()
	defer s.revMu.Unlock()
	revs, next, err := s.RevocationsSince(ctx, s.revCursor)
	if err != nil {
		return err
	}
	changed, err := s.store.UsersChangedSince(ctx, s.revCursor.Add(-revocationOverlap))
	if err != nil {
		return fmt.Errorf("read user changes: %w", err)
	}
	for _, r := range revs {
		s.revocations.Add(r.ExpiresAt, r.SessionID)
	}
	s.users.drop(changed...)
	s.revCursor = next
	return nil
}
