package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"
)

// API keys (Gatehouse's personal access tokens, "gh_pat_..."): a Guard
// configured with Introspection accepts them as bearer tokens. The first use
// of a key asks Gatehouse's introspection endpoint, as a resource-server
// client (registered with "gatehouse client add ... --introspect"); the
// answer is then held in memory, so later uses cost a lookup:
//
//   - an active key until its expiry, at most HoldFor, or until the
//     revocation feed (the same one that ends sessions) names its
//     revocation id;
//   - an unknown, revoked or expired key for NegativeFor (one second), so a
//     flood of made-up keys costs Gatehouse at most one request per key per
//     second;
//   - a key whose checksum is wrong is refused without asking anyone.
//
// Concurrent first uses of one key make one request. The memory is a fixed
// number of entries (CacheSize), evicted in least-recently-used order
// (CLOCK): a flood cannot grow it.

// APIKeyPrefix starts every Gatehouse API key.
const APIKeyPrefix = "gh_pat_"

// Introspection is how a Guard checks API keys at Gatehouse.
type Introspection struct {
	// URL is Gatehouse's introspection endpoint (<issuer>/oauth/introspect).
	URL string
	// ClientID and ClientSecret are a confidential client registered with
	// --introspect; they are sent with HTTP Basic (RFC 6749 2.3.1).
	ClientID, ClientSecret string
	HTTPClient             *http.Client // default: one with a 5 s timeout
	// CacheSize bounds the keys held (active and refused alike); default
	// 10000.
	CacheSize int
	// HoldFor bounds how long an active key is held before Gatehouse is
	// asked again; default 5 minutes. Gatehouse keeps a key's revocation in
	// its feed for its --access-ttl (15 minutes by default) and a minute:
	// keep HoldFor below it, so no revocation is missed.
	HoldFor time.Duration
	// NegativeFor is how long a refused key (or a failed request) is held;
	// default 1 second.
	NegativeFor time.Duration
}

// IsAPIKey reports whether token has the form of a Gatehouse API key:
// "gh_pat_", 32 base62 characters and the CRC32 (IEEE) of those in base62,
// zero-padded to 6. It reads nothing but the token.
func IsAPIKey(token string) bool {
	const randomLen, sumLen = 32, 6
	if len(token) != len(APIKeyPrefix)+randomLen+sumLen || !strings.HasPrefix(token, APIKeyPrefix) {
		return false
	}
	body := token[len(APIKeyPrefix):]
	for i := 0; i < len(body); i++ {
		if !isBase62[body[i]] {
			return false
		}
	}
	n := crc32.ChecksumIEEE([]byte(body[:randomLen]))
	for i := len(body) - 1; i >= randomLen; i-- {
		if body[i] != base62[n%62] {
			return false
		}
		n /= 62
	}
	return true
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

var isBase62 = func() (t [256]bool) {
	for i := 0; i < len(base62); i++ {
		t[base62[i]] = true
	}
	return t
}()

var (
	errUnavailable = &Error{CodeUnavailable, "The API key could not be checked; try again shortly."}
	errInvalidKey  = &Error{CodeInvalidToken, "The API key is not valid."}
	errNoKeys      = &Error{CodeInvalidToken, "API keys are not accepted here."}
)

// keyChecker checks API keys by introspection, holding the answers.
type keyChecker struct {
	cfg    Introspection
	now    func() time.Time
	client *http.Client
	cache  *keyCache
	calls  singleflight.Group
}

func newKeyChecker(c Introspection, now func() time.Time) (*keyChecker, error) {
	if c.URL == "" || c.ClientID == "" || c.ClientSecret == "" {
		return nil, errors.New("guard: Introspection needs URL, ClientID and ClientSecret")
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 10000
	}
	if c.HoldFor <= 0 {
		c.HoldFor = 5 * time.Minute
	}
	if c.NegativeFor <= 0 {
		c.NegativeFor = time.Second
	}
	return &keyChecker{cfg: c, now: now, client: c.HTTPClient, cache: newKeyCache(c.CacheSize)}, nil
}

// keyAnswer is what is held of a key: its claims (nil: refused) until when.
type keyAnswer struct {
	claims *Claims
	err    *Error // why it is refused
	until  time.Time
}

// check returns the claims of an active key, from memory when it can.
func (k *keyChecker) check(ctx context.Context, token string) (*Claims, error) {
	if a, ok := k.cache.get(token); ok && k.now().Before(a.until) { // only well-formed keys are held
		if a.claims == nil {
			return nil, a.err
		}
		return a.claims, nil
	}
	if !IsAPIKey(token) {
		return nil, errInvalidKey
	}
	v, _, _ := k.calls.Do(token, func() (any, error) {
		// Another caller may have filled the entry while this one waited.
		if a, ok := k.cache.get(token); ok && k.now().Before(a.until) {
			return a, nil
		}
		a := k.introspect(context.WithoutCancel(ctx), token)
		k.cache.put(token, a)
		return a, nil
	})
	a := v.(*keyAnswer)
	if a.claims == nil {
		return nil, a.err
	}
	return a.claims, nil
}

// introspection is the part of an RFC 7662 answer guard reads.
type introspection struct {
	Active bool   `json:"active"`
	Sub    string `json:"sub"`
	Scope  string `json:"scope"`
	Exp    int64  `json:"exp"`
	Iat    int64  `json:"iat"`
	Sid    string `json:"sid"`
	Jti    string `json:"jti"`
	Iss    string `json:"iss"`
	Role   string `json:"role"`
}

// introspect asks Gatehouse about token. A failure is held as briefly as a
// refusal, so an outage is not a flood.
func (k *keyChecker) introspect(ctx context.Context, token string) *keyAnswer {
	now := k.now()
	refused := &keyAnswer{err: errInvalidKey, until: now.Add(k.cfg.NegativeFor)}
	in, err := k.post(ctx, token)
	if err != nil {
		return &keyAnswer{err: errUnavailable, until: now.Add(k.cfg.NegativeFor)}
	}
	if !in.Active || in.Sub == "" || in.Sid == "" {
		return refused
	}
	until := now.Add(k.cfg.HoldFor)
	c := &Claims{SessionID: in.Sid, Role: in.Role, Scope: in.Scope}
	c.Subject, c.ID, c.Issuer = in.Sub, in.Jti, in.Iss
	if in.Exp > 0 {
		exp := time.Unix(in.Exp, 0)
		if !now.Before(exp) {
			return refused
		}
		c.ExpiresAt = jwt.NewNumericDate(exp)
		if exp.Before(until) {
			until = exp
		}
	}
	if in.Iat > 0 {
		c.IssuedAt = jwt.NewNumericDate(time.Unix(in.Iat, 0))
	}
	return &keyAnswer{claims: c, until: until}
}

func (k *keyChecker) post(ctx context.Context, token string) (*introspection, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.cfg.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(k.cfg.ClientID), url.QueryEscape(k.cfg.ClientSecret))
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("guard: introspect: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("guard: introspect: status %d", resp.StatusCode)
	}
	var in introspection
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&in); err != nil {
		return nil, fmt.Errorf("guard: introspect: %w", err)
	}
	return &in, nil
}

// keyCache is a fixed number of answers by key, evicted by CLOCK (an
// approximation of least-recently-used): a hit takes a read lock and sets
// the entry's used bit, so lookups from many goroutines do not contend.
type keyCache struct {
	mu    sync.RWMutex
	index map[string]int // key → slot
	slots []keySlot      // all allocated at once; the first n are in use
	n     int
	hand  int
}

type keySlot struct {
	key    string
	answer *keyAnswer
	used   atomic.Bool
}

func newKeyCache(size int) *keyCache {
	return &keyCache{index: make(map[string]int, size), slots: make([]keySlot, size)}
}

func (c *keyCache) get(key string) (*keyAnswer, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	i, ok := c.index[key]
	if !ok {
		return nil, false
	}
	s := &c.slots[i]
	if !s.used.Load() {
		s.used.Store(true)
	}
	return s.answer, true
}

func (c *keyCache) put(key string, a *keyAnswer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[key]; ok {
		c.slots[i].answer = a
		c.slots[i].used.Store(true)
		return
	}
	if c.n < len(c.slots) {
		c.slots[c.n].key, c.slots[c.n].answer = key, a
		c.index[key] = c.n
		c.n++
		return
	}
	for { // the hand clears used bits until it finds an entry not used since its last pass
		s := &c.slots[c.hand]
		if s.used.Load() {
			s.used.Store(false)
			c.hand = (c.hand + 1) % len(c.slots)
			continue
		}
		delete(c.index, s.key)
		s.key, s.answer = key, a
		c.index[key] = c.hand
		c.hand = (c.hand + 1) % len(c.slots)
		return
	}
}

// len is how many keys are held.
func (c *keyCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.index)
}
