package ratelimit

import (
	"context"
	"sync"
	"time"
)

// LockoutPolicy says how failed logins lock an account.
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

// Lockout counts failed logins per account and locks it progressively.
// Every lock expires, so an attacker can slow an owner down but never shut
// them out for good.
type Lockout interface {
	// Locked reports how much longer key is locked (0: not locked).
	Locked(ctx context.Context, key string) (time.Duration, error)
	// Fail records a failure and returns the lock it starts (0: none yet).
	Fail(ctx context.Context, key string) (time.Duration, error)
	// Succeed forgets key's failures.
	Succeed(ctx context.Context, key string) error
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

// Locked implements Lockout.
func (l *MemoryLockout) Locked(_ context.Context, key string) (time.Duration, error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.state[key]; ok && now.Before(f.lockedUntil) {
		return f.lockedUntil.Sub(now), nil
	}
	return 0, nil
}

// Fail implements Lockout.
func (l *MemoryLockout) Fail(_ context.Context, key string) (time.Duration, error) {
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
	f.times = append(dropOlder(f.times, now.Add(-time.Hour)), now)
	f.streak++
	p := l.policy
	var lock time.Duration
	if over := f.streak - p.FreeFailures; over > 0 {
		lock = p.MaxLock
		if over <= 30 && p.BaseLock<<(over-1) < p.MaxLock {
			lock = p.BaseLock << (over - 1)
		}
	}
	if len(f.times) >= p.HourlyCap { // locked until the oldest failure leaves the hour
		if d := f.times[0].Add(time.Hour).Sub(now); d > lock {
			lock = d
		}
	}
	if lock > 0 {
		f.lockedUntil = now.Add(lock)
	}
	return lock, nil
}

// Succeed implements Lockout.
func (l *MemoryLockout) Succeed(_ context.Context, key string) error {
	l.mu.Lock()
	delete(l.state, key)
	l.mu.Unlock()
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
