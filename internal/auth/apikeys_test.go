package auth_test

import (
	"context"
	"hash/crc32"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// readCountingStore counts the reads API keys make of the database.
type readCountingStore struct {
	auth.Store
	reads atomic.Int64
}

func (s *readCountingStore) APIKeyByHash(ctx context.Context, hash string) (auth.APIKey, error) {
	s.reads.Add(1)
	return s.Store.APIKeyByHash(ctx, hash)
}

func (s *readCountingStore) APIKeys(ctx context.Context, userID string) ([]auth.APIKey, error) {
	s.reads.Add(1)
	return s.Store.APIKeys(ctx, userID)
}

func (s *readCountingStore) User(ctx context.Context, id string) (auth.User, error) {
	s.reads.Add(1)
	return s.Store.User(ctx, id)
}

func newKeyUser(t *testing.T, e *authtest.Env, role string) auth.User {
	t.Helper()
	u, err := e.Accounts.CreateUser(t.Context(), auth.RegisterInput{Email: "keys-" + role + "@example.com", Password: "a long enough passphrase"}, role)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestNewAPIKeysHaveTheFormat(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		k := auth.NewAPIKey()
		if !auth.IsAPIKey(k) || !guard.IsAPIKey(k) || len(k) != 45 || !strings.HasPrefix(k, "gh_pat_") || seen[k] {
			t.Fatalf("key %q", k)
		}
		seen[k] = true
	}
}

// The checksum is the CRC32 (IEEE) of the 32 random characters, in base62
// (0-9, A-Z, a-z), zero-padded to 6: a scanner can check it by hand.
func TestAPIKeyChecksumIsTheContractsCRC32(t *testing.T) {
	t.Parallel()
	random := "0123456789abcdefghijABCDEFGHIJxy"
	n := crc32.ChecksumIEEE([]byte(random))
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := ""
	for range 6 {
		sum = string(digits[n%62]) + sum
		n /= 62
	}
	if !auth.IsAPIKey("gh_pat_" + random + sum) {
		t.Fatalf("gh_pat_%s%s is refused", random, sum)
	}
	for _, bad := range []string{"gh_pat_" + random + "000000", "gh_PAT_" + random + sum, "gh_pat_" + random[1:] + "0" + sum, ""} {
		if auth.IsAPIKey(bad) {
			t.Fatalf("%q accepted", bad)
		}
	}
}

// A key whose checksum is wrong is refused (and audited) without a read of
// the database; one whose checksum is right but that no user holds costs
// one read.
func TestAPIKeyWithWrongChecksumCostsNoRead(t *testing.T) {
	t.Parallel()
	var counter *readCountingStore
	e := authtest.New(t, authtest.WithDeps(func(d *auth.Deps) {
		counter = &readCountingStore{Store: d.Store}
		d.Store = counter
	}))
	ctx := t.Context()
	good := auth.NewAPIKey()
	bad := good[:len(good)-1] + "A"
	if strings.HasSuffix(good, "A") {
		bad = good[:len(good)-1] + "B"
	}
	caller := auth.Client{IP: "192.0.2.7"}
	counter.reads.Store(0)
	for _, k := range []string{bad, "gh_pat_short", good[:40] + "!!!!!", strings.ToUpper(good)} {
		if _, err := e.APIKeys.Authenticate(ctx, k, caller); auth.ErrorCode(err) != auth.CodeInvalidToken {
			t.Fatalf("%q: %v", k, err)
		}
	}
	if n := counter.reads.Load(); n != 0 {
		t.Fatalf("malformed keys cost %d reads", n)
	}
	if _, err := e.APIKeys.Authenticate(ctx, good, caller); auth.ErrorCode(err) != auth.CodeInvalidToken {
		t.Fatalf("unknown key: %v", err)
	}
	if n := counter.reads.Load(); n != 1 {
		t.Fatalf("an unknown well-formed key cost %d reads, want 1", n)
	}
	events, err := e.Store.AuditEvents(ctx, auth.AuditFilter{Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, ev := range events {
		if ev.Event == auth.EventAPIKeyRefused && ev.IP == caller.IP {
			refused++
		}
	}
	if refused != 5 {
		t.Fatalf("%d refusals audited, want 5", refused)
	}
}

// Keys presented from one address share a bucket: a flood is refused
// before any read.
func TestAPIKeyChecksShareTheAddressesBucket(t *testing.T) {
	t.Parallel()
	e := authtest.New(t, authtest.WithConfig(func(c *auth.Config) { c.APIKeyLimit = ratelimit.Per(3, time.Hour, 3) }),
		authtest.WithDeps(func(d *auth.Deps) { d.Limiter = ratelimit.NewMemory(time.Now) }))
	caller := auth.Client{IP: "192.0.2.8"}
	for i := range 4 {
		_, err := e.APIKeys.Authenticate(t.Context(), auth.NewAPIKey(), caller)
		want := auth.CodeInvalidToken
		if i == 3 {
			want = auth.CodeTooManyRequests
		}
		if auth.ErrorCode(err) != want {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	// Introspection from that address (a guard passing on what it is sent)
	// shares the bucket: guesses through a guard cost what they cost here.
	if _, err := e.APIKeys.Introspect(auth.WithClient(t.Context(), caller), auth.NewAPIKey(), caller); auth.ErrorCode(err) != auth.CodeTooManyRequests {
		t.Fatalf("introspection from the flooding address: %v, want too_many_requests", err)
	}
	other := auth.Client{IP: "192.0.2.9"}
	if _, err := e.APIKeys.Introspect(auth.WithClient(t.Context(), other), auth.NewAPIKey(), other); auth.ErrorCode(err) != auth.CodeInvalidToken {
		t.Fatalf("introspection from another address: %v", err)
	}
}

func TestAPIKeyServiceLifecycle(t *testing.T) {
	t.Parallel()
	e := authtest.New(t)
	ctx := t.Context()
	u := newKeyUser(t, e, auth.RoleUser)
	k, raw, err := e.APIKeys.Create(ctx, u.ID, auth.APIKeyInput{Name: "ci", Scopes: []string{"books:write", "me:read", "me:read"}, ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(k.Scopes, " ") != "me:read books:write" || k.Hash == raw || !strings.HasPrefix(raw, k.Prefix) {
		t.Fatalf("key %+v", k)
	}
	use, err := e.APIKeys.Authenticate(ctx, raw, auth.Client{})
	if err != nil || use.User.ID != u.ID || use.Key.ID != k.ID {
		t.Fatalf("use: %+v %v", use, err)
	}
	if err := e.APIKeys.Revoke(ctx, u.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	if !e.Revocations.Revoked(k.ID) {
		t.Fatal("the key's revocation id is not in this instance's revocation set")
	}
	page, err := e.Feed.RevocationsSince(ctx, "", 0)
	if err != nil || len(page.Revoked) != 1 || page.Revoked[0].SessionID != k.ID {
		t.Fatalf("the feed does not carry the key's revocation: %+v %v", page, err)
	}
	if _, err := e.APIKeys.Authenticate(ctx, raw, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidToken {
		t.Fatalf("revoked key: %v", err)
	}
	if _, _, err := e.APIKeys.Create(ctx, u.ID, auth.APIKeyInput{Name: "admin", Scopes: []string{"users:write"}}); auth.ErrorCode(err) != auth.CodeForbidden {
		t.Fatalf("a user's key with users:write: %v", err)
	}
}

func TestDeletingAUserDeletesItsKeys(t *testing.T) {
	t.Parallel()
	e := authtest.New(t)
	ctx := t.Context()
	u := newKeyUser(t, e, auth.RoleUser)
	_, raw, err := e.APIKeys.Create(ctx, u.ID, auth.APIKeyInput{Name: "ci", Scopes: []string{"me:read"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Accounts.DeleteUser(ctx, "cli", u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.APIKeys.Authenticate(ctx, raw, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidToken {
		t.Fatalf("a deleted user's key: %v", err)
	}
	if _, err := e.Store.APIKeyByHash(ctx, auth.HashTokenForTest(raw)); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("the key row outlived its user: %v", err)
	}
}

func FuzzIsAPIKey(f *testing.F) {
	for _, s := range []string{auth.NewAPIKey(), "gh_pat_", "gh_pat_00000000000000000000000000000000000000", "", "gh_pat_\x00", "Bearer gh_pat_x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok := auth.IsAPIKey(s)
		if ok != guard.IsAPIKey(s) { // guard checks keys by the same rule, without a request
			t.Fatalf("%q: auth says %v, guard %v", s, ok, !ok)
		}
		if ok && (len(s) != auth.APIKeyLen || !auth.LooksLikeAPIKey(s)) {
			t.Fatalf("%q accepted", s)
		}
		if ok {
			// One changed character of the random part breaks the checksum
			// unless it collides, which CRC32 never does for one substitution.
			b := []byte(s)
			if b[10] == '0' {
				b[10] = '1'
			} else {
				b[10] = '0'
			}
			if auth.IsAPIKey(string(b)) {
				t.Fatalf("%q and %q both pass", s, b)
			}
		}
	})
}

// Disabling or deleting a user puts its keys' revocation ids in the feed,
// so guards holding them drop them with the user's sessions.
func TestDisablingAUserRevokesItsKeysAtGuards(t *testing.T) {
	t.Parallel()
	e := authtest.New(t)
	ctx := t.Context()
	u := newKeyUser(t, e, auth.RoleUser)
	k, _, err := e.APIKeys.Create(ctx, u.ID, auth.APIKeyInput{Name: "ci", Scopes: []string{"me:read"}})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	if _, err := e.Accounts.AdminUpdate(ctx, "cli", u.ID, nil, &yes); err != nil {
		t.Fatal(err)
	}
	page, err := e.Feed.RevocationsSince(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range page.Revoked {
		found = found || r.SessionID == k.ID
	}
	if !found {
		t.Fatalf("the disabled user's key is not in the revocation feed: %+v", page)
	}
}

// A request made through an API key changes no role, whatever the key's
// scopes (the rule is Accounts', so the JSON API and any other front end
// share it); it may still disable a user, and the audit event names the key.
func TestAPIKeyChangesNoRole(t *testing.T) {
	t.Parallel()
	e := authtest.New(t)
	admin := newKeyUser(t, e, auth.RoleAdmin)
	bob := newKeyUser(t, e, auth.RoleUser)
	ctx := auth.WithAPIKey(t.Context(), "key-id-1")
	role := auth.RoleAdmin
	if _, err := e.Accounts.AdminUpdate(ctx, admin.ID, bob.ID, &role, nil); auth.ErrorCode(err) != auth.CodeForbidden {
		t.Fatalf("a role change through a key: %v, want forbidden", err)
	}
	if u, err := e.Accounts.User(t.Context(), bob.ID); err != nil || u.Role != auth.RoleUser {
		t.Fatalf("bob after the refused change: %+v, %v", u, err)
	}
	yes := true
	if _, err := e.Accounts.AdminUpdate(ctx, admin.ID, bob.ID, nil, &yes); err != nil {
		t.Fatalf("disabling through a key: %v", err)
	}
	events, err := e.Store.AuditEvents(t.Context(), auth.AuditFilter{UserID: bob.ID, Event: auth.EventAdminUpdate, Limit: 10})
	if err != nil || len(events) != 1 || !strings.Contains(events[0].Detail, "through API key key-id-1") {
		t.Fatalf("audit of the change: %+v, %v", events, err)
	}
}
