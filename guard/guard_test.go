package guard_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/golang-jwt/jwt/v5"
)

const (
	issuer   = "https://auth.example.com"
	audience = "https://auth.example.com"
)

// keySet is an in-memory guard.KeySource.
type keySet map[string]guard.Key

func (k keySet) VerificationKey(kid string) (guard.Key, bool) { key, ok := k[kid]; return key, ok }

// revoked is an in-memory guard.RevocationSource.
type revoked map[string]bool

func (r revoked) Revoked(sid string) bool { return r[sid] }

type fixture struct {
	now     time.Time
	priv    ed25519.PrivateKey
	ecPriv  *ecdsa.PrivateKey
	guard   *guard.Guard
	revoked revoked
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f := &fixture{now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), priv: priv, ecPriv: ecPriv, revoked: revoked{}}
	g, err := guard.New(guard.Config{
		Issuer: issuer, Audience: audience, Algorithms: []string{"EdDSA", "ES256"},
		Keys: keySet{
			"ed": {Algorithm: "EdDSA", Public: pub},
			"ec": {Algorithm: "ES256", Public: &ecPriv.PublicKey},
		},
		Revocations: f.revoked,
		Now:         func() time.Time { return f.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.guard = g
	return f
}

func (f *fixture) claims() *guard.Claims {
	return &guard.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: "user-1", Audience: jwt.ClaimStrings{audience}, ID: "jti-1",
			IssuedAt: jwt.NewNumericDate(f.now), NotBefore: jwt.NewNumericDate(f.now),
			ExpiresAt: jwt.NewNumericDate(f.now.Add(15 * time.Minute)),
		},
		SessionID: "sess-1", Role: "user",
	}
}

// sign signs c with method and key, setting the given header fields.
func sign(t testing.TB, method jwt.SigningMethod, key any, c jwt.Claims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	tok.Header["typ"] = guard.TokenType
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	if method == jwt.SigningMethodES256 { // as Gatehouse signs: low s (lows_test.go)
		s = withS(t, s, false)
	}
	return s
}

func (f *fixture) valid(t testing.TB) string {
	return sign(t, jwt.SigningMethodEdDSA, f.priv, f.claims(), map[string]any{"kid": "ed"})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerify(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	good := f.valid(t)
	parts := strings.Split(good, ".")
	edPub := f.priv.Public().(ed25519.PublicKey)

	mutate := func(edit func(c *guard.Claims)) string {
		c := f.claims()
		edit(c)
		return sign(t, jwt.SigningMethodEdDSA, f.priv, c, map[string]any{"kid": "ed"})
	}
	tests := []struct {
		name     string
		token    string
		wantCode string
	}{
		{"valid EdDSA", good, ""},
		{"valid ES256 key bound to ES256", sign(t, jwt.SigningMethodES256, f.ecPriv, f.claims(), map[string]any{"kid": "ec"}), ""},
		{"alg none", b64(`{"alg":"none","typ":"at+jwt","kid":"ed"}`) + "." + parts[1] + ".", "invalid_token"},
		{"alg none unsafe", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, f.claims(), map[string]any{"kid": "ed"}), "invalid_token"},
		{"algorithm confusion: HS256 keyed with the public key", sign(t, jwt.SigningMethodHS256, []byte(edPub), f.claims(), map[string]any{"kid": "ed"}), "invalid_token"},
		{"ES256 token naming the EdDSA kid", sign(t, jwt.SigningMethodES256, f.ecPriv, f.claims(), map[string]any{"kid": "ed"}), "invalid_token"},
		{"stripped signature", parts[0] + "." + parts[1] + ".", "invalid_token"},
		{"two parts", parts[0] + "." + parts[1], "invalid_token"},
		{"tampered payload", parts[0] + "." + b64(`{"sub":"admin","role":"admin"}`) + "." + parts[2], "invalid_token"},
		{"tampered signature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), "invalid_token"},
		{"expired", mutate(func(c *guard.Claims) { c.ExpiresAt = jwt.NewNumericDate(f.now.Add(-time.Minute)) }), "token_expired"},
		{"expired within leeway", mutate(func(c *guard.Claims) { c.ExpiresAt = jwt.NewNumericDate(f.now.Add(-2 * time.Second)) }), ""},
		{"no exp", mutate(func(c *guard.Claims) { c.ExpiresAt = nil }), "invalid_token"},
		{"not yet valid", mutate(func(c *guard.Claims) { c.NotBefore = jwt.NewNumericDate(f.now.Add(time.Hour)) }), "invalid_token"},
		{"issued in the future", mutate(func(c *guard.Claims) { c.IssuedAt = jwt.NewNumericDate(f.now.Add(time.Hour)) }), "invalid_token"},
		{"wrong issuer", mutate(func(c *guard.Claims) { c.Issuer = "https://evil.example" }), "invalid_token"},
		{"no issuer", mutate(func(c *guard.Claims) { c.Issuer = "" }), "invalid_token"},
		{"wrong audience", mutate(func(c *guard.Claims) { c.Audience = jwt.ClaimStrings{"other"} }), "invalid_token"},
		{"no sid", mutate(func(c *guard.Claims) { c.SessionID = "" }), "invalid_token"},
		{"no sub", mutate(func(c *guard.Claims) { c.Subject = "" }), "invalid_token"},
		{"unknown kid", sign(t, jwt.SigningMethodEdDSA, f.priv, f.claims(), map[string]any{"kid": "nope"}), "invalid_token"},
		{"kid injection", sign(t, jwt.SigningMethodEdDSA, f.priv, f.claims(), map[string]any{"kid": "../../dev/null' OR '1'='1"}), "invalid_token"},
		{"no kid", sign(t, jwt.SigningMethodEdDSA, f.priv, f.claims(), nil), "invalid_token"},
		{"wrong typ", sign(t, jwt.SigningMethodEdDSA, f.priv, f.claims(), map[string]any{"kid": "ed", "typ": "JWT"}), "invalid_token"},
		{"no typ", sign(t, jwt.SigningMethodEdDSA, f.priv, f.claims(), map[string]any{"kid": "ed", "typ": nil}), "invalid_token"},
		{"embedded jwk", sign(t, jwt.SigningMethodEdDSA, f.priv, f.claims(), map[string]any{"kid": "ed", "jwk": map[string]string{"kty": "OKP"}}), "invalid_token"},
		{"jku", sign(t, jwt.SigningMethodEdDSA, f.priv, f.claims(), map[string]any{"kid": "ed", "jku": "https://evil.example/jwks"}), "invalid_token"},
		{"x5u", sign(t, jwt.SigningMethodEdDSA, f.priv, f.claims(), map[string]any{"kid": "ed", "x5u": "https://evil.example/cert"}), "invalid_token"},
		{"x5c", sign(t, jwt.SigningMethodEdDSA, f.priv, f.claims(), map[string]any{"kid": "ed", "x5c": []string{"MIIB"}}), "invalid_token"},
		{"garbage", "not a token", "invalid_token"},
		{"empty", "", "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := f.guard.Verify(tt.token)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if claims.Subject != "user-1" || claims.SessionID != "sess-1" {
					t.Fatalf("claims = %+v", claims)
				}
				return
			}
			ge, ok := err.(*guard.Error)
			if !ok || ge.Code != tt.wantCode {
				t.Fatalf("err = %v, want code %s", err, tt.wantCode)
			}
		})
	}
}

func TestVerifyRevoked(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.valid(t)
	f.revoked["sess-1"] = true
	if _, err := f.guard.Verify(tok); err == nil || err.(*guard.Error).Code != "token_revoked" {
		t.Fatalf("err = %v, want token_revoked", err)
	}
}

func TestFindToken(t *testing.T) {
	t.Parallel()
	const jwtish = "aaa.bbb.ccc"
	tests := []struct {
		name    string
		headers map[string]string
		cookie  string
		want    string
		carrier guard.Carrier
	}{
		{"none", nil, "", "", guard.CarrierNone},
		{"bearer", map[string]string{"Authorization": "Bearer " + jwtish}, "", jwtish, guard.CarrierBearer},
		{"bearer lower-case scheme", map[string]string{"Authorization": "bearer " + jwtish}, "", jwtish, guard.CarrierBearer},
		{"bare", map[string]string{"Authorization": jwtish}, "", jwtish, guard.CarrierBare},
		{"basic is not a token", map[string]string{"Authorization": "Basic dTpw"}, "", "", guard.CarrierNone},
		{"empty bearer falls through", map[string]string{"Authorization": "Bearer ", "X-Access-Tokens": "h.h.h"}, "", "h.h.h", guard.CarrierHeader},
		{"x-access-tokens", map[string]string{"x-access-tokens": jwtish}, "", jwtish, guard.CarrierHeader},
		{"cookie", nil, jwtish, jwtish, guard.CarrierCookie},
		{"bearer wins over cookie", map[string]string{"Authorization": "Bearer a.b.c"}, jwtish, "a.b.c", guard.CarrierBearer},
		{"header wins over cookie", map[string]string{"X-Access-Tokens": "a.b.c"}, jwtish, "a.b.c", guard.CarrierHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/?access_token=q.q.q&token=q.q.q", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: "__Host-access", Value: tt.cookie})
			}
			got, carrier := guard.FindToken(r, "__Host-access")
			if got != tt.want || carrier != tt.carrier {
				t.Fatalf("FindToken = %q, %v; want %q, %v", got, carrier, tt.want, tt.carrier)
			}
		})
	}
}

func FuzzFindToken(f *testing.F) {
	for _, s := range []string{"Bearer a.b.c", "a.b.c", "Basic dTpw", "Bearer", " bearer  x ", "..", "Bearer\ta.b.c"} {
		f.Add(s, "a.b.c")
	}
	f.Fuzz(func(t *testing.T, authorization, header string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{authorization}
		r.Header["X-Access-Tokens"] = []string{header}
		tok, carrier := guard.FindToken(r, "__Host-access")
		if (tok == "") != (carrier == guard.CarrierNone) {
			t.Fatalf("token %q with carrier %v", tok, carrier)
		}
		if tok != strings.TrimSpace(tok) {
			t.Fatalf("token %q not trimmed", tok)
		}
		if carrier == guard.CarrierNone && strings.TrimSpace(header) != "" {
			t.Fatalf("x-access-tokens %q ignored", header)
		}
	})
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.valid(t)
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := guard.ClaimsFrom(r.Context())
		if !ok {
			w.Write([]byte("anonymous"))
			return
		}
		w.Write([]byte(c.Subject))
	})
	tests := []struct {
		name       string
		mw         func(http.Handler) http.Handler
		method     string
		setup      func(r *http.Request)
		wantStatus int
		wantCode   string
		wantBody   string
		wantChall  string
	}{
		{"no token", f.guard.Require(), "GET", func(r *http.Request) {}, 401, "unauthorized", "", `Bearer realm="gatehouse"`},
		{"bad token", f.guard.Require(), "GET", func(r *http.Request) { r.Header.Set("Authorization", "Bearer x.y.z") }, 401, "invalid_token", "", `Bearer realm="gatehouse", error="invalid_token"`},
		{"bearer ok", f.guard.Require(), "GET", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }, 200, "", "user-1", ""},
		{"role refused", f.guard.Require(guard.Role("admin")), "GET", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }, 403, "forbidden", "", ""},
		{"optional without token", f.guard.Optional(), "GET", func(r *http.Request) {}, 200, "", "anonymous", ""},
		{"optional with bad token", f.guard.Optional(), "GET", func(r *http.Request) { r.Header.Set("Authorization", "Bearer x.y.z") }, 401, "invalid_token", "", ""},
		{"cookie GET needs no CSRF", f.guard.Require(), "GET", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "__Host-access", Value: tok})
		}, 200, "", "user-1", ""},
		{"cookie POST without CSRF token", f.guard.Require(), "POST", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "__Host-access", Value: tok})
			r.AddCookie(&http.Cookie{Name: "__Host-csrf", Value: "c1"})
		}, 403, "csrf_failed", "", ""},
		{"cookie POST with wrong CSRF token", f.guard.Require(), "POST", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "__Host-access", Value: tok})
			r.AddCookie(&http.Cookie{Name: "__Host-csrf", Value: "c1"})
			r.Header.Set("X-CSRF-Token", "c2")
		}, 403, "csrf_failed", "", ""},
		{"cookie POST with CSRF header", f.guard.Require(), "POST", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "__Host-access", Value: tok})
			r.AddCookie(&http.Cookie{Name: "__Host-csrf", Value: "c1"})
			r.Header.Set("X-CSRF-Token", "c1")
		}, 200, "", "user-1", ""},
		{"cookie POST cross-site", f.guard.Require(), "POST", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "__Host-access", Value: tok})
			r.AddCookie(&http.Cookie{Name: "__Host-csrf", Value: "c1"})
			r.Header.Set("X-CSRF-Token", "c1")
			r.Header.Set("Sec-Fetch-Site", "cross-site")
		}, 403, "csrf_failed", "", ""},
		{"bearer POST needs no CSRF", f.guard.Require(), "POST", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header.Set("Sec-Fetch-Site", "cross-site")
		}, 200, "", "user-1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/", nil)
			tt.setup(r)
			w := httptest.NewRecorder()
			tt.mw(echo).ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantCode != "" {
				var body map[string]string
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["error"] != tt.wantCode || body["message"] == "" {
					t.Fatalf("body %s, want error %s", w.Body, tt.wantCode)
				}
			} else if w.Body.String() != tt.wantBody {
				t.Fatalf("body %q, want %q", w.Body, tt.wantBody)
			}
			if tt.wantChall != "" && w.Header().Get("WWW-Authenticate") != tt.wantChall {
				t.Fatalf("WWW-Authenticate %q, want %q", w.Header().Get("WWW-Authenticate"), tt.wantChall)
			}
		})
	}
}

// BenchmarkVerifyEdDSA verifies one token repeatedly: after the first, a cache hit.
func BenchmarkVerifyEdDSA(b *testing.B) {
	f := newFixture(b)
	tok := f.valid(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.guard.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyEdDSAParallel is BenchmarkVerifyEdDSA from every core at
// once, as a server's requests verify: the cache's reads must not contend.
func BenchmarkVerifyEdDSAParallel(b *testing.B) {
	f := newFixture(b)
	tok := f.valid(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.guard.Verify(tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// The cache of verified tokens must not weaken any check: each case verifies
// a token once (filling the cache), changes the world, and verifies again.
func TestCacheKeepsEveryCheck(t *testing.T) {
	t.Parallel()
	t.Run("revocation", func(t *testing.T) {
		f := newFixture(t)
		tok := f.valid(t)
		if _, err := f.guard.Verify(tok); err != nil {
			t.Fatal(err)
		}
		f.revoked["sess-1"] = true
		if _, err := f.guard.Verify(tok); err == nil || err.(*guard.Error).Code != "token_revoked" {
			t.Fatalf("cached token after revocation: %v", err)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		f := newFixture(t)
		tok := f.valid(t)
		if _, err := f.guard.Verify(tok); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(15*time.Minute + 6*time.Second)
		if _, err := f.guard.Verify(tok); err == nil || err.(*guard.Error).Code != "token_expired" {
			t.Fatalf("cached token after exp: %v", err)
		}
	})
	t.Run("key retirement", func(t *testing.T) {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		keys := keySet{"k": {Algorithm: "EdDSA", Public: pub}}
		now := time.Now()
		g, _ := guard.New(guard.Config{Issuer: issuer, Audience: audience, Algorithms: []string{"EdDSA"}, Keys: keys})
		c := &guard.Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: issuer, Audience: jwt.ClaimStrings{audience},
			Subject: "u", ID: "j", IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}, SessionID: "s"}
		tok := sign(t, jwt.SigningMethodEdDSA, priv, c, map[string]any{"kid": "k"})
		if _, err := g.Verify(tok); err != nil {
			t.Fatal(err)
		}
		delete(keys, "k")
		if _, err := g.Verify(tok); err == nil {
			t.Fatal("cached token accepted after its key retired")
		}
	})
	t.Run("a tampered copy is not a cache hit", func(t *testing.T) {
		f := newFixture(t)
		tok := f.valid(t)
		f.guard.Verify(tok)
		if _, err := f.guard.Verify(tok + "A"); err == nil {
			t.Fatal("tampered token accepted")
		}
	})
}

func BenchmarkVerifyEdDSAUncached(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	g, _ := guard.New(guard.Config{Issuer: issuer, Audience: audience, Algorithms: []string{"EdDSA"},
		Keys: keySet{"k": {Algorithm: "EdDSA", Public: pub}}, CacheSize: -1})
	now := time.Now()
	tok := sign(b, jwt.SigningMethodEdDSA, priv, &guard.Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: issuer,
		Audience: jwt.ClaimStrings{audience}, Subject: "u", ID: "j", IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}, SessionID: "s"}, map[string]any{"kid": "k"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func TestOrgOptionsRefuseTokensWithoutTheOrganizationClaims(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		claims guard.Claims
		opt    guard.Option
		ok     bool
	}{
		{"role held", guard.Claims{OrgID: "o", OrgRole: "admin"}, guard.RequireOrgRole("owner", "admin"), true},
		{"role not held", guard.Claims{OrgID: "o", OrgRole: "member"}, guard.RequireOrgRole("owner", "admin"), false},
		{"role without an organization", guard.Claims{OrgRole: "admin"}, guard.RequireOrgRole("admin"), false},
		{"no organization", guard.Claims{}, guard.RequireOrgRole("member"), false},
		{"permission held", guard.Claims{OrgID: "o", Permissions: []string{"books:read", "books:write"}}, guard.RequirePermission("books:write"), true},
		{"permission not held", guard.Claims{OrgID: "o", Permissions: []string{"books:read"}}, guard.RequirePermission("books:write"), false},
		{"permission without an organization", guard.Claims{Permissions: []string{"books:write"}}, guard.RequirePermission("books:write"), false},
		{"every permission needed", guard.Claims{OrgID: "o", Permissions: []string{"a:b"}}, guard.RequirePermission("a:b", "c:d"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			c.claims.RegisteredClaims = f.claims().RegisteredClaims
			c.claims.SessionID = "s1"
			tok := sign(t, jwt.SigningMethodEdDSA, f.priv, &c.claims, map[string]any{"kid": "ed"})
			var seen string
			h := f.guard.Require(c.opt)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = guard.OrgID(r.Context()) }))
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if ok := w.Code == 200; ok != c.ok || (ok && seen != c.claims.OrgID) {
				t.Fatalf("%d %s (org %q)", w.Code, w.Body, seen)
			}
			if !c.ok && w.Code != 403 {
				t.Fatalf("refused with %d, want 403", w.Code)
			}
		})
	}
}

func TestRevokedOrgGrantRefusesTheTokenOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	claims := f.claims()
	claims.OrgID, claims.OrgRole, claims.OrgGrant = "o", "admin", "grant-1"
	tok := sign(t, jwt.SigningMethodEdDSA, f.priv, claims, map[string]any{"kid": "ed"})
	if _, err := f.guard.Verify(tok); err != nil {
		t.Fatal(err)
	}
	f.revoked["grant-1"] = true
	if _, err := f.guard.Verify(tok); err == nil || err.(*guard.Error).Code != guard.CodeTokenRevoked {
		t.Fatalf("a token of a revoked grant: %v", err)
	}
	other := f.claims()
	other.ID = "another"
	if _, err := f.guard.Verify(sign(t, jwt.SigningMethodEdDSA, f.priv, other, map[string]any{"kid": "ed"})); err != nil {
		t.Fatalf("the session's token without the grant: %v", err)
	}
}
