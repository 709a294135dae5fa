package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/fanout"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
	"github.com/golang-jwt/jwt/v5"
)

// resourceServer registers a confidential client allowed to introspect
// every token, and returns its Basic credentials.
func (f *oidcFixture) resourceServer() string {
	f.t.Helper()
	rs, secret, err := f.app.Clients.Add(f.t.Context(), oidc.ClientInput{Name: "Books API", RedirectURIs: []string{rpRedirect}, Introspect: true})
	if err != nil {
		f.t.Fatal(err)
	}
	return rs.ID + ":" + secret
}

func (f *oidcFixture) introspect(basic, token string) (*httptest.ResponseRecorder, map[string]any) {
	f.t.Helper()
	w := f.do(req{method: "POST", path: "/oauth/introspect", body: url.Values{"token": {token}}.Encode(),
		contentType: "application/x-www-form-urlencoded",
		headers:     map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(basic))}})
	if w.Code != 200 {
		f.t.Fatalf("introspect: %d %s", w.Code, w.Body)
	}
	return w, decode(f.t, w)
}

func TestIntrospectionOfAPIKeys(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	rs := f.resourceServer()
	key, id := f.createKey("ann", "books:read", "me:read")
	_, m := f.introspect(rs, key)
	if m["active"] != true || m["sub"] != f.users["ann"].ID || m["scope"] != "me:read books:read" || m["sid"] != id ||
		m["token_type"] != "Bearer" || m["role"] != "user" || m["iss"] != testIssuer {
		t.Fatalf("active key: %v", m)
	}
	if _, has := m["client_id"]; has {
		t.Fatalf("a key's answer names a client: %v", m)
	}
	if _, has := m["exp"]; has {
		t.Fatalf("a key without expiry has exp: %v", m)
	}
	// A client not registered to introspect learns nothing of keys.
	if _, m := f.introspect(f.webBasic(), key); m["active"] != false || len(m) != 1 {
		t.Fatalf("key introspected by an ordinary client: %v", m)
	}
	bad := key[:len(key)-1] + "A"
	if bad == key {
		bad = key[:len(key)-1] + "B"
	}
	if _, m := f.introspect(rs, bad); m["active"] != false || len(m) != 1 {
		t.Fatalf("wrong checksum: %v", m)
	}
	if w := f.do(req{method: "DELETE", path: "/me/api-keys/" + id, as: "ann"}); w.Code != 204 {
		t.Fatal(w.Code)
	}
	if _, m := f.introspect(rs, key); m["active"] != false || len(m) != 1 {
		t.Fatalf("revoked key: %v", m)
	}
}

func TestIntrospectionOfAccessTokens(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	rs := f.resourceServer()
	// A user's first-party token: active for the resource server only.
	first := f.tokens["ann"].AccessToken
	_, m := f.introspect(rs, first)
	if m["active"] != true || m["sub"] != f.users["ann"].ID || m["sid"] != f.tokens["ann"].SessionID || m["role"] != "user" {
		t.Fatalf("first-party token: %v", m)
	}
	if _, has := m["client_id"]; has {
		t.Fatalf("a first-party token's answer names a client: %v", m)
	}
	if _, m := f.introspect(f.webBasic(), first); m["active"] != false {
		t.Fatalf("a first-party token introspected by an ordinary client: %v", m)
	}
	// Another client's token: the resource server sees it, with its client.
	verifier, challenge := pkcePair("r")
	tok := f.exchange(f.codeFor("bob", authParams(f.web, rpRedirect, challenge)), verifier)
	if _, m := f.introspect(rs, tok["access_token"].(string)); m["active"] != true || m["client_id"] != f.web.ID {
		t.Fatalf("client token: %v", m)
	}
	// A service token (any audience the server signed for), verified by
	// signature, expiry and revocation alone.
	sid := "0190a0a0-0000-7000-8000-00000000beef"
	now := f.clock.Now()
	claims := &guard.Claims{ClientID: "svc-client", Scope: "books:read", SessionID: sid, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: testIssuer, Subject: "svc-client", Audience: jwt.ClaimStrings{"https://books.example"}, ID: "j1",
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute))}}
	svc, err := f.app.Keys.SignAs("EdDSA", guard.TokenType, claims)
	if err != nil {
		t.Fatal(err)
	}
	if _, m := f.introspect(rs, svc); m["active"] != true || m["sub"] != "svc-client" || m["scope"] != "books:read" || m["sid"] != sid {
		t.Fatalf("service token: %v", m)
	}
	f.app.Revocations.Add(now.Add(time.Hour), sid)
	if _, m := f.introspect(rs, svc); m["active"] != false {
		t.Fatalf("revoked service token: %v", m)
	}
	// Signed as another type (an ID token): never active.
	idTok, err := f.app.Keys.SignAs("EdDSA", "JWT", claims)
	if err != nil {
		t.Fatal(err)
	}
	if _, m := f.introspect(rs, idTok); m["active"] != false {
		t.Fatalf("a JWT of another type: %v", m)
	}
	// Logout ends the first-party token for the resource server too.
	if w := f.do(req{method: "POST", path: "/logout", as: "ann"}); w.Code != 204 {
		t.Fatal(w.Code)
	}
	if _, m := f.introspect(rs, first); m["active"] != false {
		t.Fatalf("token of an ended session: %v", m)
	}
}

func TestOnlyConfidentialClientsMayIntrospectEverything(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "public client", req: req{method: "POST", path: "/clients", as: "admin",
			body: `{"name":"spa","redirect_uris":["https://app.example/cb"],"public":true,"introspect":true}`}, status: 400, code: "invalid_request"},
		{name: "confidential client", req: req{method: "POST", path: "/clients", as: "admin",
			body: `{"name":"api","redirect_uris":["https://app.example/cb"],"introspect":true}`}, status: 201,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if field(decode(t, w), "client", "introspect") != true {
					t.Fatalf("introspect not set: %s", w.Body)
				}
			}},
	})
}

// A client not registered to introspect learns about its own tokens only,
// whatever their audience: a service client asking about the token it was
// issued for a resource server gets it active; another client's token,
// and a first-party token, stay inactive for it.
func TestAClientIntrospectsItsOwnServiceToken(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t)
	w := f.token(ccForm("audience", apiAudience), f.svc.ID+":"+f.svcSecret)
	if w.Code != 200 {
		t.Fatalf("client_credentials: %d %s", w.Code, w.Body)
	}
	own := decode(t, w)["access_token"].(string)
	_, m := f.introspect(f.svc.ID+":"+f.svcSecret, own)
	if m["active"] != true || m["client_id"] != f.svc.ID || m["sub"] != f.svc.ID {
		t.Fatalf("the client's own service token: %v", m)
	}
	if aud, _ := m["aud"].([]any); len(aud) != 1 || aud[0] != apiAudience {
		t.Fatalf("audience of the own token: %v", m["aud"])
	}
	if _, m := f.introspect(f.webBasic(), own); m["active"] != false || len(m) != 1 {
		t.Fatalf("another client's service token: %v", m)
	}
	if _, m := f.introspect(f.svc.ID+":"+f.svcSecret, f.tokens["ann"].AccessToken); m["active"] != false || len(m) != 1 {
		t.Fatalf("a first-party token introspected by a service client: %v", m)
	}
}

// A resource server's client is held in memory between introspections; a
// change made at this instance takes effect at its next request: no longer
// allowed to introspect, it learns nothing of keys; removed, it is refused.
func TestAResourceServersChangeTakesEffectAtOnce(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	rs := f.resourceServer()
	id, _, _ := strings.Cut(rs, ":")
	key, _ := f.createKey("ann", "books:read")
	if _, m := f.introspect(rs, key); m["active"] != true {
		t.Fatalf("key before the change: %v", m)
	}
	if w := f.do(req{method: "PATCH", path: "/clients/" + id, as: "admin", body: `{"introspect":false}`}); w.Code != 200 {
		t.Fatalf("PATCH introspect: %d %s", w.Code, w.Body)
	}
	if _, m := f.introspect(rs, key); m["active"] != false || len(m) != 1 {
		t.Fatalf("key after introspect was turned off: %v", m)
	}
	if w := f.do(req{method: "DELETE", path: "/clients/" + id, as: "admin"}); w.Code != 204 {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	w := f.do(req{method: "POST", path: "/oauth/introspect", body: url.Values{"token": {key}}.Encode(),
		contentType: "application/x-www-form-urlencoded",
		headers:     map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(rs))}})
	if w.Code != 401 || errorCode(w) != "invalid_client" {
		t.Fatalf("introspection by a removed client: %d %s", w.Code, w.Body)
	}
}

// otherInstance is a second server of f's deployment: the same database
// (its own connections) and configuration, its own memory.
func (h *harness) otherInstance() *app.App {
	h.t.Helper()
	a, err := app.New(context.Background(), h.cfg, storetest.Reopen(h.t, h.store))
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// introspectAs is POST /oauth/introspect with basic as the client's
// credentials, whatever the answer.
func (f *oidcFixture) introspectAs(basic, token string) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.do(req{method: "POST", path: "/oauth/introspect", body: url.Values{"token": {token}}.Encode(),
		contentType: "application/x-www-form-urlencoded",
		headers:     map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(basic))}})
}

// readFeed is this instance's next poll of the change feed.
func (f *oidcFixture) readFeed() {
	f.t.Helper()
	if err := f.app.Services.Feed.SyncChanges(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// A resource server changed at another instance (or by the command line:
// the same database write, no fan-out) is seen here at the first request
// after this instance reads the change feed, not when its cached copy
// expires: the clock stands still, so the copy never would.
func TestResourceServerChangedElsewhereIsSeenOnceTheFeedIsRead(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	other := f.otherInstance()
	ctx := t.Context()
	rs := f.resourceServer()
	id, _, _ := strings.Cut(rs, ":")
	key, _ := f.createKey("ann", "books:read")
	if _, m := f.introspect(rs, key); m["active"] != true { // this instance now holds the client
		t.Fatalf("before the change: %v", m)
	}
	secret, err := other.Clients.RotateSecret(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	f.readFeed()
	if w := f.introspectAs(rs, key); w.Code != 401 || oauthError(w) != "invalid_client" {
		t.Fatalf("the old secret after its rotation elsewhere: %d %s", w.Code, w.Body)
	}
	rotated := id + ":" + secret
	if _, m := f.introspect(rotated, key); m["active"] != true {
		t.Fatalf("the new secret: %v", m)
	}
	off := false
	if _, err := other.Clients.Update(ctx, id, oidc.ClientPatch{Introspect: &off}); err != nil {
		t.Fatal(err)
	}
	f.readFeed()
	if _, m := f.introspect(rotated, key); m["active"] != false || len(m) != 1 {
		t.Fatalf("after introspection was turned off elsewhere: %v", m)
	}
	if err := other.Clients.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	f.readFeed()
	if w := f.introspectAs(rotated, key); w.Code != 401 || oauthError(w) != "invalid_client" {
		t.Fatalf("a client removed elsewhere: %d %s", w.Code, w.Body)
	}
}

// With Redis, a resource server's secret rotated at another instance stops
// working here as soon as the fan-out message arrives, with no poll of the
// database (an hour away) and no expiry of the cached copy (the clock
// stands still).
func TestResourceServerRotatedElsewhereIsForgottenThroughRedis(t *testing.T) {
	t.Parallel()
	client := testsupport.Redis(t)
	issuer := testIssuer + "/" + rand.Text() // this test's own channel
	f := newOIDC(t, func(c *app.Config) { c.Redis, c.Issuer, c.RevocationPoll = client, issuer, time.Hour })
	other := f.otherInstance()
	ctx, stop := context.WithCancel(t.Context())
	ran := make(chan struct{})
	go func() { defer close(ran); f.app.Run(ctx) }()
	t.Cleanup(func() { stop(); <-ran })
	rs := f.resourceServer()
	id, _, _ := strings.Cut(rs, ":")
	key, _ := f.createKey("ann", "books:read")
	if _, m := f.introspect(rs, key); m["active"] != true {
		t.Fatalf("before the change: %v", m)
	}
	deadline := time.Now().Add(30 * time.Second) // a hang guard, not a bound under test
	for {
		n, err := client.PubSubNumSub(ctx, fanout.Channel(issuer)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n[fanout.Channel(issuer)] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("this instance never subscribed to the fan-out")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := other.Clients.RotateSecret(ctx, id); err != nil {
		t.Fatal(err)
	}
	for {
		w := f.introspectAs(rs, key)
		if w.Code == 401 && oauthError(w) == "invalid_client" {
			break
		}
		if w.Code != 200 {
			t.Fatalf("the old secret: %d %s", w.Code, w.Body)
		}
		if time.Now().After(deadline) {
			t.Fatal("the old secret still works here: the rotation's fan-out message never arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
