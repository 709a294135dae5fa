package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// LockoutPolicy says how failed checks (logins, current-password checks,
// codes) lock an account.
type LockoutPolicy struct {
	FreeFailures int           // failures allowed before any lock (default 5)
	BaseLock     time.Duration // lock after the first failure past them; doubles each time (default 1 s)
	MaxLock      time.Duration // the longest single lock (default 15 min)
	HourlyCap    int           // failures in any hour beyond which the account stays locked (default 100)
	// Wait is the longest a check waits for a free slot while the account's
	// slots are all taken by checks in flight (default: the hash pool's
	// wait for a worker, password.DefaultMaxWait).
	Wait time.Duration
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
	if p.Wait <= 0 {
		p.Wait = password.DefaultMaxWait
	}
}

// Lockout counts failed checks of an account's secrets and locks it
// progressively. Every lock expires, so an attacker can slow an owner down
// but never shut them out for good.
//
// Only failures count, and yet a burst of concurrent guesses gets no more
// real checks than the same guesses one after another: an account has as
// many slots for checks in flight as failures a sequence could still make
// before the lock (6 at first, 1 once a lock has expired). A check beyond
// them waits, up to Wait, for a slot; while it waits the checks in flight
// settle: failures shrink the slots by as many as they free (so a burst of
// wrong guesses ends where a sequence would, in a lock that refuses the
// waiters at once), a right answer gives them all back.
type Lockout interface {
	// Begin takes one of key's slots for a check, waiting for one while all
	// are taken. It answers *Refused while key is locked (at once) or when
	// no slot freed within the wait; ctx's error if the caller left first.
	Begin(ctx context.Context, key string) (Slot, error)
	// Settle ends the check that holds slot. Every slot taken must be
	// settled, whatever became of its check. It returns the lock a failure
	// starts (0: none yet), already in force for every later attempt.
	Settle(ctx context.Context, slot Slot, o Outcome) (lock time.Duration, err error)
}

// Slot is a check's place among its account's checks in flight.
type Slot struct {
	key string
	id  string // its reservation in Redis; "" when held in memory
	// counted: settling it counts its outcome only, for a slot this lockout
	// never took (a Redis slot whose settle fell back to memory).
	counted bool
}

// Outcome is how a check ended.
type Outcome int

const (
	// Failed counts towards the lock: a wrong answer, or a check that
	// ended without proving the secret right (an error).
	Failed Outcome = iota
	// Succeeded is a right answer: the streak and any lock end.
	Succeeded
	// Released frees the slot and counts nothing: a right answer that does
	// not end the streak (a password whose second factor is still to come).
	Released
)

// Refused is Begin's answer when a check may not run now.
type Refused struct {
	RetryAfter time.Duration
	// Locked: the account is locked for RetryAfter. Otherwise its slots
	// stayed taken by checks in flight for the whole wait.
	Locked bool
}

func (r *Refused) Error() string {
	if r.Locked {
		return fmt.Sprintf("lockout: locked for %s", r.RetryAfter)
	}
	return "lockout: every slot stayed taken by checks in flight"
}

// busyRetry is the Retry-After of a check that found no free slot: checks
// in flight settle within moments.
const busyRetry = time.Second

// slots is how many checks of an account may be in flight at once: as many
// failures as a sequence could still make before the lock (the streak's,
// or the hour's cap), and at least one once a lock has expired.
func (p LockoutPolicy) slots(streak, hourly int) int {
	return max(1, min(p.FreeFailures+1-streak, p.HourlyCap-hourly))
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
	policy  LockoutPolicy
	now     func() time.Time
	settled wakeups

	mu     sync.Mutex
	state  map[string]*account
	nextGC time.Time
}

type account struct {
	times       []time.Time // failures within the last hour, oldest first
	streak      int         // failures since the last success
	lockedUntil time.Time
	inFlight    int // slots taken
}

// idle reports whether a holds nothing worth keeping.
func (a *account) idle(now time.Time) bool {
	return a.inFlight == 0 && !now.Before(a.lockedUntil) &&
		(len(a.times) == 0 || now.Sub(a.times[len(a.times)-1]) > time.Hour)
}

// NewMemoryLockout returns an in-memory Lockout with policy p.
func NewMemoryLockout(p LockoutPolicy, now func() time.Time) *MemoryLockout {
	p.defaults()
	if now == nil {
		now = time.Now
	}
	return &MemoryLockout{policy: p, now: now, state: make(map[string]*account)}
}

// Begin implements Lockout: each look at the account is atomic under the
// mutex, and a waiter looks again whenever a check of it settles.
func (l *MemoryLockout) Begin(ctx context.Context, key string) (Slot, error) {
	var timeout <-chan time.Time
	for {
		wake, err := l.take(key)
		if err != nil {
			return Slot{}, err
		}
		if wake == nil {
			return Slot{key: key}, nil
		}
		if timeout == nil {
			t := time.NewTimer(l.policy.Wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-wake.ch:
		case <-timeout:
			l.settled.stop(key, wake)
			return Slot{}, &Refused{RetryAfter: busyRetry}
		case <-ctx.Done():
			l.settled.stop(key, wake)
			return Slot{}, ctx.Err()
		}
	}
}

// take takes a slot of key, or refuses while it is locked; when every slot
// is taken it returns instead what wakes a waiter.
func (l *MemoryLockout) take(key string) (*wakeup, error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(l.nextGC) {
		l.gc(now)
	}
	a, ok := l.state[key]
	if !ok {
		a = &account{}
		l.state[key] = a
	}
	if now.Before(a.lockedUntil) {
		return nil, &Refused{RetryAfter: a.lockedUntil.Sub(now), Locked: true}
	}
	a.times = dropOlder(a.times, now.Add(-time.Hour))
	if a.inFlight < l.policy.slots(a.streak, len(a.times)) {
		a.inFlight++
		return nil, nil
	}
	// Watched under the mutex: a settle cannot slip in unseen.
	return l.settled.watch(key), nil
}

// Settle implements Lockout, atomically under the mutex.
func (l *MemoryLockout) Settle(_ context.Context, s Slot, o Outcome) (time.Duration, error) {
	now := l.now()
	l.mu.Lock()
	defer l.settled.wake(s.key) // after the unlock (deferred first, runs last)
	defer l.mu.Unlock()
	a, ok := l.state[s.key]
	if !ok {
		a = &account{}
		l.state[s.key] = a
	}
	if a.inFlight > 0 && !s.counted {
		a.inFlight--
	}
	var lock time.Duration
	switch o {
	case Failed:
		lock = l.fail(a, now)
	case Succeeded:
		a.streak, a.lockedUntil = 0, time.Time{}
	}
	if a.idle(now) {
		delete(l.state, s.key)
	}
	return lock, nil
}

// fail counts a failure of a and sets the lock it earns.
func (l *MemoryLockout) fail(a *account, now time.Time) time.Duration {
	p := l.policy
	a.times = append(dropOlder(a.times, now.Add(-time.Hour)), now)
	a.streak++
	lock := p.lockFor(a.streak)
	if len(a.times) >= p.HourlyCap { // locked until the oldest failure leaves the hour
		if d := a.times[0].Add(time.Hour).Sub(now); d > lock {
			lock = d
		}
	}
	if lock > 0 {
		a.lockedUntil = now.Add(lock)
	}
	return lock
}

func dropOlder(times []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(times) && times[i].Before(cutoff) {
		i++
	}
	return times[i:]
}

// gc forgets accounts whose last failure is over an hour old, that are not
// locked and have no check in flight, so sprayed identifiers do not
// accumulate.
func (l *MemoryLockout) gc(now time.Time) {
	for k, a := range l.state {
		if a.idle(now) {
			delete(l.state, k)
		}
	}
	l.nextGC = now.Add(time.Minute)
}

// wakeups wakes this instance's callers waiting for a slot of a key when a
// check of that key settles.
type wakeups struct {
	mu sync.Mutex
	m  map[string]*wakeup
}

type wakeup struct {
	ch      chan struct{} // closed by the next settle of the key
	waiting int
}

// watch returns what the next settle of key wakes; the caller then either
// receives from it or calls stop.
func (w *wakeups) watch(key string) *wakeup {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[string]*wakeup)
	}
	u := w.m[key]
	if u == nil {
		u = &wakeup{ch: make(chan struct{})}
		w.m[key] = u
	}
	u.waiting++
	return u
}

// stop gives up a watch that was not woken.
func (w *wakeups) stop(key string, u *wakeup) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if u.waiting--; u.waiting == 0 && w.m[key] == u {
		delete(w.m, key)
	}
}

// wake wakes every caller watching key.
func (w *wakeups) wake(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if u := w.m[key]; u != nil {
		close(u.ch)
		delete(w.m, key)
	}
}
