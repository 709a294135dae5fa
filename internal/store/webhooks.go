package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
	"github.com/google/uuid"
	"github.com/pressly/goose/v3"
)

// Webhooks: the endpoints (events.Store) and the durable event queue.
//
// Emitting an event. An event is written in the transaction of the change
// it reports, so that either both are committed or neither: inside the
// store method's inTx (or inBatch) function, after the change's statements,
// add one line:
//
//	if err := emit(ctx, e, events.New(events.APIKeyCreated, now, events.Data{"user_id": k.UserID, "api_key_id": k.ID})); err != nil {
//		return err
//	}
//
// (add the type to internal/events' constants and Types first if it is
// new). emit writes the event and one delivery per enabled endpoint
// subscribed to its type; with none it writes nothing. Data holds ids only;
// "user_id" orders a user's events per endpoint.

// OnEventsQueued sets f to be called after a transaction that queued
// webhook events has committed (the deliverer's Wake), so they go out at
// once rather than at the next poll. Set it before the store is used.
func (s *Store) OnEventsQueued(f func()) { s.eventsQueued = f }

// errEmitOutsideTx guards against an event written apart from its change.
var errEmitOutsideTx = errors.New("store: an event is emitted inside the transaction of its change (inTx or inBatch)")

// emit queues ev for every enabled endpoint subscribed to its type, on e,
// which must be the change's transaction.
func emit(ctx context.Context, e execer, ev events.Event) error {
	if e.tx == nil {
		return errEmitOutsideTx
	}
	rows, err := e.query(ctx, `SELECT id, events FROM webhook_endpoints WHERE disabled_at IS NULL ORDER BY id`)
	if err != nil {
		return err
	}
	var to []string
	for rows.Next() {
		var id, types string
		if err := rows.Scan(&id, &types); err != nil {
			rows.Close()
			return err
		}
		if events.Subscribed(strings.Fields(types), ev.Type) {
			to = append(to, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(to) == 0 {
		return err
	}
	body, err := ev.Body()
	if err != nil {
		return fmt.Errorf("event %s: %w", ev.Type, err)
	}
	if _, err := e.exec(ctx, `INSERT INTO webhook_events (id, type, body, created_at) VALUES (?, ?, ?, ?)`,
		ev.ID, ev.Type, string(body), ms(ev.Time)); err != nil {
		return err
	}
	if e.queued != nil {
		*e.queued = true
	}
	for _, endpoint := range to {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		if _, err := e.exec(ctx, `INSERT INTO webhook_deliveries (id, endpoint_id, event_id, order_key, created_at, next_attempt_at)
			VALUES (?, ?, ?, ?, ?, ?)`, id.String(), endpoint, ev.ID, ev.OrderKey(), ms(ev.Time), ms(ev.Time)); err != nil {
			return err
		}
	}
	return nil
}

// emitAll emits one event per id of ids, each with data plus key=id.
func emitAll(ctx context.Context, e execer, typ string, now time.Time, data events.Data, key string, ids []string) error {
	for _, id := range ids {
		d := events.Data{key: id}
		for k, v := range data {
			d[k] = v
		}
		if err := emit(ctx, e, events.New(typ, now, d)); err != nil {
			return err
		}
	}
	return nil
}

func enc(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func dec(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s) // written by enc; an unreadable one does not open
	return b
}

const endpointColumns = `id, url, events, description, secret, old_secret, old_secret_until, created_at, updated_at,
	disabled_at, disabled_reason, failing_since`

func scanEndpoint(r scanner) (events.Endpoint, error) {
	var ep events.Endpoint
	var types, secret, old string
	err := r.Scan(&ep.ID, &ep.URL, &types, &ep.Description, &secret, &old, msDest{&ep.OldSecretUntil},
		msDest{&ep.CreatedAt}, msDest{&ep.UpdatedAt}, msDest{&ep.DisabledAt}, &ep.DisabledReason, msDest{&ep.FailingSince})
	ep.Events, ep.Secret, ep.OldSecret = strings.Fields(types), dec(secret), dec(old)
	if old == "" {
		ep.OldSecret = nil
	}
	return ep, err
}

// CreateWebhook inserts an endpoint.
func (s *Store) CreateWebhook(ctx context.Context, ep events.Endpoint) error {
	_, err := s.writer().exec(ctx, `INSERT INTO webhook_endpoints (id, url, events, description, secret, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, ep.ID, ep.URL, strings.Join(ep.Events, " "), ep.Description, enc(ep.Secret),
		ms(ep.CreatedAt), ms(ep.CreatedAt))
	return err
}

// Webhook returns an endpoint.
func (s *Store) Webhook(ctx context.Context, id string) (events.Endpoint, error) {
	ep, err := scanEndpoint(s.reader().queryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return ep, notFound("The webhook")
	}
	return ep, err
}

// Webhooks lists the endpoints, oldest first.
func (s *Store) Webhooks(ctx context.Context) ([]events.Endpoint, error) {
	return queryAll(ctx, s.reader(), []events.Endpoint{}, scanEndpoint, `SELECT `+endpointColumns+` FROM webhook_endpoints ORDER BY id`)
}

// UpdateWebhook applies u to an endpoint.
func (s *Store) UpdateWebhook(ctx context.Context, id string, u events.EndpointUpdate, now time.Time) (events.Endpoint, error) {
	var ep events.Endpoint
	err := s.inTx(ctx, func(e execer) error {
		var types sql.NullString
		if u.Events != nil {
			types = sql.NullString{String: strings.Join(u.Events, " "), Valid: true}
		}
		enable, disable := u.Enabled != nil && *u.Enabled, u.Enabled != nil && !*u.Enabled
		res, err := e.exec(ctx, `UPDATE webhook_endpoints SET url = COALESCE(?, url), events = COALESCE(?, events),
			description = COALESCE(?, description), updated_at = ?,
			disabled_at = CASE WHEN ? THEN NULL WHEN ? THEN COALESCE(disabled_at, CAST(? AS BIGINT)) ELSE disabled_at END,
			disabled_reason = CASE WHEN ? THEN '' WHEN ? AND disabled_at IS NULL THEN 'disabled by an administrator' ELSE disabled_reason END,
			failing_since = CASE WHEN ? THEN NULL ELSE failing_since END,
			retry_at = CASE WHEN ? THEN NULL ELSE retry_at END
			WHERE id = ?`,
			nullPtr(u.URL), types, nullPtr(u.Description), ms(now), enable, disable, ms(now), enable, disable, enable, enable, id)
		if err := affectedOne(res, err, "The webhook"); err != nil {
			return err
		}
		ep, err = scanEndpoint(e.queryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = ?`, id))
		return err
	})
	return ep, err
}

// DeleteWebhook deletes an endpoint and its deliveries.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	return s.inTx(ctx, func(e execer) error {
		if _, err := e.exec(ctx, `DELETE FROM webhook_deliveries WHERE endpoint_id = ?`, id); err != nil {
			return err
		}
		res, err := e.exec(ctx, `DELETE FROM webhook_endpoints WHERE id = ?`, id)
		return affectedOne(res, err, "The webhook")
	})
}

// SetWebhookSecret makes secret the endpoint's secret and keeps the one it
// replaces until oldUntil.
func (s *Store) SetWebhookSecret(ctx context.Context, id string, secret []byte, oldUntil, now time.Time) error {
	res, err := s.writer().exec(ctx, `UPDATE webhook_endpoints SET old_secret = secret, old_secret_until = ?, secret = ?, updated_at = ?
		WHERE id = ?`, ms(oldUntil), enc(secret), ms(now), id)
	return affectedOne(res, err, "The webhook")
}

// ClaimDeliveries leases due deliveries (see events.Store). A delivery
// waits while an earlier one of its endpoint and order key is neither
// delivered nor given up, so a user's events reach each endpoint in order;
// while its endpoint backs off (retry_at ahead); and while its endpoint has
// events.InFlightPerEndpoint deliveries leased, counting the earlier ones
// of this claim (ranked per endpoint), so one endpoint cannot fill a batch.
func (s *Store) ClaimDeliveries(ctx context.Context, owner string, now time.Time, leaseFor time.Duration, limit int) ([]events.Delivery, error) {
	// PostgreSQL locks no row of a query with a window function: the due
	// rows are ranked first, then locked, skipping those another instance
	// is claiming, and checked again once locked (a row an instance claimed
	// and committed meanwhile is leased now, and left out).
	skipLocked := ""
	if s.dialect == goose.DialectPostgres {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	claimed, err := queryAll(ctx, s.writer(), nil, scanClaimedDelivery, `UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ?, attempts = attempts + 1
		WHERE id IN (SELECT c.id FROM webhook_deliveries c WHERE c.id IN (
			SELECT id FROM (
				SELECT d.id, d.next_attempt_at,
					ROW_NUMBER() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) + COALESCE(f.n, 0) AS in_flight
				FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
				LEFT JOIN (SELECT endpoint_id, COUNT(*) AS n FROM webhook_deliveries
					WHERE delivered_at IS NULL AND failed_at IS NULL AND lease_until > ? GROUP BY endpoint_id) f ON f.endpoint_id = d.endpoint_id
				WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt_at <= ?
				AND (d.lease_until IS NULL OR d.lease_until <= ?) AND w.disabled_at IS NULL
				AND (w.retry_at IS NULL OR w.retry_at <= ?)
				AND (d.order_key = '' OR NOT EXISTS (SELECT 1 FROM webhook_deliveries p
					WHERE p.endpoint_id = d.endpoint_id AND p.order_key = d.order_key AND p.id < d.id
					AND p.delivered_at IS NULL AND p.failed_at IS NULL))
			) due WHERE in_flight <= ? ORDER BY next_attempt_at, id LIMIT ?)
			AND c.delivered_at IS NULL AND c.failed_at IS NULL AND (c.lease_until IS NULL OR c.lease_until <= ?)`+skipLocked+`)
		RETURNING id, endpoint_id, event_id, attempts, created_at`,
		owner, ms(now.Add(leaseFor)), ms(now), ms(now), ms(now), ms(now), events.InFlightPerEndpoint, limit, ms(now))
	if err != nil {
		return nil, err
	}
	slices.SortFunc(claimed, func(a, b events.Delivery) int { return strings.Compare(a.ID, b.ID) }) // RETURNING has no order
	for i := range claimed {
		d := &claimed[i]
		var secret, old string
		err := s.writer().queryRow(ctx, `SELECT w.url, w.secret, w.old_secret, w.old_secret_until, w.failing_since, ev.type, ev.body
			FROM webhook_endpoints w, webhook_events ev WHERE w.id = ? AND ev.id = ?`, d.EndpointID, d.EventID).
			Scan(&d.URL, &secret, &old, msDest{&d.OldSecretUntil}, msDest{&d.FailingSince}, &d.EventType, &d.Body)
		if err != nil {
			return nil, err
		}
		d.Secret = dec(secret)
		if old != "" && d.OldSecretUntil.After(now) {
			d.OldSecret = dec(old)
		}
	}
	return claimed, nil
}

func scanClaimedDelivery(r scanner) (events.Delivery, error) {
	var d events.Delivery
	err := r.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.Attempts, msDest{&d.CreatedAt})
	return d, err
}

// RecordAttempt records one attempt's outcome (see events.Attempt): the
// delivery's state, and the endpoint's failure streak, in one transaction
// with, when the endpoint is disabled, the administrators' mail.
func (s *Store) RecordAttempt(ctx context.Context, a events.Attempt) error {
	if len(a.Err) > 1000 {
		a.Err = a.Err[:1000]
	}
	return s.inTx(ctx, func(e execer) error {
		last := []any{ms(a.At), a.Status, a.Duration.Milliseconds(), a.Response, a.Err}
		var res sql.Result
		var err error
		const ended = `lease_until = NULL, last_attempt_at = ?, last_status = ?, last_duration_ms = ?, last_response = ?, last_error = ?`
		const mine = ` WHERE id = ? AND lease_owner = ? AND delivered_at IS NULL AND failed_at IS NULL`
		switch {
		case a.Delivered:
			res, err = e.exec(ctx, `UPDATE webhook_deliveries SET delivered_at = ?, `+ended+mine,
				append(append([]any{ms(a.At)}, last...), a.DeliveryID, a.Owner)...)
		case a.RetryAt.IsZero():
			res, err = e.exec(ctx, `UPDATE webhook_deliveries SET failed_at = ?, `+ended+mine,
				append(append([]any{ms(a.At)}, last...), a.DeliveryID, a.Owner)...)
		default:
			res, err = e.exec(ctx, `UPDATE webhook_deliveries SET next_attempt_at = ?, `+ended+mine,
				append(append([]any{ms(a.RetryAt)}, last...), a.DeliveryID, a.Owner)...)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return outbox.ErrLeaseLost
		}
		if a.Delivered {
			_, err := e.exec(ctx, `UPDATE webhook_endpoints SET failing_since = NULL, retry_at = NULL
				WHERE id = ? AND (failing_since IS NOT NULL OR retry_at IS NOT NULL)`, a.EndpointID)
			return err
		}
		if _, err := e.exec(ctx, `UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, CAST(? AS BIGINT)),
			retry_at = CASE WHEN retry_at > ? THEN retry_at ELSE CAST(? AS BIGINT) END WHERE id = ?`,
			ms(a.At), nullMS(a.EndpointRetryAt), nullMS(a.EndpointRetryAt), a.EndpointID); err != nil {
			return err
		}
		if a.Disable == "" {
			return nil
		}
		res, err = e.exec(ctx, `UPDATE webhook_endpoints SET disabled_at = ?, disabled_reason = ?, updated_at = ?
			WHERE id = ? AND disabled_at IS NULL`, ms(a.At), a.Disable, ms(a.At), a.EndpointID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // disabled already (by another instance): mailed once
		}
		return s.enqueueMail(ctx, e, a.At, a.Notice)
	})
}

const deliveryColumns = `d.id, d.endpoint_id, d.event_id, ev.type, d.created_at, d.attempts, d.next_attempt_at, d.last_attempt_at,
	d.last_status, d.last_duration_ms, d.last_response, d.last_error, d.delivered_at, d.failed_at`

// Deliveries lists an endpoint's deliveries, newest first.
func (s *Store) Deliveries(ctx context.Context, endpointID string, limit int) ([]events.DeliveryRecord, error) {
	return queryAll(ctx, s.reader(), []events.DeliveryRecord{}, scanDeliveryRecord, `SELECT `+deliveryColumns+` FROM webhook_deliveries d
		JOIN webhook_events ev ON ev.id = d.event_id WHERE d.endpoint_id = ? ORDER BY d.id DESC LIMIT ?`, endpointID, limit)
}

func scanDeliveryRecord(row scanner) (events.DeliveryRecord, error) {
	var r events.DeliveryRecord
	var durMS int64
	err := row.Scan(&r.ID, &r.EndpointID, &r.EventID, &r.EventType, msDest{&r.CreatedAt}, &r.Attempts,
		msDest{&r.NextAttemptAt}, msDest{&r.LastAttemptAt}, &r.Status, &durMS, &r.Response, &r.Error,
		msDest{&r.DeliveredAt}, msDest{&r.FailedAt})
	r.Duration = time.Duration(durMS) * time.Millisecond
	return r, err
}

// RetryDelivery makes a delivery due again at now.
func (s *Store) RetryDelivery(ctx context.Context, endpointID, deliveryID string, now time.Time) error {
	// A delivery being sent right now (its lease live) is left alone: it
	// is going out already, and clearing its lease would send it twice.
	res, err := s.writer().exec(ctx, `UPDATE webhook_deliveries SET delivered_at = NULL, failed_at = NULL, next_attempt_at = ?,
		lease_until = NULL WHERE id = ? AND endpoint_id = ? AND (lease_until IS NULL OR lease_until <= ?)`,
		ms(now), deliveryID, endpointID, ms(now))
	if err := affectedOne(res, err, "The delivery"); auth.ErrorCode(err) == auth.CodeNotFound {
		var n int
		if err := s.writer().queryRow(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE id = ? AND endpoint_id = ?`,
			deliveryID, endpointID).Scan(&n); err != nil {
			return err
		}
		if n == 1 {
			return nil // in flight
		}
		return notFound("The delivery")
	} else if err != nil {
		return err
	}
	// An administrator's retry is meant to go out now, whatever the endpoint's backoff.
	_, err = s.writer().exec(ctx, `UPDATE webhook_endpoints SET retry_at = NULL WHERE id = ?`, endpointID)
	return err
}

// AdminEmails lists the addresses of the enabled administrators.
func (s *Store) AdminEmails(ctx context.Context) ([]string, error) {
	return queryAll(ctx, s.reader(), nil, scanColumn[string], `SELECT email FROM users WHERE role = 'admin' AND disabled_at IS NULL AND email IS NOT NULL ORDER BY id`)
}

// PruneDeliveries deletes deliveries ended before before, then the events
// no delivery refers to any more.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `DELETE FROM webhook_deliveries WHERE delivered_at < ? OR failed_at < ?`, ms(before), ms(before))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		_, err = e.exec(ctx, `DELETE FROM webhook_events WHERE created_at < ?
			AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)`, ms(before))
		return err
	})
	return n, err
}
