package store

import (
	"context"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// RecordAudit appends an event to the audit log.
func (s *Store) RecordAudit(ctx context.Context, e auth.AuditEvent) error {
	_, err := s.writer().exec(ctx, `INSERT INTO audit_events (id, at, event, user_id, actor_id, ip, user_agent, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, ms(e.At), e.Event, e.UserID, e.ActorID, e.IP, e.UserAgent, e.Detail)
	return err
}

// AuditEvents lists events matching f, newest first.
func (s *Store) AuditEvents(ctx context.Context, f auth.AuditFilter) ([]auth.AuditEvent, error) {
	return queryAll(ctx, s.reader(), []auth.AuditEvent{}, scanAuditEvent, `SELECT id, at, event, user_id, actor_id, ip, user_agent, detail FROM audit_events
		WHERE (? = '' OR id < ?) AND (? = '' OR user_id = ?) AND (? = '' OR event = ?) ORDER BY id DESC LIMIT ?`,
		f.Before, f.Before, f.UserID, f.UserID, f.Event, f.Event, f.Limit)
}

func scanAuditEvent(r scanner) (auth.AuditEvent, error) {
	var e auth.AuditEvent
	err := r.Scan(&e.ID, msDest{&e.At}, &e.Event, &e.UserID, &e.ActorID, &e.IP, &e.UserAgent, &e.Detail)
	return e, err
}
