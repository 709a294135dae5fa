package mail

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/events/queue"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
)

// Outbox is the durable queue the worker delivers (the store implements it).
type Outbox interface {
	ClaimMail(ctx context.Context, owner string, now time.Time, leaseFor time.Duration, limit int) ([]outbox.Mail, error)
	MarkSent(ctx context.Context, id, owner string, now time.Time) error
	// MarkFailed makes the mail due again at retryAt, or gives it up (zero retryAt).
	MarkFailed(ctx context.Context, id, owner string, now, retryAt time.Time, lastErr string) error
	PruneMail(ctx context.Context, before time.Time) (int64, error)
}

// WorkerConfig configures a Worker; zero values take the defaults.
type WorkerConfig struct {
	Outbox Outbox
	Sender Sender
	Log    *slog.Logger
	Now    func() time.Time // default time.Now
	Owner  string           // lease owner name; default a random one per worker

	Poll        time.Duration // how often the outbox is read when nobody wakes the worker; default 5 s
	Batch       int           // mails claimed at once; default 10
	SendTimeout time.Duration // per mail; default 30 s
	LeaseFor    time.Duration // how long a claim keeps other workers off; default 2 × Batch × SendTimeout
	FirstRetry  time.Duration // default 5 s, doubling...
	MaxRetry    time.Duration // ...up to 1 h
	MaxAttempts int           // give up after this many attempts; default 100 (more than 72 h of retries hold, so MaxAge is the bound)
	MaxAge      time.Duration // or this long after the mail was written; default 72 h
	Keep        time.Duration // sent and given-up rows are pruned after this; default 7 days

	OnSent   func()           // a mail was delivered (metrics)
	OnFailed func(final bool) // an attempt failed; final when the mail is given up (metrics)
}

// Worker delivers the outbox: it claims due mails with a lease, sends each
// through the Sender, and records the outcome, retrying failures with
// exponential backoff. Several workers (one per instance) may share one
// outbox: a mail leased by one is not claimed by another while the lease
// lasts. The claim, lease and backoff loop is queue.Worker, shared with the
// webhook deliveries.
type Worker struct {
	cfg   WorkerConfig
	retry queue.Retry
	q     *queue.Worker[outbox.Mail]
}

// NewWorker returns a worker; Run starts it.
func NewWorker(c WorkerConfig) *Worker {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Owner == "" {
		c.Owner = "worker-" + rand.Text()[:10]
	}
	if c.Batch <= 0 {
		c.Batch = 10
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 30 * time.Second
	}
	if c.LeaseFor <= 0 {
		c.LeaseFor = 2 * time.Duration(c.Batch) * c.SendTimeout
	}
	if c.FirstRetry <= 0 {
		c.FirstRetry = 5 * time.Second
	}
	if c.MaxRetry <= 0 {
		c.MaxRetry = time.Hour
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 100
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 72 * time.Hour
	}
	w := &Worker{cfg: c, retry: queue.Retry{First: c.FirstRetry, Max: c.MaxRetry, MaxAttempts: c.MaxAttempts, MaxAge: c.MaxAge}}
	w.q = queue.New(queue.Config[outbox.Mail]{
		Name: "mail outbox", Handle: w.deliver,
		Claim: func(ctx context.Context, owner string, now time.Time, leaseFor time.Duration, limit int) ([]outbox.Mail, error) {
			return c.Outbox.ClaimMail(ctx, owner, now, leaseFor, limit)
		},
		Prune: func(ctx context.Context, before time.Time) (int64, error) { return c.Outbox.PruneMail(ctx, before) },
		Log:   c.Log, Now: c.Now, Owner: c.Owner, Poll: c.Poll, Batch: c.Batch, LeaseFor: c.LeaseFor, Keep: c.Keep,
	})
	return w
}

// Wake asks the worker to read the outbox now (after an enqueue) instead of
// at its next poll. It never blocks.
func (w *Worker) Wake() { w.q.Wake() }

// Backoff is the wait after the attempt-th failed attempt: FirstRetry,
// doubling, at most MaxRetry.
func (w *Worker) Backoff(attempt int) time.Duration { return w.retry.Backoff(attempt) }

// Run delivers until ctx ends: at every poll, on every Wake, and again at
// once while batches come back full. Sent and given-up rows are pruned hourly.
func (w *Worker) Run(ctx context.Context) { w.q.Run(ctx) }

// Deliver claims one batch of due mail and sends it, returning how many
// mails it claimed. Tests call it directly with an injected clock.
func (w *Worker) Deliver(ctx context.Context) (int, error) { return w.q.Deliver(ctx) }

// deliver sends one claimed mail and records the outcome.
func (w *Worker) deliver(ctx context.Context, m outbox.Mail) {
	err := m.Unreadable // a body that does not open is given up, never sent empty
	if err == nil {
		sendCtx, cancel := context.WithTimeout(ctx, w.cfg.SendTimeout)
		err = w.cfg.Sender.Send(sendCtx, m.Message)
		cancel()
	}
	now := w.cfg.Now()
	// The outcome is recorded even when shutdown began during the send:
	// a sent mail left unmarked would go out again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	log := w.cfg.Log.With("mail", m.ID, "to", m.Message.To, "subject", m.Message.Subject, "attempt", m.Attempts)
	if err == nil {
		if err := w.cfg.Outbox.MarkSent(ctx, m.ID, w.cfg.Owner, now); err != nil {
			// Sent, but the row could not say so: it may go out once more.
			log.Warn("mail sent but not marked sent", "err", err)
		}
		if w.cfg.OnSent != nil {
			w.cfg.OnSent()
		}
		return
	}
	if errors.Is(err, context.Canceled) {
		return // shutting down mid-send: the lease runs out and the mail is sent later
	}
	retryAt := w.retry.Next(m.Attempts, now, m.CreatedAt)
	final := m.Unreadable != nil || IsPermanent(err) || retryAt.IsZero()
	if final {
		retryAt = time.Time{}
	}
	if merr := w.cfg.Outbox.MarkFailed(ctx, m.ID, w.cfg.Owner, now, retryAt, err.Error()); merr != nil {
		log.Warn("mail failure not recorded", "err", merr, "send_err", err)
	}
	if w.cfg.OnFailed != nil {
		w.cfg.OnFailed(final)
	}
	if final {
		log.Error("mail given up", "err", err, "age", now.Sub(m.CreatedAt).Round(time.Second).String())
		return
	}
	log.Warn("mail not sent; will retry", "err", err, "retry_at", retryAt.Format(time.RFC3339))
}

// SendNow sends m through s at once, bypassing the outbox (gatehouse mail test).
func SendNow(ctx context.Context, s Sender, m Message, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.Send(ctx, m); err != nil {
		return fmt.Errorf("send to %s: %w", m.To, err)
	}
	return nil
}
