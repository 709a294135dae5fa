package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events/outbound"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/golang-jwt/jwt/v5"
)

const (
	apiAudience   = "https://api.example.com"
	otherAudience = "https://reports.example.com"
)

// serviceFixture is the OpenID fixture with two service clients: svc
// (a secret; scopes books:read books:write; two audiences) and signer
// (private_key_jwt with an Ed25519 key; scope books:read).
type serviceFixture struct {
	*oidcFixture
	svc       oidc.Client
	svcSecret string
	signer    oidc.Client
	key       ed25519.PrivateKey
}

// jwksOf is the public JWK Set of key, under kid.
func jwksOf(key ed25519.PrivateKey, kid string) string {
	pub := key.Public().(ed25519.PublicKey)
	return fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","use":"sig","alg":"EdDSA","kid":%q,"x":%q}]}`,
		kid, base64.RawURLEncoding.EncodeToString(pub))
}

func newServiceFixture(t *testing.T) *serviceFixture {
	t.Helper()
	f := &serviceFixture{oidcFixture: newOIDC(t)}
	ctx := context.Background()
	var err error
	f.svc, f.svcSecret, err = f.app.Clients.Add(ctx, oidc.ClientInput{Name: "Nightly job", Service: true,
		Scopes: []string{"books:read", "books:write"}, Audiences: []string{apiAudience, otherAudience}})
	if err != nil {
		t.Fatal(err)
	}
	_, f.key, _ = ed25519.GenerateKey(rand.Reader)
	var secret string
	f.signer, secret, err = f.app.Clients.Add(ctx, oidc.ClientInput{Name: "Signer", Service: true,
		Scopes: []string{"books:read"}, Audiences: []string{apiAudience}, JWKS: jwksOf(f.key, "k1")})
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		t.Fatal("a client registered with a JWK Set was given a secret")
	}
	return f
}

// assertion signs a private_key_jwt assertion of client id with key,
// after edit changes its claims or header.
func (f *serviceFixture) assertion(id string, key ed25519.PrivateKey, edit func(c jwt.MapClaims, h map[string]any)) string {
	now := f.clock.Now()
	c := jwt.MapClaims{"iss": id, "sub": id, "aud": testIssuer + "/oauth/token", "exp": now.Add(time.Minute).Unix(),
		"iat": now.Unix(), "jti": rand.Text()}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = "k1"
	if edit != nil {
		edit(c, tok.Header)
	}
	raw, err := tok.SignedString(key)
	if err != nil {
		f.t.Fatal(err)
	}
	return raw
}

func assertionForm(assertion string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {oidc.AssertionType}, "client_assertion": {assertion}}
}

func ccForm(extra ...string) url.Values {
	v := url.Values{"grant_type": {"client_credentials"}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Add(extra[i], extra[i+1])
	}
	return v
}

// serviceGuard verifies service tokens for audience as a resource server
// would (guard, the server's keys and revocation set).
func (f *serviceFixture) serviceGuard(t *testing.T, audience string) *guard.Guard {
	t.Helper()
	g, err := guard.New(guard.Config{Issuer: testIssuer, Audience: audience, Algorithms: []string{"EdDSA"},
		Keys: f.app.Keys, Revocations: f.app.Revocations, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// grant asks for a token and returns the response's fields.
func (f *serviceFixture) grant(t *testing.T, form url.Values, basic string) map[string]any {
	t.Helper()
	w := f.token(form, basic)
	if w.Code != http.StatusOK {
		t.Fatalf("client_credentials: %d %s", w.Code, w.Body)
	}
	return decode(t, w)
}

func (f *serviceFixture) failures(t *testing.T) int {
	t.Helper()
	events, _, err := f.app.Services.Accounts.AuditEvents(context.Background(), auth.AuditFilter{Event: auth.EventOAuthCheckFailed, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return len(events)
}

// A service client's secret gets an RFC 9068 token: typ at+jwt, sub and
// client_id the client, every allowed scope and audience by default, no
// refresh token; a guard of one of its audiences accepts it.
func TestServiceClientGetsAnAccessToken(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t)
	basic := f.svc.ID + ":" + f.svcSecret
	got := f.grant(t, ccForm(), basic)
	if got["token_type"] != "Bearer" || got["refresh_token"] != nil || got["id_token"] != nil || got["scope"] != "books:read books:write" ||
		got["expires_in"] != float64(15*60) {
		t.Fatalf("token response %v", got)
	}
	raw := got["access_token"].(string)
	parsed, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil || parsed.Header["typ"] != "at+jwt" {
		t.Fatalf("header %v, %v", parsed.Header, err)
	}
	claims, err := f.serviceGuard(t, otherAudience).Verify(raw)
	if err != nil {
		t.Fatalf("a guard of an allowed audience refused the token: %v", err)
	}
	if claims.Subject != f.svc.ID || claims.ClientID != f.svc.ID || claims.Scope != "books:read books:write" ||
		claims.SessionID != f.svc.RevocationID || claims.ID == "" || claims.Role != "" {
		t.Fatalf("claims %+v", claims)
	}
	if _, err := f.app.Guard.Verify(raw); err == nil {
		t.Fatal("Gatehouse's own API accepted a service token")
	}

	// client_secret_post, a narrower scope, one resource (RFC 8707).
	form := ccForm("scope", "books:read", "resource", apiAudience)
	form.Set("client_id", f.svc.ID)
	form.Set("client_secret", f.svcSecret)
	got = f.grant(t, form, "")
	claims, err = f.serviceGuard(t, apiAudience).Verify(got["access_token"].(string))
	if err != nil || claims.Scope != "books:read" || len(claims.Audience) != 1 || claims.Audience[0] != apiAudience {
		t.Fatalf("narrowed token: %+v, %v", claims, err)
	}
	if _, err := f.serviceGuard(t, otherAudience).Verify(got["access_token"].(string)); err == nil {
		t.Fatal("a token for one resource was accepted by another")
	}

	// private_key_jwt, the resource repeated and as audience.
	got = f.grant(t, assertionForm(f.assertion(f.signer.ID, f.key, nil)), "")
	if claims, err := f.serviceGuard(t, apiAudience).Verify(got["access_token"].(string)); err != nil || claims.Subject != f.signer.ID {
		t.Fatalf("private_key_jwt token: %+v, %v", claims, err)
	}

	// Counted, not audited.
	w := f.do(req{method: "GET", path: "/metrics"})
	if !strings.Contains(w.Body.String(), `gatehouse_client_grants_total{client_id="`+f.svc.ID+`"} 2`) {
		t.Fatalf("grants not counted per client:\n%s", grepLines(w.Body.String(), "client_grants"))
	}
	if n := f.failures(t); n != 0 {
		t.Fatalf("%d failures audited for successful grants", n)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Every attack on the grant gets its RFC error, is audited, and issues
// nothing.
func TestServiceClientAttackTable(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	basic := f.svc.ID + ":" + f.svcSecret
	// An administrator's mistake: Gatehouse's own API as a service's audience.
	selfish, selfishSecret, err := f.app.Clients.Add(context.Background(), oidc.ClientInput{Name: "Selfish", Service: true,
		Scopes: []string{"books:read"}, Audiences: []string{testIssuer}})
	if err != nil {
		t.Fatal(err)
	}
	replayed := f.assertion(f.signer.ID, f.key, nil)
	if w := f.token(assertionForm(replayed), ""); w.Code != 200 {
		t.Fatalf("first use of the assertion: %d %s", w.Code, w.Body)
	}
	hs256 := func() string {
		c := jwt.MapClaims{"iss": f.signer.ID, "sub": f.signer.ID, "aud": testIssuer, "exp": f.clock.Now().Add(time.Minute).Unix(), "jti": "h"}
		raw, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(jwksOf(f.key, "k1")))
		return raw
	}()
	none := func() string {
		c := jwt.MapClaims{"iss": f.signer.ID, "sub": f.signer.ID, "aud": testIssuer, "exp": f.clock.Now().Add(time.Minute).Unix(), "jti": "n"}
		raw, _ := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
		return raw
	}()
	for _, tc := range []struct {
		name   string
		form   url.Values
		basic  string
		status int
		code   string
	}{
		{"wrong secret", ccForm(), f.svc.ID + ":" + strings.Repeat("x", 43), 401, "invalid_client"},
		{"unknown client", ccForm(), "0190b1a2-0000-7000-8000-000000000000:" + f.svcSecret, 401, "invalid_client"},
		{"expired assertion", assertionForm(f.assertion(f.signer.ID, f.key, func(c jwt.MapClaims, _ map[string]any) {
			c["exp"] = f.clock.Now().Add(-time.Minute).Unix()
		})), "", 401, "invalid_client"},
		{"replayed jti", assertionForm(replayed), "", 401, "invalid_client"},
		{"assertion signed by an unregistered key", assertionForm(f.assertion(f.signer.ID, stranger, nil)), "", 401, "invalid_client"},
		{"assertion naming an unknown kid", assertionForm(f.assertion(f.signer.ID, stranger, func(_ jwt.MapClaims, h map[string]any) {
			h["kid"] = "k2"
		})), "", 401, "invalid_client"},
		{"alg none", assertionForm(none), "", 401, "invalid_client"},
		{"HS256 under the public key", assertionForm(hs256), "", 401, "invalid_client"},
		{"aud another server", assertionForm(f.assertion(f.signer.ID, f.key, func(c jwt.MapClaims, _ map[string]any) {
			c["aud"] = "https://elsewhere.example/oauth/token"
		})), "", 401, "invalid_client"},
		{"exp far ahead", assertionForm(f.assertion(f.signer.ID, f.key, func(c jwt.MapClaims, _ map[string]any) {
			c["exp"] = f.clock.Now().Add(time.Hour).Unix()
		})), "", 401, "invalid_client"},
		{"no exp", assertionForm(f.assertion(f.signer.ID, f.key, func(c jwt.MapClaims, _ map[string]any) { delete(c, "exp") })), "", 401, "invalid_client"},
		{"no jti", assertionForm(f.assertion(f.signer.ID, f.key, func(c jwt.MapClaims, _ map[string]any) { delete(c, "jti") })), "", 401, "invalid_client"},
		{"iss another client", assertionForm(f.assertion(f.signer.ID, f.key, func(c jwt.MapClaims, _ map[string]any) {
			c["iss"] = f.svc.ID
		})), "", 401, "invalid_client"},
		{"assertion for a client without keys", assertionForm(f.assertion(f.svc.ID, f.key, nil)), "", 401, "invalid_client"},
		{"secret of a private_key_jwt client", ccForm(), f.signer.ID + ":" + f.svcSecret, 401, "invalid_client"},
		{"scope beyond the client's", ccForm("scope", "books:read admin"), basic, 400, "invalid_scope"},
		{"resource beyond the client's", ccForm("resource", "https://payroll.example.com"), basic, 400, "invalid_target"},
		{"audience beyond the client's", ccForm("resource", apiAudience, "audience", "https://payroll.example.com"), basic, 400, "invalid_target"},
		{"Gatehouse's own API as the audience", ccForm(), selfish.ID + ":" + selfishSecret, 400, "invalid_target"},
		{"client_credentials from a user-facing client", ccForm(), f.webBasic(), 400, "unauthorized_client"},
		{"client_credentials from a public client", ccForm("client_id", f.spa.ID), "", 400, "unauthorized_client"},
		{"authorization_code from a service client", codeForm("some-code", rpRedirect, strings.Repeat("v", 43)), basic, 400, "unauthorized_client"},
		{"refresh_token from a service client", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"r"}}, basic, 400, "unauthorized_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.failures(t)
			w := f.token(tc.form, tc.basic)
			if w.Code != tc.status || oauthError(w) != tc.code {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body, tc.status, tc.code)
			}
			if strings.Contains(w.Body.String(), "access_token") {
				t.Fatalf("a token was issued: %s", w.Body)
			}
			if tc.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if after := f.failures(t); after != before+1 {
				t.Fatalf("%d failures audited, want 1", after-before)
			}
		})
	}
}

// Disabling, rotating the secret of, or removing a service client ends
// its live tokens at once (the revocation set every guard reads); enabled
// again it gets new ones.
func TestServiceClientTokensEndWithTheClient(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t)
	ctx := context.Background()
	g := f.serviceGuard(t, apiAudience)
	issue := func(secret string) string {
		return f.grant(t, ccForm(), f.svc.ID+":"+secret)["access_token"].(string)
	}
	revoked := func(raw string) bool {
		_, err := g.Verify(raw)
		if err == nil {
			return false
		}
		if ge, ok := err.(*guard.Error); !ok || ge.Code != guard.CodeTokenRevoked {
			t.Fatalf("want token_revoked, got %v", err)
		}
		return true
	}

	first := issue(f.svcSecret)
	if revoked(first) {
		t.Fatal("a fresh token is refused")
	}
	yes := true
	if _, err := f.app.Clients.Update(ctx, f.svc.ID, oidc.ClientPatch{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if !revoked(first) {
		t.Fatal("disabling the client left its token working")
	}
	if w := f.token(ccForm(), f.svc.ID+":"+f.svcSecret); w.Code != 401 || oauthError(w) != "invalid_client" {
		t.Fatalf("a disabled client got: %d %s", w.Code, w.Body)
	}
	no := false
	if _, err := f.app.Clients.Update(ctx, f.svc.ID, oidc.ClientPatch{Disabled: &no}); err != nil {
		t.Fatal(err)
	}
	second := issue(f.svcSecret)
	if revoked(second) || !revoked(first) {
		t.Fatal("enabled again: its new token must work, the old one stay revoked")
	}

	secret, err := f.app.Clients.RotateSecret(ctx, f.svc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !revoked(second) {
		t.Fatal("rotating the secret left a token it obtained working")
	}
	if w := f.token(ccForm(), f.svc.ID+":"+f.svcSecret); w.Code != 401 {
		t.Fatalf("the old secret still works: %d", w.Code)
	}
	third := issue(secret)

	if err := f.app.Clients.Remove(ctx, f.svc.ID); err != nil {
		t.Fatal(err)
	}
	if !revoked(third) {
		t.Fatal("removing the client left its token working")
	}
	if w := f.token(ccForm(), f.svc.ID+":"+secret); w.Code != 401 {
		t.Fatalf("a removed client got: %d %s", w.Code, w.Body)
	}
	// Remote guards read it from the feed.
	w := f.do(req{method: "GET", path: "/revocations"})
	for _, sid := range []string{f.svc.RevocationID} {
		if !strings.Contains(w.Body.String(), sid) {
			t.Fatalf("the feed lacks the client's revocation id %s: %s", sid, w.Body)
		}
	}
}

// Wrong secrets take no lockout slot: a stranger who knows a service
// client's id cannot lock it out.
func TestWrongSecretsDoNotLockAServiceClientOut(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t)
	for range 12 {
		if w := f.token(ccForm(), f.svc.ID+":wrong"); w.Code != 401 {
			t.Fatalf("wrong secret: %d %s", w.Code, w.Body)
		}
	}
	f.grant(t, ccForm(), f.svc.ID+":"+f.svcSecret)
}

// The admin API registers a service client, validates its scopes, and
// disables it.
func TestServiceClientsAdminAPI(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t)
	w := f.do(req{method: "POST", path: "/clients", as: "admin",
		body: `{"name":"CI","grant_types":["client_credentials"],"scopes":["books:read","ci.deploy:run"],"audiences":["` + apiAudience + `"]}`})
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	created := decode(t, w)
	id := field(created, "client", "client_id").(string)
	if created["client_secret"] == nil || field(created, "client", "grant_types").([]any)[0] != "client_credentials" {
		t.Fatalf("created %v", created)
	}
	for _, bad := range []string{
		`{"name":"Bad","service":true,"scopes":["Books:Read"]}`,
		`{"name":"Bad","service":true,"scopes":["books read"]}`,
		`{"name":"Bad","service":true,"scopes":[]}`,
		`{"name":"Bad","service":true,"scopes":["a"],"redirect_uris":["https://x.example/cb"]}`,
		`{"name":"Bad","service":true,"scopes":["a"],"jwks":{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}}`,
		`{"name":"Bad","service":true,"scopes":["a"],"jwks":{"keys":[]}}`,
		`{"name":"Bad","service":true,"scopes":["a"],"jwks_uri":"http://example.com/jwks"}`,
		`{"name":"Bad","grant_types":["client_credentials","authorization_code"],"scopes":["a"]}`,
	} {
		if w := f.do(req{method: "POST", path: "/clients", as: "admin", body: bad}); w.Code != 400 || errorCode(w) != "invalid_request" {
			t.Errorf("%s: %d %s", bad, w.Code, w.Body)
		}
	}
	w = f.do(req{method: "PATCH", path: "/clients/" + id, as: "admin", body: `{"disabled":true}`})
	if w.Code != 200 || field(decode(t, w), "client", "disabled") != true {
		t.Fatalf("disable: %d %s", w.Code, w.Body)
	}
	if w := f.token(ccForm(), id+":"+created["client_secret"].(string)); w.Code != 401 {
		t.Fatalf("disabled client: %d %s", w.Code, w.Body)
	}
	if w := f.do(req{method: "PATCH", path: "/clients/" + f.web.ID, as: "admin", body: `{"disabled":true}`}); w.Code != 400 {
		t.Fatalf("disabling a user-facing client: %d %s", w.Code, w.Body)
	}
}

// A JWK Set registered by URI is fetched through the outbound client: the
// default one refuses a loopback address (no SSRF through registration),
// one allowed to reach it fetches the set, serves assertions, and fetches
// again when the client signs with a key it added since.
func TestServiceClientJWKSURI(t *testing.T) {
	t.Parallel()
	_, key1, _ := ed25519.GenerateKey(rand.Reader)
	_, key2, _ := ed25519.GenerateKey(rand.Reader)
	var set atomic.Value
	set.Store(jwksOf(key1, "k1"))
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		fmt.Fprint(w, set.Load().(string))
	}))
	t.Cleanup(jwks.Close)
	body := `{"name":"By URI","service":true,"scopes":["books:read"],"audiences":["` + apiAudience + `"],"jwks_uri":"` + jwks.URL + `/jwks.json"}`

	guarded := newServiceFixture(t) // the default outbound client: public addresses only
	if w := guarded.do(req{method: "POST", path: "/clients", as: "admin", body: body}); w.Code != 400 {
		t.Fatalf("a loopback JWK Set URI through the default client: %d %s", w.Code, w.Body)
	}

	f := &serviceFixture{oidcFixture: newOIDC(t, func(c *app.Config) {
		c.JWKSClient = outbound.NewClient(outbound.Options{AllowPrivate: true})
	})}
	w := f.do(req{method: "POST", path: "/clients", as: "admin", body: body})
	if w.Code != 201 {
		t.Fatalf("register: %d %s", w.Code, w.Body)
	}
	created := decode(t, w)
	id := field(created, "client", "client_id").(string)
	if created["client_secret"] != nil || field(created, "client", "jwks_uri") != jwks.URL+"/jwks.json" {
		t.Fatalf("created %v", created)
	}
	if w := f.token(assertionForm(f.assertion(id, key1, nil)), ""); w.Code != 200 {
		t.Fatalf("assertion with the fetched key: %d %s", w.Code, w.Body)
	}
	// The client rotates to a new key; an assertion naming it makes the
	// server fetch the set again (at most every 10 s).
	set.Store(strings.TrimSuffix(jwksOf(key2, "k2"), "]}") + "," + strings.TrimPrefix(jwksOf(key1, "k1"), `{"keys":[`))
	withK2 := func() string {
		return f.assertion(id, key2, func(_ jwt.MapClaims, h map[string]any) { h["kid"] = "k2" })
	}
	f.clock.Advance(11 * time.Second)
	if w := f.token(assertionForm(withK2()), ""); w.Code != 200 {
		t.Fatalf("assertion with the client's new key: %d %s", w.Code, w.Body)
	}
}
