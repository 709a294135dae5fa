package auth

import (
	"sync"
	"time"
)

// Revocations is the in-memory set of ended sessions whose access tokens may
// still be unexpired. guard consults it on every request (it implements
// guard.RevocationSource), so a protected request needs no database read.
// Entries leave the set once every token they could cover has expired, so it
// stays as small as the number of recent logouts.
type Revocations struct {
	mu      sync.RWMutex
	until   map[string]time.Time // session id → when its last access token expires
	nextGC  time.Time
	nowFunc func() time.Time
}

// NewRevocations returns an empty set using now as its clock.
func NewRevocations(now func() time.Time) *Revocations {
	return &Revocations{until: make(map[string]time.Time), nowFunc: now}
}

// Revoked reports whether the session has been ended.
func (r *Revocations) Revoked(sessionID string) bool {
	r.mu.RLock()
	_, ok := r.until[sessionID]
	r.mu.RUnlock()
	return ok
}

// Add records ended sessions; until is when their last access token expires.
func (r *Revocations) Add(until time.Time, sessionIDs ...string) {
	now := r.nowFunc()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range sessionIDs {
		if until.After(r.until[id]) {
			r.until[id] = until
		}
	}
	if now.After(r.nextGC) { // prune at most once a minute, on the write path
		for id, u := range r.until {
			if now.After(u) {
				delete(r.until, id)
			}
		}
		r.nextGC = now.Add(time.Minute)
	}
}

// Len is the number of sessions in the set.
func (r *Revocations) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.until)
}
