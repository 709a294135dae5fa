package guard_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/golang-jwt/jwt/v5"
)

const digits62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newKey is a well-formed key (right checksum) that no server knows.
func newKey(t testing.TB) string {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = digits62[int(b[i])%62]
	}
	n := crc32.ChecksumIEEE(b)
	sum := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		sum[i] = digits62[n%62]
		n /= 62
	}
	return "gh_pat_" + string(b) + string(sum)
}

// introspector is a fake introspection endpoint: it knows the keys in
// active (key → answer) and counts requests per key.
type introspector struct {
	mu      sync.Mutex
	active  map[string]map[string]any
	asked   map[string]int
	total   atomic.Int64
	status  int           // answer this status instead, when set
	arrived chan struct{} // told of each request, when set
	release chan struct{} // each request waits for it, when set
}

func newIntrospector() *introspector {
	return &introspector{active: map[string]map[string]any{}, asked: map[string]int{}}
}

func (s *introspector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if id, secret, ok := r.BasicAuth(); !ok || id != "rs" || secret != "rs-secret" || r.PostFormValue("token") == "" {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	s.total.Add(1)
	if s.arrived != nil {
		s.arrived <- struct{}{}
	}
	if s.release != nil {
		<-s.release
	}
	tok := r.PostFormValue("token")
	s.mu.Lock()
	s.asked[tok]++
	answer, ok := s.active[tok]
	status := s.status
	s.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	if !ok {
		answer = map[string]any{"active": false}
	}
	_ = json.NewEncoder(w).Encode(answer)
}

func (s *introspector) times(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked[key]
}

type keyFixture struct {
	now     atomic.Pointer[time.Time]
	server  *introspector
	guard   *guard.Guard
	revoked revoked
}

func newKeyFixture(t testing.TB, size int) *keyFixture {
	t.Helper()
	f := &keyFixture{server: newIntrospector(), revoked: revoked{}}
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	f.now.Store(&start)
	srv := httptest.NewServer(f.server)
	t.Cleanup(srv.Close)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	g, err := guard.New(guard.Config{Issuer: issuer, Audience: audience, Algorithms: []string{"EdDSA"},
		Keys: keySet{"ed": {Algorithm: "EdDSA", Public: pub}}, Revocations: f.revoked,
		Now:           func() time.Time { return *f.now.Load() },
		Introspection: &guard.Introspection{URL: srv.URL, ClientID: "rs", ClientSecret: "rs-secret", CacheSize: size}})
	if err != nil {
		t.Fatal(err)
	}
	f.guard = g
	return f
}

func (f *keyFixture) advance(d time.Duration) {
	next := f.now.Load().Add(d)
	f.now.Store(&next)
}

func (f *keyFixture) activate(key, sid string, exp time.Time) {
	f.server.mu.Lock()
	defer f.server.mu.Unlock()
	answer := map[string]any{"active": true, "sub": "user-1", "scope": "books:read", "sid": sid, "jti": sid, "role": "user",
		"token_type": "Bearer", "iss": issuer}
	if !exp.IsZero() {
		answer["exp"] = exp.Unix()
	}
	f.server.active[key] = answer
}

func TestAPIKeyIsIntrospectedOnceThenHeld(t *testing.T) {
	t.Parallel()
	f := newKeyFixture(t, 0)
	key := newKey(t)
	f.activate(key, "key-1", time.Time{})
	for range 5 {
		c, err := f.guard.Verify(key)
		if err != nil || c.Subject != "user-1" || !c.HasScope("books:read") || c.SessionID != "key-1" || c.Role != "user" {
			t.Fatalf("verify: %+v %v", c, err)
		}
	}
	if n := f.server.times(key); n != 1 {
		t.Fatalf("asked %d times, want 1", n)
	}
	// The revocation feed ends it at once.
	f.revoked["key-1"] = true
	if _, err := f.guard.Verify(key); codeOf(err) != guard.CodeTokenRevoked {
		t.Fatalf("revoked key: %v", err)
	}
}

func TestAPIKeyIsAskedAgainAfterHoldForOrExpiry(t *testing.T) {
	t.Parallel()
	f := newKeyFixture(t, 0)
	key, short := newKey(t), newKey(t)
	f.activate(key, "key-1", time.Time{})
	f.activate(short, "key-2", f.now.Load().Add(time.Minute))
	for _, k := range []string{key, short} {
		if _, err := f.guard.Verify(k); err != nil {
			t.Fatal(err)
		}
	}
	f.advance(time.Minute) // the short key has expired
	if _, err := f.guard.Verify(short); err == nil || f.server.times(short) != 2 {
		t.Fatalf("expired key: %v, asked %d", err, f.server.times(short))
	}
	if _, err := f.guard.Verify(key); err != nil || f.server.times(key) != 1 {
		t.Fatalf("held key: %v, asked %d", err, f.server.times(key))
	}
	f.advance(5 * time.Minute) // HoldFor's default
	if _, err := f.guard.Verify(key); err != nil || f.server.times(key) != 2 {
		t.Fatalf("after HoldFor: %v, asked %d", err, f.server.times(key))
	}
}

func TestAPIKeyWithAWrongChecksumNeverReachesTheServer(t *testing.T) {
	t.Parallel()
	f := newKeyFixture(t, 0)
	key := newKey(t)
	bad := key[:len(key)-1] + "A"
	if bad == key {
		bad = key[:len(key)-1] + "B"
	}
	for _, k := range []string{bad, "gh_pat_", "gh_pat_" + key[7:44] + "é"} {
		if _, err := f.guard.Verify(k); codeOf(err) != guard.CodeInvalidToken {
			t.Fatalf("%q: %v", k, err)
		}
	}
	if n := f.server.total.Load(); n != 0 {
		t.Fatalf("%d introspections of malformed keys", n)
	}
}

// A flood of random keys: the server is asked at most once per key per
// second, and the guard holds no more than its fixed number of entries.
func TestAPIKeyFloodAsksOncePerKeyPerSecondInBoundedMemory(t *testing.T) {
	t.Parallel()
	const size = 10000
	f := newKeyFixture(t, size)
	flood := make([]string, size)
	for i := range flood {
		flood[i] = newKey(t)
	}
	verifyAll := func(keys []string) {
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				for i := w; i < len(keys); i += 16 {
					if _, err := f.guard.Verify(keys[i]); codeOf(err) != guard.CodeInvalidToken {
						t.Errorf("random key: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	verifyAll(flood)
	verifyAll(flood) // the same second: nothing new asked
	if n := f.server.total.Load(); n != size {
		t.Fatalf("%d introspections for %d keys in one second", n, size)
	}
	f.advance(time.Second)
	verifyAll(flood[:100])
	if n := f.server.total.Load(); n != size+100 {
		t.Fatalf("a second later: %d introspections, want %d", n, size+100)
	}
	more := make([]string, size)
	for i := range more {
		more[i] = newKey(t)
	}
	verifyAll(more)
	if held := guard.HeldKeys(f.guard); held > size {
		t.Fatalf("the guard holds %d keys, more than its %d", held, size)
	}
}

// Concurrent first uses of one key make one request.
func TestConcurrentFirstUsesOfAKeyMakeOneRequest(t *testing.T) {
	t.Parallel()
	f := newKeyFixture(t, 0)
	key := newKey(t)
	f.activate(key, "key-1", time.Time{})
	f.server.arrived, f.server.release = make(chan struct{}, 100), make(chan struct{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := f.guard.Verify(key); err != nil {
				t.Error(err)
			}
		})
	}
	<-f.server.arrived // the first use is at the server, the others wait for it
	close(f.server.release)
	wg.Wait()
	if n := f.server.times(key); n != 1 {
		t.Fatalf("%d requests for one key", n)
	}
}

func TestAPIKeyWhenTheServerFailsIsUnavailable(t *testing.T) {
	t.Parallel()
	f := newKeyFixture(t, 0)
	f.server.status = http.StatusInternalServerError
	key := newKey(t)
	for range 3 {
		if _, err := f.guard.Verify(key); codeOf(err) != guard.CodeUnavailable || guard.Status(codeOf(err)) != 503 {
			t.Fatalf("server failing: %v", err)
		}
	}
	if n := f.server.total.Load(); n != 1 {
		t.Fatalf("a failing server was asked %d times within a second", n)
	}
}

func TestGuardWithoutIntrospectionRefusesKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.guard.Verify(newKey(t)); codeOf(err) != guard.CodeInvalidToken {
		t.Fatalf("key without introspection: %v", err)
	}
}

func FuzzIsAPIKey(f *testing.F) {
	f.Add("gh_pat_00000000000000000000000000000000000000")
	f.Add("gh_pat_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if guard.IsAPIKey(s) && (len(s) != 45 || s[:7] != guard.APIKeyPrefix) {
			t.Fatalf("%q accepted", s)
		}
	})
}

func codeOf(err error) string {
	if e, ok := err.(*guard.Error); ok {
		return e.Code
	}
	return ""
}

// An API key after its first use costs about what a JWT does after its
// first (BenchmarkVerifyEdDSA, BenchmarkVerifyEdDSAParallel): a lookup in
// memory and the revocation check.
func BenchmarkVerifyAPIKey(b *testing.B) {
	f := newKeyFixture(b, 0)
	key := newKey(b)
	f.activate(key, "key-1", time.Time{})
	if _, err := f.guard.Verify(key); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.guard.Verify(key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyAPIKeyParallel(b *testing.B) {
	f := newKeyFixture(b, 0)
	key := newKey(b)
	f.activate(key, "key-1", time.Time{})
	if _, err := f.guard.Verify(key); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.guard.Verify(key); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// AnyAudience (for an introspection endpoint) accepts a token of any
// audience and still checks everything else; it cannot be combined with an
// audience.
func TestAnyAudienceChecksAllButTheAudience(t *testing.T) {
	t.Parallel()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	keys := keySet{"ed": {Algorithm: "EdDSA", Public: pub}}
	if _, err := guard.New(guard.Config{Issuer: issuer, Audience: audience, AnyAudience: true, Algorithms: []string{"EdDSA"}, Keys: keys}); err == nil {
		t.Fatal("Audience with AnyAudience accepted")
	}
	if _, err := guard.New(guard.Config{Issuer: issuer, Algorithms: []string{"EdDSA"}, Keys: keys}); err == nil {
		t.Fatal("no audience accepted")
	}
	g, err := guard.New(guard.Config{Issuer: issuer, AnyAudience: true, Algorithms: []string{"EdDSA"}, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	c := f.claims()
	c.IssuedAt = jwt.NewNumericDate(time.Now())
	c.NotBefore = c.IssuedAt
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Minute))
	c.Audience = jwt.ClaimStrings{"https://some-service.example"}
	if _, err := g.Verify(sign(t, jwt.SigningMethodEdDSA, priv, c, map[string]any{"kid": "ed"})); err != nil {
		t.Fatalf("another audience: %v", err)
	}
	c.Issuer = "https://elsewhere.example"
	if _, err := g.Verify(sign(t, jwt.SigningMethodEdDSA, priv, c, map[string]any{"kid": "ed"})); codeOf(err) != guard.CodeInvalidToken {
		t.Fatalf("another issuer: %v", err)
	}
}

// An API key is accepted as "Authorization: Bearer" only, as Gatehouse
// takes it: from the seed's header or a cookie it is refused unasked.
func TestAPIKeyIsAcceptedFromTheBearerHeaderOnly(t *testing.T) {
	t.Parallel()
	f := newKeyFixture(t, 0)
	key := newKey(t)
	f.activate(key, "key-1", time.Time{})
	for name, set := range map[string]func(*http.Request){
		"X-Access-Tokens": func(r *http.Request) { r.Header.Set("X-Access-Tokens", key) },
		"cookie":          func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "__Host-access", Value: key}) },
	} {
		r := httptest.NewRequest("GET", "/books", nil)
		set(r)
		if _, err := f.guard.Authenticate(r); codeOf(err) != guard.CodeInvalidToken {
			t.Errorf("%s: %v, want invalid_token", name, err)
		}
	}
	if n := f.server.times(key); n != 0 {
		t.Fatalf("asked %d times for keys it refuses", n)
	}
	r := httptest.NewRequest("GET", "/books", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	if c, err := f.guard.Authenticate(r); err != nil || c.Subject != "user-1" {
		t.Fatalf("bearer: %+v %v", c, err)
	}
}
