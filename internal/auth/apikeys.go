package auth

import (
	"context"
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// API keys (personal access tokens): a user's long-lived keys for scripts
// and CI, sent as "Authorization: Bearer gh_pat_...". A key acts as its user
// with at most its scopes on Gatehouse's own API; the route table
// (internal/httpapi/routes.go) names the scope each route needs, and routes
// that name none (keys, factors, password, email, sessions of others) refuse
// keys with 403 forbidden. Only a key's SHA-256 is stored; the key itself is
// shown once, when it is created.

// Key scopes: what a key may do at Gatehouse's own API.
const (
	KeyScopeMeRead     = "me:read"
	KeyScopeBooksRead  = "books:read"
	KeyScopeBooksWrite = "books:write"
	KeyScopeOrgsRead   = "orgs:read"
	KeyScopeOrgsWrite  = "orgs:write"
	KeyScopeUsersRead  = "users:read"  // administrators' keys only
	KeyScopeUsersWrite = "users:write" // administrators' keys only
)

// KeyScopes are every scope a key may hold, in the order lists show them.
var KeyScopes = []string{KeyScopeMeRead, KeyScopeBooksRead, KeyScopeBooksWrite, KeyScopeOrgsRead, KeyScopeOrgsWrite,
	KeyScopeUsersRead, KeyScopeUsersWrite}

// adminKeyScopes are the scopes only an administrator's key may hold.
var adminKeyScopes = []string{KeyScopeUsersRead, KeyScopeUsersWrite}

// Limits of keys.
const (
	MaxAPIKeysPerUser = 100
	MaxAPIKeyLifetime = 10 * 366 * 24 * time.Hour
	// apiKeyUseInterval: a key's last-used time is written at most this often.
	apiKeyUseInterval = time.Minute
)

// CheckAPIKey is the guarded check of an API key.
const CheckAPIKey CheckKind = "api key"

// Audit events of API keys. A successful use is counted (metrics, and the
// key's last-used time), not audited: scripts use keys thousands of times.
const (
	EventAPIKeyCreated = "api_key_created"
	EventAPIKeyRevoked = "api_key_revoked"
	EventAPIKeyRefused = "api_key_refused" // a malformed, unknown, revoked or expired key, or a disabled account's
	// EventAPIKeyUsed is counted (Deps.Count), never recorded.
	EventAPIKeyUsed = "api_key_used"
)

// APIKey is a stored key: never the key itself, only its SHA-256.
type APIKey struct {
	ID         string
	UserID     string
	Name       string
	Prefix     string // the key's first characters, for lists
	Hash       string // hex SHA-256 of the key
	Scopes     []string
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: live
}

// Live says whether the key works at now.
func (k APIKey) Live(now time.Time) bool {
	return k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

// APIKeyInput is what a new key is asked with.
type APIKeyInput struct {
	Name      string
	Scopes    []string
	ExpiresIn time.Duration // 0: never expires
}

// KeyUse is an authenticated key and its user.
type KeyUse struct {
	Key  APIKey
	User User
}

// APIKeys is the API keys' service: create, list, revoke, and check a key.
type APIKeys struct {
	*core
	store  apiKeysStore
	checks *Checks
	limit  ratelimit.Limit
	uses   lastUses
}

// DefaultAPIKeyLimit is what one address may present in keys: a script's
// pace is generous, a flood of guesses (each a lookup) is not.
var DefaultAPIKeyLimit = ratelimit.Per(3000, time.Minute, 600)

// Create makes a key for userID and returns it with the key itself, the
// only time the key is seen. Scopes beyond the user's (users:* for a
// non-administrator) are forbidden.
func (s *APIKeys) Create(ctx context.Context, userID string, in APIKeyInput) (APIKey, string, error) {
	name, err := cleanKeyName(in.Name)
	if err != nil {
		return APIKey{}, "", err
	}
	scopes, err := cleanKeyScopes(in.Scopes)
	if err != nil {
		return APIKey{}, "", err
	}
	if in.ExpiresIn < 0 || in.ExpiresIn > MaxAPIKeyLifetime || (in.ExpiresIn > 0 && in.ExpiresIn < time.Minute) {
		return APIKey{}, "", Errorf(CodeInvalidRequest, "expires_in must be from 60 seconds to ten years, or left out for a key that does not expire.")
	}
	u, err := s.user(ctx, userID)
	if err != nil {
		return APIKey{}, "", err
	}
	if u.Role != RoleAdmin && slices.ContainsFunc(scopes, func(sc string) bool { return slices.Contains(adminKeyScopes, sc) }) {
		return APIKey{}, "", Errorf(CodeForbidden, "Only an administrator's key may hold the users:read or users:write scope.")
	}
	live, err := s.store.APIKeys(ctx, userID)
	if err != nil {
		return APIKey{}, "", err
	}
	if len(live) >= MaxAPIKeysPerUser {
		return APIKey{}, "", Errorf(CodeInvalidRequest, "An account has at most %d API keys; revoke one first.", MaxAPIKeysPerUser)
	}
	raw := NewAPIKey()
	now := s.now()
	k := APIKey{ID: newID(), UserID: userID, Name: name, Prefix: raw[:apiKeyShownLen], Hash: hashToken(raw),
		Scopes: scopes, CreatedAt: now}
	if in.ExpiresIn > 0 {
		k.ExpiresAt = now.Add(in.ExpiresIn).Truncate(time.Second)
	}
	if err := s.store.CreateAPIKey(ctx, k); err != nil {
		return APIKey{}, "", err
	}
	s.audit(ctx, EventAPIKeyCreated, userID, fmt.Sprintf("key %s (%s; %s)", k.ID, k.Prefix, strings.Join(scopes, " ")))
	return k, raw, nil
}

// List returns the user's keys that are not revoked, newest first
// (expired ones too, until they are revoked or pruned). Never the keys.
func (s *APIKeys) List(ctx context.Context, userID string) ([]APIKey, error) {
	if _, err := s.user(ctx, userID); err != nil {
		return nil, err
	}
	return s.store.APIKeys(ctx, userID)
}

// Revoke ends a key of userID at once, here and, through the change feed
// (its id is its revocation id), at every instance and guard. An
// administrator's revocation is audited with the admin as actor
// (WithActor). Another user's key, or none: not_found.
func (s *APIKeys) Revoke(ctx context.Context, userID, keyID string) error {
	now := s.now()
	if err := s.store.RevokeAPIKey(ctx, userID, keyID, now, s.liveUntil(now)); err != nil {
		return err
	}
	s.ended(ctx, now, keyID)
	s.audit(ctx, EventAPIKeyRevoked, userID, "key "+keyID)
	return nil
}

// Authenticate checks a key presented to Gatehouse's own API, on the
// guarded path: the address's bucket of key checks, then the key (a wrong
// checksum is refused before any read), and on failure an audit event and
// one answer, invalid_token, whatever was wrong.
func (s *APIKeys) Authenticate(ctx context.Context, raw string, c Client) (KeyUse, error) {
	return s.check(ctx, raw, c, false)
}

// Introspect checks a key for a client that has proved who it is (the
// introspection endpoint, caller its address): the same guarded path and
// bucket, where only failures count, so keys guessed through a guard cost
// what they cost here (the guard's address is the one that asks) while a
// busy resource server's real keys never run it dry.
func (s *APIKeys) Introspect(ctx context.Context, raw string, caller Client) (KeyUse, error) {
	return s.check(ctx, raw, caller, true)
}

var errInvalidKey = Errorf(CodeInvalidToken, "The API key is not valid.")

func (s *APIKeys) check(ctx context.Context, raw string, c Client, failuresOnly bool) (KeyUse, error) {
	var use KeyUse
	err := s.checks.guarded(ctx, secretCheck{Kind: CheckAPIKey, Client: c, Secret: raw,
		Bucket: "api-key", BucketLimit: s.limit, FailuresOnly: failuresOnly,
		Unpadded: true, // a lookup by hash costs the same whatever it finds
		Refusal:  errInvalidKey, FailEvent: EventAPIKeyRefused,
		Check: func(ctx context.Context) (checkOutcome, error) {
			var reason string
			var err error
			use, reason, err = s.find(ctx, raw)
			if err != nil || reason != "" {
				return checkOutcome{Reason: reason, UserID: use.Key.UserID}, err
			}
			return checkOutcome{OK: true}, nil
		}})
	if err != nil {
		return KeyUse{}, err
	}
	s.count(EventAPIKeyUsed)
	s.uses.note(use.Key, s.now())
	return use, nil
}

// find looks a key up by its hash; reason says why it does not work.
func (s *APIKeys) find(ctx context.Context, raw string) (KeyUse, string, error) {
	if !IsAPIKey(raw) {
		return KeyUse{}, "malformed key or wrong checksum", nil // no read
	}
	hash := hashToken(raw)
	k, err := s.store.APIKeyByHash(ctx, hash)
	if ErrorCode(err) == CodeNotFound {
		return KeyUse{}, "unknown key", nil
	} else if err != nil {
		return KeyUse{}, "", err
	}
	// The look-up was by this hash; comparing it again costs nothing and
	// holds should a store ever match loosely.
	if subtle.ConstantTimeCompare([]byte(k.Hash), []byte(hash)) != 1 {
		return KeyUse{}, "unknown key", nil
	}
	use := KeyUse{Key: k}
	now := s.now()
	switch {
	case !k.RevokedAt.IsZero():
		return use, "revoked key " + k.ID, nil
	case !k.Live(now):
		return use, "expired key " + k.ID, nil
	}
	u, err := s.user(ctx, k.UserID)
	if ErrorCode(err) == CodeNotFound {
		return use, "deleted account", nil
	} else if err != nil {
		return KeyUse{}, "", err
	}
	if u.Disabled {
		return use, "disabled account", nil
	}
	if u.Role != RoleAdmin { // an administrator's scopes end with the role
		use.Key.Scopes = slices.DeleteFunc(slices.Clone(use.Key.Scopes), func(s string) bool { return slices.Contains(adminKeyScopes, s) })
	}
	use.User = u
	return use, "", nil
}

// user reads a user, from the services' cache when it can.
func (s *APIKeys) user(ctx context.Context, id string) (User, error) {
	if u, ok := s.users.get(id); ok {
		return u, nil
	}
	u, err := s.store.User(ctx, id)
	if err == nil {
		s.users.put(u)
	}
	return u, err
}

// FlushLastUsed writes the last-used times noted since the last flush, in
// one store call; the server runs it every few seconds, off the request
// path (and once more when it stops).
func (s *APIKeys) FlushLastUsed(ctx context.Context) error {
	batch := s.uses.take(s.now())
	if len(batch) == 0 {
		return nil
	}
	return s.store.TouchAPIKeys(ctx, batch, apiKeyUseInterval)
}

// lastUses collects keys' last-used times between flushes. A key is noted
// at most once a minute per instance (and the store writes it at most once
// a minute in all), so a script's thousands of requests cost one write.
type lastUses struct {
	mu      sync.Mutex
	pending map[string]time.Time // key id → last use, to write
	noted   map[string]time.Time // key id → when it was last noted here
}

func (l *lastUses) note(k APIKey, now time.Time) {
	if !k.LastUsedAt.IsZero() && now.Sub(k.LastUsedAt) < apiKeyUseInterval {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if at, ok := l.noted[k.ID]; ok && now.Sub(at) < apiKeyUseInterval {
		return
	}
	if l.pending == nil {
		l.pending, l.noted = map[string]time.Time{}, map[string]time.Time{}
	}
	l.pending[k.ID], l.noted[k.ID] = now, now
}

// take hands out the pending times and forgets notes older than a minute.
func (l *lastUses) take(now time.Time) map[string]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	batch := l.pending
	l.pending = nil
	for id, at := range l.noted {
		if now.Sub(at) >= apiKeyUseInterval {
			delete(l.noted, id)
		}
	}
	return batch
}

// cleanKeyName trims a key's name: 1 to 100 printable characters.
func cleanKeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 100 || strings.ContainsFunc(name, unicode.IsControl) {
		return "", Errorf(CodeInvalidRequest, "The key's name must be 1 to 100 printable characters.")
	}
	return name, nil
}

// cleanKeyScopes checks that every scope is a key scope, and returns them
// once each in KeyScopes' order.
func cleanKeyScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, Errorf(CodeInvalidRequest, "A key needs at least one scope (%s).", strings.Join(KeyScopes, ", "))
	}
	for _, sc := range scopes {
		if !slices.Contains(KeyScopes, sc) {
			return nil, Errorf(CodeInvalidRequest, "The scope %q is not a key scope (%s).", truncate(sc, 64), strings.Join(KeyScopes, ", "))
		}
	}
	var out []string
	for _, sc := range KeyScopes {
		if slices.Contains(scopes, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}
