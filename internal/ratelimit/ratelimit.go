// Package ratelimit holds Gatehouse's two defences against guessing: token
// buckets per client address, and a progressive lockout per account. Both
// are interfaces with an in-memory implementation here, so that a shared
// store (Redis) can back them when several instances run.
package ratelimit

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Burst requests at once, refilled at Count per
// Period.
type Limit struct {
	Count  int
	Period time.Duration
	Burst  int
}

// Per returns a Limit of n requests per period, with a burst of burst.
func Per(n int, period time.Duration, burst int) Limit {
	return Limit{Count: n, Period: period, Burst: burst}
}

func (l Limit) rate() rate.Limit { return rate.Limit(float64(l.Count) / l.Period.Seconds()) }

// Limiter takes a token from the bucket of key, or says how long to wait.
type Limiter interface {
	Allow(ctx context.Context, key string, l Limit) (ok bool, retryAfter time.Duration, err error)
}

// EmptyChecker is a Limiter that tells an empty bucket without taking from
// it (Memory and Redis are).
type EmptyChecker interface {
	Empty(ctx context.Context, key string, l Limit) (empty bool, retryAfter time.Duration, err error)
}

// Memory is an in-memory Limiter for one instance. Idle buckets are dropped,
// so memory follows the number of recently active clients.
type Memory struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	now     func() time.Time
	nextGC  time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewMemory returns an empty in-memory Limiter using now as its clock.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{buckets: make(map[string]*bucket), now: now}
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, l Limit) (bool, time.Duration, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.rate(), l.Burst)}
		m.buckets[key] = b
	}
	b.seen = now
	if now.After(m.nextGC) {
		m.gc(now)
	}
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute, nil
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request takes no token
		return false, d, nil
	}
	return true, 0, nil
}

// Empty reports whether key's bucket has no token left, without taking one
// (a bucket never used is full): for limits that charge only failures,
// asked before the check so an empty bucket refuses without checking.
func (m *Memory) Empty(_ context.Context, key string, l Limit) (bool, time.Duration, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[key]
	if !ok || b.lim.TokensAt(now) >= 1 {
		return false, 0, nil
	}
	missing := 1 - b.lim.TokensAt(now)
	return true, time.Duration(missing / float64(l.rate()) * float64(time.Second)), nil
}

// gc drops buckets idle long enough to have refilled completely.
func (m *Memory) gc(now time.Time) {
	for k, b := range m.buckets {
		if now.Sub(b.seen) > 10*time.Minute {
			delete(m.buckets, k)
		}
	}
	m.nextGC = now.Add(time.Minute)
}

// Policy is every limit Gatehouse applies.
type Policy struct {
	Login    Limit // login attempts per client address (JSON, form and Basic alike)
	Register Limit // sign-ups per client address
	Refresh  Limit // token refreshes per client address
	Lockout  LockoutPolicy
	// Links asked for (reset, verification, email change): per client
	// address, and per account. Zero: auth's defaults.
	Recovery, RecoveryAccount Limit
	// Client is what one OpenID Connect client may ask of /oauth/token from
	// one address: a confidential client's backend speaks for all its
	// users, so its bucket is its own and large.
	Client Limit
	// Invitations to organizations a member sends, and an address
	// receives (their mail carries text an organization's name chooses).
	// Zero: no bound.
	InvitationsSent, InvitationsReceived Limit
}

// DefaultPolicy is what Gatehouse applies unless configured otherwise: per
// address 20 logins a minute, 20 sign-ups an hour and 120 refreshes a minute
// (generous for an office behind one NAT), and per account a lock after 5
// failures, doubling from 1 s to 15 min, at most 100 failures an hour.
func DefaultPolicy() Policy {
	p := Policy{
		Login:    Per(20, time.Minute, 20),
		Register: Per(20, time.Hour, 20),
		Refresh:  Per(120, time.Minute, 120),
		// A user asking for a link a few times is normal; a flood of mail is not.
		Recovery:        Per(10, time.Hour, 5),
		RecoveryAccount: Per(5, time.Hour, 3),
		Client:          Per(1200, time.Minute, 300),
		// A team invited at once, not a mailing list.
		InvitationsSent:     Per(30, time.Hour, 10),
		InvitationsReceived: Per(5, time.Hour, 3),
	}
	p.Lockout.defaults()
	return p
}

// AddressKey is the bucket key of a client address: an IPv4 address as it
// is, an IPv6 address by its /64, since one host or home is routinely given
// a whole /64 and could otherwise draw a fresh bucket for every request.
// Anything that does not parse is its own key.
func AddressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
