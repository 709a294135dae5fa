package password

import (
	"context"
	"sync/atomic"
	"time"
)

// pool bounds concurrent hashing: slots holds one token per running hash and
// at most maxWaiting callers queue for a slot, each for at most maxWait.
type pool struct {
	slots      chan struct{}
	waiting    atomic.Int64
	maxWaiting int64
	maxWait    time.Duration
	onWait     func(time.Duration)
}

func newPool(workers, queue int, maxWait time.Duration, onWait func(time.Duration)) *pool {
	if onWait == nil {
		onWait = func(time.Duration) {}
	}
	return &pool{slots: make(chan struct{}, workers), maxWaiting: int64(queue), maxWait: maxWait, onWait: onWait}
}

// do runs f when a slot is free, or returns ErrBusy when the queue is full or
// the wait too long, or ctx's error when the caller gives up first.
func (p *pool) do(ctx context.Context, f func()) error {
	select {
	case p.slots <- struct{}{}:
		p.onWait(0)
	default:
		start := time.Now()
		if p.waiting.Add(1) > p.maxWaiting {
			p.waiting.Add(-1)
			return ErrBusy
		}
		timer := time.NewTimer(p.maxWait)
		select {
		case p.slots <- struct{}{}:
			p.waiting.Add(-1)
			timer.Stop()
			p.onWait(time.Since(start))
		case <-timer.C:
			p.waiting.Add(-1)
			return ErrBusy
		case <-ctx.Done():
			p.waiting.Add(-1)
			timer.Stop()
			return ctx.Err()
		}
	}
	defer func() { <-p.slots }()
	f()
	return nil
}

// QueueDepth is the number of callers waiting for a worker.
func (h *Hasher) QueueDepth() int { return int(h.pool.waiting.Load()) }
