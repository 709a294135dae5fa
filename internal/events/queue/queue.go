// Package queue is the leased worker of Gatehouse's durable queues: the
// mail outbox and the webhook deliveries. Rows are written in the
// transaction of the change they follow from; a Worker claims due rows with
// a lease (so that, with several instances sharing a database, a row is
// handled by one of them while its lease lasts), hands each to its Handle,
// which does the work and records the outcome, and retries failures with
// exponential backoff (Retry). A row whose worker died mid-way is claimed
// again once its lease has run out: delivery is at least once.
//
// The package knows nothing of mail or webhooks, and imports nothing of
// Gatehouse.
package queue

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync"
	"time"
)

// Config configures a Worker; zero durations and counts take the defaults.
type Config[T any] struct {
	// Name says what the worker delivers, in its log lines ("mail outbox").
	Name string
	// Claim leases up to limit due rows to owner until now+leaseFor.
	Claim func(ctx context.Context, owner string, now time.Time, leaseFor time.Duration, limit int) ([]T, error)
	// Handle does the work of one claimed row and records its outcome
	// (done, due again later, or given up) under owner's lease.
	Handle func(ctx context.Context, item T)
	// Prune, if set, deletes the rows ended before before; it runs hourly.
	Prune func(ctx context.Context, before time.Time) (int64, error)

	Log   *slog.Logger
	Now   func() time.Time // default time.Now
	Owner string           // lease owner name; default a random one per worker

	Poll  time.Duration // how often the queue is read when nobody wakes the worker; default 5 s
	Batch int           // most rows claimed at once; default 10
	// Concurrency is how many rows are handled at once; default 1 (one
	// after another, in the order claimed). A queue whose Claim never
	// returns a row while one it must follow is in hand (webhooks: one
	// row per endpoint and user at a time) sets it so that one slow
	// receiver does not hold up the others.
	Concurrency int
	LeaseFor    time.Duration // how long a claim keeps other workers off; default 10 min
	Keep        time.Duration // ended rows are pruned after this; default 7 days
}

// Worker claims and handles the rows of one queue.
type Worker[T any] struct {
	cfg  Config[T]
	wake chan struct{}
}

// New returns a worker; Run starts it.
func New[T any](c Config[T]) *Worker[T] {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Owner == "" {
		c.Owner = "worker-" + rand.Text()[:10]
	}
	if c.Poll <= 0 {
		c.Poll = 5 * time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 10
	}
	if c.LeaseFor <= 0 {
		c.LeaseFor = 10 * time.Minute
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.Keep <= 0 {
		c.Keep = 7 * 24 * time.Hour
	}
	return &Worker[T]{cfg: c, wake: make(chan struct{}, 1)}
}

// Owner is the name this worker's leases are held under.
func (w *Worker[T]) Owner() string { return w.cfg.Owner }

// Wake asks the worker to read the queue now (after an enqueue) instead of
// at its next poll. It never blocks.
func (w *Worker[T]) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run handles the queue until ctx ends. It keeps up to Concurrency rows in
// hand and claims more as handlers end (a pool, not rounds): a row whose
// handling hangs holds one slot until its timeout, and the others go on.
// It claims at every poll, on every Wake, when a handler ends (which may
// have made a row waiting for it due), and again at once while claims come
// back full. Ended rows are pruned hourly. When ctx ends it claims nothing
// more and returns once the handlers in flight have ended (they record
// their outcomes on a context of their own).
func (w *Worker[T]) Run(ctx context.Context) {
	tick := time.NewTicker(w.cfg.Poll)
	defer tick.Stop()
	ended := make(chan struct{}, w.cfg.Concurrency)
	var handlers sync.WaitGroup
	defer handlers.Wait()
	inFlight, claim := 0, true
	lastPrune := time.Time{}
	for {
		for claim && inFlight < w.cfg.Concurrency && ctx.Err() == nil {
			limit := min(w.cfg.Concurrency-inFlight, w.cfg.Batch)
			rows, err := w.cfg.Claim(ctx, w.cfg.Owner, w.cfg.Now(), w.cfg.LeaseFor, limit)
			if err != nil {
				if ctx.Err() == nil {
					w.cfg.Log.Warn(w.cfg.Name+": claim failed", "err", err)
				}
				break // tried again at the next poll, wake or end of a handler
			}
			for _, item := range rows {
				inFlight++
				handlers.Go(func() {
					defer func() { ended <- struct{}{} }()
					w.cfg.Handle(ctx, item)
				})
			}
			claim = len(rows) == limit
		}
		if now := w.cfg.Now(); w.cfg.Prune != nil && now.Sub(lastPrune) >= time.Hour && ctx.Err() == nil {
			lastPrune = now
			if n, err := w.cfg.Prune(ctx, now.Add(-w.cfg.Keep)); err != nil && ctx.Err() == nil {
				w.cfg.Log.Warn(w.cfg.Name+": prune failed", "err", err)
			} else if n > 0 {
				w.cfg.Log.Info(w.cfg.Name+": pruned ended rows", "rows", n)
			}
		}
		select {
		case <-ctx.Done():
			return // after the handlers in flight (deferred Wait)
		case <-ended:
			inFlight--
		case <-tick.C:
		case <-w.wake:
		}
		claim = true
	}
}

// Deliver runs one round, for tests with an injected clock: it claims one
// batch of due rows, handles them (in order, or up to Concurrency at
// once), and returns how many it claimed once all are handled.
func (w *Worker[T]) Deliver(ctx context.Context) (int, error) {
	batch, err := w.cfg.Claim(ctx, w.cfg.Owner, w.cfg.Now(), w.cfg.LeaseFor, w.cfg.Batch)
	if err != nil {
		return 0, err
	}
	slots := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, item := range batch {
		if ctx.Err() != nil {
			// The lease runs out and another worker (or this one, restarted) handles it.
			return len(batch), ctx.Err()
		}
		if w.cfg.Concurrency == 1 {
			w.cfg.Handle(ctx, item)
			continue
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			w.cfg.Handle(ctx, item)
		})
	}
	return len(batch), nil
}

// Retry is a queue's retry policy: exponential backoff from First, doubling
// up to Max, until MaxAttempts attempts or MaxAge after the row was written.
type Retry struct {
	First, Max  time.Duration
	MaxAttempts int // 0: no limit but MaxAge
	MaxAge      time.Duration
}

// Backoff is the wait after the attempt-th failed attempt: First, doubling,
// at most Max.
func (r Retry) Backoff(attempt int) time.Duration {
	d := r.First
	for i := 1; i < attempt && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}

// Next is when a row written at created is tried again after its
// attempt-th attempt failed at now; the zero time when it is given up
// (MaxAttempts reached, or the retry would fall past MaxAge).
func (r Retry) Next(attempt int, now, created time.Time) time.Time {
	at := now.Add(r.Backoff(attempt))
	if r.MaxAttempts > 0 && attempt >= r.MaxAttempts || at.Sub(created) > r.MaxAge {
		return time.Time{}
	}
	return at
}
