package auth

import "sync"

// userCache keeps users by id in memory, so that protected reads (GET /me)
// need no database round-trip. This instance's writes drop entries at once;
// other instances' writes drop them through the change feed (SyncChanges).
// Disabling, demoting or deleting a user also ends its sessions, so a stale
// entry can never outlive the tokens that could read it.
type userCache struct {
	mu  sync.RWMutex
	m   map[string]User
	max int
}

func newUserCache(max int) *userCache { return &userCache{m: make(map[string]User), max: max} }

func (c *userCache) get(id string) (User, bool) {
	c.mu.RLock()
	u, ok := c.m[id]
	c.mu.RUnlock()
	return u, ok
}

func (c *userCache) put(u User) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[u.ID] = u
	c.mu.Unlock()
}

func (c *userCache) drop(ids ...string) {
	c.mu.Lock()
	for _, id := range ids {
		delete(c.m, id)
	}
	c.mu.Unlock()
}

func (c *userCache) dropAll() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}
