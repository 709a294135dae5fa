package ratelimit

import (
	"context"
	"sync"
	"time"
)

// LockoutPolicy says how failed checks (logins, current-password checks,
// codes) lock an account.
type LockoutPolicy struct {
	FreeFailures int           // failures allowed before any lock (default 5)
	BaseLock     time.Duration // lock after the first failure past them; doubles each time (default 1 s)
	MaxLock      time.Duration // the longest single lock (default 15 min)
	HourlyCap    int           // failures in any hour beyond which the account stays locked (default 100)
}

func (p *LockoutPolicy) defaults() {
	if p.FreeFailures <= 0 {
		p.FreeFailures = 5
	}
	if p.BaseLock <= 0 {
		p.BaseLock = time.Second
	}
	if p.MaxLock <= 0 {
		p.MaxLock = 15 * time.Minute
	}
	if p.HourlyCap <= 0 {
		p.HourlyCap = 100
	}
}

// Lockout counts failed checks of an account's secrets and locks it
// progressively. Every lock expires, so an attacker can slow an owner down
// but never shut them out for good.
//
// Its check-and-count is one atomic step, "charge first, refund on
// success": Begin counts an attempt as a failure before the secret is
// checked, so a burst of concurrent guesses gets no more real checks than
// the same guesses one after another.
type Lockout interface {
	// Begin starts a check for key. While key is locked it refuses:
	// retryAfter is how much longer the lock lasts, and nothing is counted.
	// Otherwise it counts the attempt as a failure and returns retryAfter 0
	// and lock, the lock this failure starts (0: none yet), already in force
	// for every later attempt.
	Begin(ctx context.Context, key string) (retryAfter, lock time.Duration, err error)
	// Succeed refunds a right answer: key's streak and lock are forgotten.
	Succeed(ctx context.Context, key string) error
}

// lockFor is the lock a streak of failures earns: none for the free
// failures, then BaseLock doubling up to MaxLock.
func (p LockoutPolicy) lockFor(streak int) time.Duration {
	over := streak - p.FreeFailures
	if over <= 0 {
		return 0
	}
	if over <= 30 && p.BaseLock<<(over-1) < p.MaxLock {
		return p.BaseLock << (over - 1)
	}
	return p.MaxLock
}

// MemoryLockout is an in-memory Lockout for one instance.
type MemoryLockout struct {
	policy LockoutPolicy
	now    func() time.Time

	mu     sync.Mutex
	state  map[string]*failures
	nextGC time.Time
}

type failures struct {
	times       []time.Time // failures within the last hour, oldest first
	streak      int         // failures since the last success
	lockedUntil time.Time
}

// NewMemoryLockout returns an in-memory Lockout with policy p.
func NewMemoryLockout(p LockoutPolicy, now func() time.Time) *MemoryLockout {
	p.defaults()
	if now == nil {
		now = time.Now
	}
	return &MemoryLockout{policy: p, now: now, state: make(map[string]*failures)}
}

// Begin implements Lockout, atomically under the mutex.
func (l *MemoryLockout) Begin(_ context.Context, key string) (time.Duration, time.Duration, error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(l.nextGC) {
		l.gc(now)
	}
	f, ok := l.state[key]
	if !ok {
		f = &failures{}
		l.state[key] = f
	}
	if now.Before(f.lockedUntil) {
		return f.lockedUntil.Sub(now), 0, nil
	}
	f.times = append(dropOlder(f.times, now.Add(-time.Hour)), now)
	f.streak++
	p := l.policy
	lock := p.lockFor(f.streak)
	if len(f.times) >= p.HourlyCap { // locked until the oldest failure leaves the hour
		if d := f.times[0].Add(time.Hour).Sub(now); d > lock {
			lock = d
		}
	}
	if lock > 0 {
		f.lockedUntil = now.Add(lock)
	}
	return 0, lock, nil
}

// Succeed implements Lockout: the streak and its lock end, and the attempt
// Begin charged leaves the hour's count; earlier failures of the hour stay.
func (l *MemoryLockout) Succeed(_ context.Context, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.state[key]
	if !ok {
		return nil
	}
	f.streak, f.lockedUntil = 0, time.Time{}
	if n := len(f.times); n > 0 {
		f.times = f.times[:n-1]
	}
	if len(f.times) == 0 {
		delete(l.state, key)
	}
	return nil
}

func dropOlder(times []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(times) && times[i].Before(cutoff) {
		i++
	}
	return times[i:]
}

// gc forgets accounts whose last failure is over an hour old and that are
// not locked, so sprayed identifiers do not accumulate.
func (l *MemoryLockout) gc(now time.Time) {
	for k, f := range l.state {
		if len(f.times) > 0 && now.Sub(f.times[len(f.times)-1]) > time.Hour && now.After(f.lockedUntil) {
			delete(l.state, k)
		}
	}
	l.nextGC = now.Add(time.Minute)
}
