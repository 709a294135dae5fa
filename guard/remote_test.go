package guard_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/golang-jwt/jwt/v5"
)

// fakeGatehouse serves a JWKS and a revocation log that a test controls.
// The log pages as Gatehouse's does: the cursor is the number of entries
// read, pageSize entries a page (default 1000), has_more while more follow.
type fakeGatehouse struct {
	*httptest.Server
	mu       sync.Mutex
	keys     []map[string]string
	revoked  []map[string]any
	polls    int
	pageSize int
	caughtUp int // answers with has_more false
}

func newFakeGatehouse(t testing.TB) *fakeGatehouse {
	f := &fakeGatehouse{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"keys": f.keys})
	})
	mux.HandleFunc("GET /revocations", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.polls++
		since, _ := strconv.Atoi(r.URL.Query().Get("since"))
		size := f.pageSize
		if size == 0 {
			size = 1000
		}
		end := min(since+size, len(f.revoked))
		more := end < len(f.revoked)
		if !more {
			f.caughtUp++
		}
		json.NewEncoder(w).Encode(map[string]any{"revoked": f.revoked[since:end], "cursor": strconv.Itoa(end), "has_more": more})
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeGatehouse) addKey(kid, alg string) ed25519.PrivateKey {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	k := map[string]string{"kty": "OKP", "crv": "Ed25519", "use": "sig", "kid": kid, "x": base64.RawURLEncoding.EncodeToString(pub)}
	if alg != "" {
		k["alg"] = alg
	}
	f.mu.Lock()
	f.keys = append(f.keys, k)
	f.mu.Unlock()
	return priv
}

func (f *fakeGatehouse) token(t testing.TB, priv ed25519.PrivateKey, kid, sid string) string {
	now := time.Now()
	return sign(t, jwt.SigningMethodEdDSA, priv, &guard.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: f.URL, Audience: jwt.ClaimStrings{f.URL}, Subject: "u", ID: "j",
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))},
		SessionID: sid, Role: "user",
	}, map[string]any{"kid": kid})
}

func TestRemoteGuard(t *testing.T) {
	t.Parallel()
	f := newFakeGatehouse(t)
	k1 := f.addKey("k1", "EdDSA")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := guard.NewRemote(ctx, guard.RemoteConfig{Issuer: f.URL, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Verify(f.token(t, k1, "k1", "s1")); err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	// A key rotated in after start is fetched on first sight of its kid.
	k2 := f.addKey("k2", "EdDSA")
	if _, err := g.Verify(f.token(t, k2, "k2", "s1")); err != nil {
		t.Fatalf("token of a newly published key refused: %v", err)
	}
	// Another unknown kid within 10 s is not fetched again (rate limit), so
	// a flood of made-up kids costs Gatehouse nothing; it is refused at once.
	start := time.Now()
	if _, err := g.Verify(f.token(t, f.addKey("k3", "EdDSA"), "k3", "s1")); err == nil {
		t.Fatal("rate limit on unknown kids not applied")
	}
	if time.Since(start) > time.Second {
		t.Fatal("an unknown kid made the request wait")
	}
}

func TestRemoteKeyWithoutAlgIsRefused(t *testing.T) {
	t.Parallel()
	f := newFakeGatehouse(t)
	k1 := f.addKey("k1", "") // a JWK that names no algorithm cannot be bound to one
	g, err := guard.NewRemote(t.Context(), guard.RemoteConfig{Issuer: f.URL, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Verify(f.token(t, k1, "k1", "s1")); err == nil {
		t.Fatal("token of a JWK without alg accepted")
	}
}

func TestRemoteRevocations(t *testing.T) {
	t.Parallel()
	f := newFakeGatehouse(t)
	k1 := f.addKey("k1", "EdDSA")
	g, err := guard.NewRemote(t.Context(), guard.RemoteConfig{Issuer: f.URL, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tok := f.token(t, k1, "k1", "s1")
	if _, err := g.Verify(tok); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.revoked = append(f.revoked, map[string]any{"sid": "s1", "expires_at": time.Now().Add(time.Hour)})
	seen := f.polls
	f.mu.Unlock()
	for { // wait for two more polls: the entry has been read by then
		f.mu.Lock()
		n := f.polls
		f.mu.Unlock()
		if n >= seen+2 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := g.Verify(tok); err == nil || err.(*guard.Error).Code != "token_revoked" {
		t.Fatalf("after the revocation was polled: %v, want token_revoked", err)
	}
}

// A backlog bigger than one page is read whole before NewRemote returns,
// and revocations that arrive later, however many, are read whole by the
// next poll: the guard follows has_more instead of one page a poll (or
// failing past 16 MiB, as a single unpaged answer did).
func TestRemoteRevocationsFollowPages(t *testing.T) {
	t.Parallel()
	f := newFakeGatehouse(t)
	k1 := f.addKey("k1", "EdDSA")
	f.pageSize = 100
	add := func(from, to int) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i := from; i < to; i++ {
			f.revoked = append(f.revoked, map[string]any{"sid": fmt.Sprint("s", i), "expires_at": time.Now().Add(time.Hour)})
		}
	}
	var gd *guard.Guard
	revoked := func(sid string) bool {
		_, err := gd.Verify(f.token(t, k1, "k1", sid))
		var e *guard.Error
		return errors.As(err, &e) && e.Code == "token_revoked"
	}
	add(0, 250)
	gd, err := guard.NewRemote(t.Context(), guard.RemoteConfig{Issuer: f.URL, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{"s0", "s150", "s249"} {
		if !revoked(sid) {
			t.Fatalf("%s of a 250-entry backlog (100 a page) not revoked after start", sid)
		}
	}
	if revoked("s250") {
		t.Fatal("a session never revoked is refused")
	}
	add(250, 500) // committed after the start: more than two pages at once
	f.mu.Lock()
	seen := f.caughtUp
	f.mu.Unlock()
	// The next poll to reach the end was served after the add; the one after
	// it starts only once the guard has applied that poll's pages.
	for {
		f.mu.Lock()
		n := f.caughtUp
		f.mu.Unlock()
		if n > seen+1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, sid := range []string{"s250", "s420", "s499"} {
		if !revoked(sid) {
			t.Fatalf("%s, revoked after start, not seen once the guard caught up", sid)
		}
	}
}

func TestNewRemoteFailsWhenGatehouseIsDown(t *testing.T) {
	t.Parallel()
	f := newFakeGatehouse(t)
	f.Close()
	if _, err := guard.NewRemote(t.Context(), guard.RemoteConfig{Issuer: f.URL}); err == nil {
		t.Fatal("NewRemote succeeded with no Gatehouse to fetch keys from")
	}
}

func BenchmarkVerifyRemote(b *testing.B) {
	f := newFakeGatehouse(b)
	k1 := f.addKey("k1", "EdDSA")
	g, err := guard.NewRemote(b.Context(), guard.RemoteConfig{Issuer: f.URL, PollInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	tok := f.token(b, k1, "k1", "s1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
