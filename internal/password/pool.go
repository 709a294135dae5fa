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
	onIdle     func() // may be nil
	running    atomic.Int64
	idleTimer  atomic.Bool // a check for a quiet second is pending
}

// becameIdle arranges for onIdle to run if the pool is still idle a second
// from now: after a burst, not in the gaps within one.
func (p *pool) becameIdle() {
	if p.onIdle == nil || p.idleTimer.Swap(true) {
		return
	}
	time.AfterFunc(time.Second, func() {
		p.idleTimer.Store(false)
		if p.running.Load() == 0 && p.waiting.Load() == 0 {
			p.onIdle()
		}
	})
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
	p.running.Add(1)
	defer func() {
		<-p.slots
		if p.running.Add(-1) == 0 && p.waiting.Load() == 0 {
			p.becameIdle()
		}
	}()
	f()
	return nil
}

// QueueDepth is the number of callers waiting for a worker.
func (h *Hasher) QueueDepth() int { return int(h.pool.waiting.Load()) }
