package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
	"github.com/google/uuid"
	"github.com/pressly/goose/v3"
)

// The mail outbox. A service that mails a token enqueues the message in the
// transaction that stores the token (a store method taking the token and its
// []outbox.Message calls enqueueMail on its execer), so either both are
// written or neither; the mail worker then claims, sends and marks each row.
//
// Mail bodies carry one-time links, which a copy of the database (a backup,
// a dump, a replica) must not give away: a body is sealed with the master
// key before it is written (sealed_body, bound to its row by the aad
// "mail:"+id), opened when claimed, and blanked once sent or given up.
// Bodies written plain by a version before sealing (text_body, html_body)
// are still delivered, and SealQueuedMail seals them.

var errNoMailKey = errors.New("outbox: no master key to seal mail with (Store.SealMailWith)")

// SealMailWith gives the outbox the master key that seals mail bodies at
// rest. Call it once, before the store writes or claims mail: without it,
// both fail rather than keep links readable in the database.
func (s *Store) SealMailWith(k outbox.Sealer) { s.mailKey = k }

// mailBody is what a sealed body holds: both parts of the message.
type mailBody struct {
	Text string `json:"text"`
	HTML string `json:"html,omitempty"`
}

func mailAAD(id string) []byte { return []byte("mail:" + id) }

// sealBody seals m's parts for the row id, in the column's text form.
func (s *Store) sealBody(id string, m outbox.Message) (string, error) {
	if s.mailKey == nil {
		return "", errNoMailKey
	}
	plain, err := json.Marshal(mailBody{Text: m.Text, HTML: m.HTML})
	if err != nil {
		return "", err
	}
	sealed, err := s.mailKey.Seal(plain, mailAAD(id))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sealed), nil
}

// openBody opens a body sealed by sealBody for the row id.
func (s *Store) openBody(id, stored string) (mailBody, error) {
	var b mailBody
	sealed, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return b, fmt.Errorf("the sealed body is not base64: %w", err)
	}
	plain, err := s.mailKey.Open(sealed, mailAAD(id))
	if err != nil {
		return b, err
	}
	if err := json.Unmarshal(plain, &b); err != nil {
		return b, fmt.Errorf("the opened body: %w", err)
	}
	return b, nil
}

// EnqueueMail writes msgs to the outbox, due at now, in a transaction of
// their own (for mail that carries no token).
func (s *Store) EnqueueMail(ctx context.Context, now time.Time, msgs ...outbox.Message) error {
	return s.inTx(ctx, func(e execer) error { return s.enqueueMail(ctx, e, now, msgs) })
}

// enqueueMail writes msgs, their bodies sealed, inside the caller's
// transaction e.
func (s *Store) enqueueMail(ctx context.Context, e execer, now time.Time, msgs []outbox.Message) error {
	for _, m := range msgs {
		if strings.TrimSpace(m.To) == "" {
			return errors.New("enqueue mail: no recipient")
		}
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		body, err := s.sealBody(id.String(), m)
		if err != nil {
			return fmt.Errorf("enqueue mail: %w", err)
		}
		if _, err := e.exec(ctx, `INSERT INTO mail_outbox (id, recipient, subject, text_body, sealed_body, created_at, next_attempt_at)
			VALUES (?, ?, ?, '', ?, ?, ?)`, id.String(), m.To, m.Subject, body, ms(now), ms(now)); err != nil {
			return err
		}
	}
	return nil
}

// SealQueuedMail seals the bodies of queued mails written plain (by a
// version before sealing), so that a copy of the database taken from now
// on holds none of their links. The server runs it at start; it returns how
// many it sealed.
func (s *Store) SealQueuedMail(ctx context.Context) (int, error) {
	if s.mailKey == nil {
		return 0, errNoMailKey
	}
	type plainMail struct{ id, text, html string }
	scanPlainMail := func(r scanner) (plainMail, error) {
		var p plainMail
		err := r.Scan(&p.id, &p.text, &p.html)
		return p, err
	}
	plain, err := queryAll(ctx, s.writer(), nil, scanPlainMail, `SELECT id, text_body, html_body FROM mail_outbox
		WHERE sealed_body = '' AND sent_at IS NULL AND failed_at IS NULL AND (text_body <> '' OR html_body <> '')`)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range plain {
		body, err := s.sealBody(p.id, outbox.Message{Text: p.text, HTML: p.html})
		if err != nil {
			return n, err
		}
		// A mail sent or given up meanwhile stays blank.
		res, err := s.writer().exec(ctx, `UPDATE mail_outbox SET sealed_body = ?, text_body = '', html_body = ''
			WHERE id = ? AND sealed_body = '' AND sent_at IS NULL AND failed_at IS NULL`, body, p.id)
		if err != nil {
			return n, err
		}
		if k, err := res.RowsAffected(); err == nil && k == 1 {
			n++
		}
	}
	if n > 0 {
		return n, s.truncateLog(ctx)
	}
	return n, nil
}

// ClaimMail leases up to limit due mails (not sent, not given up, next
// attempt due, no live lease) to owner until now+leaseFor and counts the
// attempt, in one statement: two workers never claim the same row while its
// lease lasts. On PostgreSQL, rows another worker is claiming are skipped
// (SKIP LOCKED); SQLite has a single writer. Sealed bodies are opened; one
// that does not open comes back with Unreadable set.
func (s *Store) ClaimMail(ctx context.Context, owner string, now time.Time, leaseFor time.Duration, limit int) ([]outbox.Mail, error) {
	if s.mailKey == nil {
		return nil, errNoMailKey
	}
	skipLocked := ""
	if s.dialect == goose.DialectPostgres {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	rows, err := s.writer().query(ctx, `UPDATE mail_outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1
		WHERE id IN (SELECT id FROM mail_outbox
			WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY next_attempt_at, id LIMIT ?`+skipLocked+`)
		RETURNING id, recipient, subject, text_body, html_body, sealed_body, attempts, created_at`,
		owner, ms(now.Add(leaseFor)), ms(now), ms(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []outbox.Mail
	for rows.Next() {
		var m outbox.Mail
		var sealed string
		if err := rows.Scan(&m.ID, &m.Message.To, &m.Message.Subject, &m.Message.Text, &m.Message.HTML, &sealed,
			&m.Attempts, msDest{&m.CreatedAt}); err != nil {
			return nil, err
		}
		if sealed != "" { // else a body written plain before sealing
			b, err := s.openBody(m.ID, sealed)
			m.Message.Text, m.Message.HTML, m.Unreadable = b.Text, b.HTML, err
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.write.counted(err)
	}
	slices.SortFunc(out, func(a, b outbox.Mail) int { return strings.Compare(a.ID, b.ID) }) // RETURNING has no order
	return out, nil
}

// blankBody ends a row's body: once sent or given up, nothing reads it.
const blankBody = `text_body = '', html_body = '', sealed_body = ''`

// MarkSent records the delivery of a mail owner holds the lease of, and
// blanks its body.
func (s *Store) MarkSent(ctx context.Context, id, owner string, now time.Time) error {
	return s.endLease(ctx, `UPDATE mail_outbox SET sent_at = ?, lease_until = NULL, last_error = '', `+blankBody+`
		WHERE id = ? AND lease_owner = ? AND sent_at IS NULL AND failed_at IS NULL`, ms(now), id, owner)
}

// MarkFailed records a failed attempt of a mail owner holds the lease of:
// it is due again at retryAt, or, with a zero retryAt, given up at now
// (its body blanked).
func (s *Store) MarkFailed(ctx context.Context, id, owner string, now, retryAt time.Time, lastErr string) error {
	if len(lastErr) > 1000 {
		lastErr = lastErr[:1000]
	}
	if retryAt.IsZero() {
		return s.endLease(ctx, `UPDATE mail_outbox SET failed_at = ?, lease_until = NULL, last_error = ?, `+blankBody+`
			WHERE id = ? AND lease_owner = ? AND sent_at IS NULL AND failed_at IS NULL`, ms(now), lastErr, id, owner)
	}
	return s.endLease(ctx, `UPDATE mail_outbox SET next_attempt_at = ?, lease_until = NULL, last_error = ?
		WHERE id = ? AND lease_owner = ? AND sent_at IS NULL AND failed_at IS NULL`, ms(retryAt), lastErr, id, owner)
}

func (s *Store) endLease(ctx context.Context, q string, args ...any) error {
	res, err := s.writer().exec(ctx, q, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return outbox.ErrLeaseLost
	}
	return nil
}

// OutboxDepth counts the mails still to be delivered (neither sent nor given up).
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	var n int
	err := s.reader().queryRow(ctx, `SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL`).Scan(&n)
	return n, err
}

// OutboxEntry is a row of the outbox as it stands, for inspection.
type OutboxEntry struct {
	ID, To, Subject, LastError string
	Attempts                   int
	CreatedAt, NextAttemptAt   time.Time
	SentAt, FailedAt           time.Time // zero until sent, or given up
}

// OutboxEntries lists the outbox's rows, oldest first, up to limit.
func (s *Store) OutboxEntries(ctx context.Context, limit int) ([]OutboxEntry, error) {
	return queryAll(ctx, s.reader(), nil, scanOutboxEntry, `SELECT id, recipient, subject, last_error, attempts, created_at, next_attempt_at, sent_at, failed_at
		FROM mail_outbox ORDER BY id LIMIT ?`, limit)
}

func scanOutboxEntry(r scanner) (OutboxEntry, error) {
	var e OutboxEntry
	err := r.Scan(&e.ID, &e.To, &e.Subject, &e.LastError, &e.Attempts, msDest{&e.CreatedAt},
		msDest{&e.NextAttemptAt}, msDest{&e.SentAt}, msDest{&e.FailedAt})
	return e, err
}

// PruneMail deletes mails sent or given up before before.
func (s *Store) PruneMail(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.writer().exec(ctx, `DELETE FROM mail_outbox WHERE sent_at < ? OR failed_at < ?`, ms(before), ms(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
