package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/golang-jwt/jwt/v5"
)

const (
	rpRedirect  = "https://rp.example/callback"
	spaRedirect = "http://127.0.0.1:4000/cb"
	rpLogout    = "https://rp.example/bye"
)

// oidcFixture is the harness with two registered clients: a confidential
// web app (consent required) and a public single-page app (trusted: no
// consent), both allowed every scope.
type oidcFixture struct {
	*harness
	web, spa  oidc.Client
	webSecret string
}

func newOIDC(t *testing.T, opts ...func(*app.Config)) *oidcFixture {
	t.Helper()
	h := newHarness(t, opts...)
	h.t = t
	ctx := context.Background()
	web, secret, err := h.app.Clients.Add(ctx, oidc.ClientInput{Name: "Web App", RedirectURIs: []string{rpRedirect},
		PostLogoutRedirectURIs: []string{rpLogout}})
	if err != nil {
		t.Fatal(err)
	}
	no := false
	spa, _, err := h.app.Clients.Add(ctx, oidc.ClientInput{Name: "Single Page", Public: true,
		RedirectURIs: []string{spaRedirect}, RequireConsent: &no})
	if err != nil {
		t.Fatal(err)
	}
	return &oidcFixture{harness: h, web: web, spa: spa, webSecret: secret}
}

func pkcePair(seed string) (verifier, challenge string) {
	verifier = strings.Repeat(seed, 43/len(seed)+1)[:43]
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authParams is a valid authorization request of client c.
func authParams(c oidc.Client, redirect, challenge string) url.Values {
	return url.Values{"client_id": {c.ID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid profile email offline_access"}, "state": {"st-123"}, "nonce": {"n-456"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
}

// authorize sends GET /authorize as user as ("" for no session), by cookie.
func (f *oidcFixture) authorize(as string, q url.Values) *httptest.ResponseRecorder {
	f.t.Helper()
	r := req{method: "GET", path: "/authorize?" + q.Encode()}
	if as != "" {
		r.as, r.carrier = as, "cookie"
	}
	return f.do(r)
}

// consent posts the consent page's answer as user as.
func (f *oidcFixture) consent(as string, q url.Values, answer string) *httptest.ResponseRecorder {
	f.t.Helper()
	form := url.Values{}
	for k, v := range q {
		form[k] = v
	}
	form.Set("consent", answer)
	form.Set("csrf_token", "csrf-"+as)
	return f.do(req{method: "POST", path: "/authorize", as: as, carrier: "cookie", body: form.Encode(),
		contentType: "application/x-www-form-urlencoded"})
}

// redirectQuery checks a 302 to prefix and returns its query.
func redirectQuery(t *testing.T, w *httptest.ResponseRecorder, prefix string) url.Values {
	t.Helper()
	loc := w.Header().Get("Location")
	if w.Code != http.StatusFound || !strings.HasPrefix(loc, prefix) {
		t.Fatalf("want 302 to %s, got %d %q: %.300s", prefix, w.Code, loc, w.Body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// codeFor runs the authorization (consenting when asked) and returns a code.
func (f *oidcFixture) codeFor(as string, q url.Values) string {
	f.t.Helper()
	w := f.authorize(as, q)
	if w.Code == http.StatusOK { // the consent page
		w = f.consent(as, q, "allow")
	}
	got := redirectQuery(f.t.(*testing.T), w, q.Get("redirect_uri"))
	if got.Get("code") == "" || got.Get("state") != q.Get("state") || got.Get("iss") != testIssuer {
		f.t.Fatalf("redirect %v: want code, state %q and iss", got, q.Get("state"))
	}
	return got.Get("code")
}

// token posts to /oauth/token; basic, when set, is "id:secret".
func (f *oidcFixture) token(form url.Values, basic string) *httptest.ResponseRecorder {
	f.t.Helper()
	r := req{method: "POST", path: "/oauth/token", body: form.Encode(), contentType: "application/x-www-form-urlencoded"}
	if basic != "" {
		id, secret, _ := strings.Cut(basic, ":")
		r.headers = map[string]string{"Authorization": "Basic " +
			base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))}
	}
	return f.do(r)
}

func codeForm(code, redirect, verifier string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
}

func (f *oidcFixture) webBasic() string { return f.web.ID + ":" + f.webSecret }

// exchange gets tokens for a code of the web client.
func (f *oidcFixture) exchange(code, verifier string) map[string]any {
	f.t.Helper()
	w := f.token(codeForm(code, rpRedirect, verifier), f.webBasic())
	if w.Code != 200 {
		f.t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	return decode(f.t, w)
}

func oauthError(w *httptest.ResponseRecorder) string {
	var e struct{ Error string }
	_ = json.Unmarshal(w.Body.Bytes(), &e)
	return e.Error
}

// idClaims verifies an ID token with the server's keys and returns its claims.
func (f *oidcFixture) idClaims(t *testing.T, raw, alg string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithIssuer(testIssuer), jwt.WithTimeFunc(f.clock.Now)).
		ParseWithClaims(raw, claims, func(tk *jwt.Token) (any, error) {
			kid, _ := tk.Header["kid"].(string)
			k, ok := f.app.Keys.VerificationKey(kid)
			if !ok {
				t.Fatalf("unknown kid %q", kid)
			}
			return k.Public, nil
		})
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	return claims
}

// The whole code flow of a confidential client: consent page, code with
// state and iss, tokens (ID token with every claim, RFC 9068 access token,
// refresh token), userinfo, refresh rotation with reuse detection, consent
// remembered.
func TestOIDCCodeFlowConfidential(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	verifier, challenge := pkcePair("v")
	q := authParams(f.web, rpRedirect, challenge)
	w := f.authorize("ann", q)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Web App") || !strings.Contains(w.Body.String(), "See your email address") {
		t.Fatalf("consent page: %d %.500s", w.Code, w.Body)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://rp.example") {
		t.Fatalf("consent page CSP %q does not let the form end at the redirect URI", csp)
	}
	got := redirectQuery(t, f.consent("ann", q, "allow"), rpRedirect)
	if got.Get("state") != "st-123" || got.Get("iss") != testIssuer || got.Get("code") == "" {
		t.Fatalf("redirect query %v", got)
	}
	tok := f.exchange(got.Get("code"), verifier)
	if tok["token_type"] != "Bearer" || tok["refresh_token"] == nil || tok["scope"] != "openid profile email offline_access" {
		t.Fatalf("token response %v", tok)
	}
	idc := f.idClaims(t, tok["id_token"].(string), "EdDSA")
	ann := f.users["ann"]
	for k, want := range map[string]any{"sub": ann.ID, "aud": f.web.ID, "azp": f.web.ID, "nonce": "n-456",
		"sid": f.tokens["ann"].SessionID, "email": "ann@example.com", "email_verified": false, "name": "Ann",
		"preferred_username": "ann"} {
		if idc[k] != want {
			t.Errorf("ID token %s = %v, want %v", k, idc[k], want)
		}
	}
	if amr, _ := idc["amr"].([]any); len(amr) != 1 || amr[0] != "pwd" {
		t.Errorf("amr %v", idc["amr"])
	}
	if at, _ := idc["auth_time"].(float64); int64(at) != f.clock.Now().Unix() {
		t.Errorf("auth_time %v, want the login's %d", idc["auth_time"], f.clock.Now().Unix())
	}

	// The access token is an RFC 9068 JWT for the client: refused by
	// Gatehouse's own API (another audience), good at /userinfo.
	access := tok["access_token"].(string)
	parts := strings.Split(access, ".")
	head, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if !strings.Contains(string(head), `"typ":"at+jwt"`) {
		t.Fatalf("access token header %s", head)
	}
	var ac guard.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(access, &ac); err != nil || ac.ClientID != f.web.ID ||
		ac.Scope != "openid profile email offline_access" || len(ac.Audience) != 1 || ac.Audience[0] != f.web.ID || ac.Role != "" {
		t.Fatalf("access token claims %+v (%v)", ac, err)
	}
	if w := f.do(req{method: "GET", path: "/me", headers: map[string]string{"Authorization": "Bearer " + access}}); w.Code != 401 {
		t.Fatalf("a client's token at /me: %d, want 401", w.Code)
	}
	info := decode(t, f.do(req{method: "GET", path: "/userinfo", headers: map[string]string{"Authorization": "Bearer " + access}}))
	if info["sub"] != ann.ID || info["email"] != "ann@example.com" || info["preferred_username"] != "ann" {
		t.Fatalf("userinfo %v", info)
	}

	// Refresh rotates; the spent token replayed after the grace window ends
	// the client's session, its access tokens included.
	rt := tok["refresh_token"].(string)
	w = f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, f.webBasic())
	if w.Code != 200 {
		t.Fatalf("refresh: %d %s", w.Code, w.Body)
	}
	next := decode(t, w)
	if next["refresh_token"] == rt || next["id_token"] == nil {
		t.Fatalf("refresh did not rotate or gave no ID token: %v", next)
	}
	if c := f.idClaims(t, next["id_token"].(string), "EdDSA"); c["auth_time"] != idc["auth_time"] || c["sid"] != idc["sid"] {
		t.Fatalf("refreshed ID token changed auth_time or sid: %v", c)
	}
	f.clock.Advance(11 * time.Second)
	if w := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, f.webBasic()); oauthError(w) != "invalid_grant" || w.Code != 400 {
		t.Fatalf("reuse: %d %s", w.Code, w.Body)
	}
	if w := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next["refresh_token"].(string)}}, f.webBasic()); w.Code != 400 {
		t.Fatalf("the successor survived the reuse: %d", w.Code)
	}
	if w := f.do(req{method: "GET", path: "/userinfo", headers: map[string]string{"Authorization": "Bearer " + next["access_token"].(string)}}); w.Code != 401 {
		t.Fatalf("userinfo after reuse: %d, want 401", w.Code)
	}

	// Consent is remembered for the same scopes; a wider set asks again.
	if w := f.authorize("ann", q); w.Code != http.StatusFound {
		t.Fatalf("second authorization asked again: %d", w.Code)
	}
	q2 := authParams(f.web, rpRedirect, challenge)
	q2.Set("scope", "openid")
	if w := f.authorize("ann", q2); w.Code != http.StatusFound {
		t.Fatalf("a subset asked again: %d", w.Code)
	}
	q2.Set("prompt", "consent")
	if w := f.authorize("ann", q2); w.Code != 200 {
		t.Fatalf("prompt=consent did not ask: %d", w.Code)
	}
	// Deny: access_denied with state and iss.
	if got := redirectQuery(t, f.consent("ann", q2, "deny"), rpRedirect); got.Get("error") != "access_denied" || got.Get("state") != "st-123" || got.Get("iss") != testIssuer {
		t.Fatalf("deny: %v", got)
	}
}

// A public client: PKCE, no secret, no consent (trusted), refresh tokens
// only with offline_access, revocation, and the end of the browser session
// ending the client's.
func TestOIDCPublicClient(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	verifier, challenge := pkcePair("p")
	q := authParams(f.spa, "http://127.0.0.1:53127/cb", challenge) // loopback: any port
	q.Set("scope", "openid email")
	code := f.codeFor("ann", q)
	w := f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://127.0.0.1:53127/cb"},
		"code_verifier": {verifier}, "client_id": {f.spa.ID}}, "")
	if w.Code != 200 {
		t.Fatalf("public exchange: %d %s", w.Code, w.Body)
	}
	tok := decode(t, w)
	if tok["refresh_token"] != nil {
		t.Fatalf("a refresh token without offline_access: %v", tok)
	}
	if c := f.idClaims(t, tok["id_token"].(string), "EdDSA"); c["name"] != nil || c["email"] != "ann@example.com" {
		t.Fatalf("claims by scope: %v", c)
	}
	access := tok["access_token"].(string)
	bearer := map[string]string{"Authorization": "Bearer " + access}
	if w := f.do(req{method: "POST", path: "/userinfo", headers: bearer}); w.Code != 200 || decode(t, w)["name"] != nil {
		t.Fatalf("POST userinfo: %d %s", w.Code, w.Body)
	}
	// A public client sending a secret, or the web client without one: refused.
	if w := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {f.spa.ID}, "client_secret": {"s"}}, ""); oauthError(w) != "invalid_client" {
		t.Fatalf("public client with a secret: %d %s", w.Code, w.Body)
	}
	if w := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {f.web.ID}}, ""); oauthError(w) != "invalid_client" || w.Code != 401 {
		t.Fatalf("confidential client without a secret: %d %s", w.Code, w.Body)
	}
	// Revocation (RFC 7009) of the access token ends the client's session.
	form := url.Values{"token": {access}, "client_id": {f.spa.ID}}
	if w := f.do(req{method: "POST", path: "/oauth/revoke", body: form.Encode(), contentType: "application/x-www-form-urlencoded"}); w.Code != 200 {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	if w := f.do(req{method: "GET", path: "/userinfo", headers: bearer}); w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("userinfo after revoke: %d %v", w.Code, w.Header())
	}
	// An unknown token is revoked too (200, nothing happens).
	form.Set("token", "nothing-like-a-token")
	if w := f.do(req{method: "POST", path: "/oauth/revoke", body: form.Encode(), contentType: "application/x-www-form-urlencoded"}); w.Code != 200 {
		t.Fatalf("revoke unknown: %d", w.Code)
	}

	// Logging out of Gatehouse ends the client sessions it authorized.
	code = f.codeFor("ann", q)
	w = f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://127.0.0.1:53127/cb"},
		"code_verifier": {verifier}, "client_id": {f.spa.ID}}, "")
	access = decode(t, w)["access_token"].(string)
	if w := f.do(req{method: "POST", path: "/logout", as: "ann"}); w.Code != 204 {
		t.Fatalf("logout: %d", w.Code)
	}
	if w := f.do(req{method: "GET", path: "/userinfo", headers: map[string]string{"Authorization": "Bearer " + access}}); w.Code != 401 {
		t.Fatalf("a client token outlived the browser session: %d", w.Code)
	}
}

// Revoking the app (GET/DELETE /me/grants) ends its tokens; disabling the
// user ends them too; a code issued before the revocation is worthless.
func TestOIDCGrantsRevocation(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	verifier, challenge := pkcePair("g")
	q := authParams(f.web, rpRedirect, challenge)
	tok := f.exchange(f.codeFor("ann", q), verifier)
	pending := f.codeFor("ann", q) // not exchanged yet

	w := f.do(req{method: "GET", path: "/me/grants", as: "ann"})
	grants, _ := decode(t, w)["grants"].([]any)
	if w.Code != 200 || len(grants) != 1 || field(grants[0].(map[string]any), "client_id") != f.web.ID ||
		field(grants[0].(map[string]any), "client_name") != "Web App" {
		t.Fatalf("grants: %d %s", w.Code, w.Body)
	}
	if w := f.do(req{method: "DELETE", path: "/me/grants/" + f.web.ID, as: "bob"}); w.Code != 404 {
		t.Fatalf("bob revoking ann's app: %d", w.Code)
	}
	if w := f.do(req{method: "DELETE", path: "/me/grants/" + f.web.ID, as: "ann"}); w.Code != 204 {
		t.Fatalf("revoke grant: %d %s", w.Code, w.Body)
	}
	if w := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, f.webBasic()); oauthError(w) != "invalid_grant" {
		t.Fatalf("refresh after revoking the app: %d %s", w.Code, w.Body)
	}
	if w := f.do(req{method: "GET", path: "/userinfo", headers: map[string]string{"Authorization": "Bearer " + tok["access_token"].(string)}}); w.Code != 401 {
		t.Fatalf("access after revoking the app: %d", w.Code)
	}
	if w := f.token(codeForm(pending, rpRedirect, verifier), f.webBasic()); oauthError(w) != "invalid_grant" {
		t.Fatalf("a code from before the revocation: %d %s", w.Code, w.Body)
	}
	if w := f.do(req{method: "DELETE", path: "/me/grants/" + f.web.ID, as: "ann"}); w.Code != 404 {
		t.Fatalf("revoking twice: %d", w.Code)
	}

	// Disabling the user ends the client's sessions through the same feed.
	tok = f.exchange(f.codeFor("ann", q), verifier)
	if w := f.do(req{method: "PATCH", path: "/users/ID:ann", as: "admin", body: `{"disabled":true}`}); w.Code != 200 {
		t.Fatalf("disable: %d %s", w.Code, w.Body)
	}
	if w := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, f.webBasic()); oauthError(w) != "invalid_grant" {
		t.Fatalf("refresh of a disabled user: %d %s", w.Code, w.Body)
	}
}

// prompt=none, login and max_age, and login_hint.
func TestOIDCPromptAndMaxAge(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	_, challenge := pkcePair("m")
	q := authParams(f.spa, spaRedirect, challenge)
	q.Set("prompt", "none")
	if got := redirectQuery(t, f.authorize("", q), spaRedirect); got.Get("error") != "login_required" || got.Get("state") != "st-123" || got.Get("iss") != testIssuer {
		t.Fatalf("prompt=none without a session: %v", got)
	}
	if got := redirectQuery(t, f.authorize("ann", q), spaRedirect); got.Get("code") == "" {
		t.Fatalf("prompt=none with a session: %v", got)
	}
	qw := authParams(f.web, rpRedirect, challenge)
	qw.Set("prompt", "none")
	if got := redirectQuery(t, f.authorize("ann", qw), rpRedirect); got.Get("error") != "consent_required" {
		t.Fatalf("prompt=none needing consent: %v", got)
	}

	// Without a session: the login page, coming back here, with the hint.
	q.Del("prompt")
	q.Set("login_hint", "ann@example.com")
	w := f.authorize("", q)
	loc, _ := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusFound || loc.Path != "/login" || loc.Query().Get("login_hint") != "ann@example.com" ||
		!strings.HasPrefix(loc.Query().Get("next"), "/authorize?") {
		t.Fatalf("to login: %d %q", w.Code, w.Header().Get("Location"))
	}
	page := f.do(req{method: "GET", path: loc.RequestURI()})
	if !strings.Contains(page.Body.String(), `value="ann@example.com"`) || !strings.Contains(page.Header().Get("Content-Security-Policy"), "http://127.0.0.1:4000") {
		t.Fatalf("login page: hint or form-action missing: %s / %.300s", page.Header().Get("Content-Security-Policy"), page.Body)
	}

	// max_age: an old login must log in again.
	f.clock.Advance(10 * time.Minute)
	q.Set("max_age", "60")
	if w := f.authorize("ann", q); w.Code != http.StatusFound || !strings.HasPrefix(w.Header().Get("Location"), "/login?") {
		t.Fatalf("max_age exceeded: %d %q", w.Code, w.Header().Get("Location"))
	}
	q.Set("prompt", "none")
	if got := redirectQuery(t, f.authorize("ann", q), spaRedirect); got.Get("error") != "login_required" {
		t.Fatalf("max_age exceeded with prompt=none: %v", got)
	}
	q.Del("prompt")
	q.Set("max_age", "3600")
	if got := redirectQuery(t, f.authorize("ann", q), spaRedirect); got.Get("code") == "" {
		t.Fatalf("max_age met: %v", got)
	}

	// prompt=login goes to the login page even with a session, and the
	// return carries the server's note of when a login was asked for: the
	// old session does not pass.
	q.Set("prompt", "login")
	w = f.authorize("ann", q)
	loc, _ = url.Parse(w.Header().Get("Location"))
	next, _ := url.Parse(loc.Query().Get("next"))
	if loc.Path != "/login" || next.Query().Get("prompt") != "login" || next.Query().Get("login_after") == "" {
		t.Fatalf("prompt=login: %q", w.Header().Get("Location"))
	}
	if w := f.do(req{method: "GET", path: next.RequestURI(), as: "ann", carrier: "cookie"}); !strings.HasPrefix(w.Header().Get("Location"), "/login?") {
		t.Fatalf("the old session passed login_after: %q", w.Header().Get("Location"))
	}
	// A fresh login passes.
	f.clock.Advance(time.Second)
	fresh, err := f.app.Services.Sessions.Login(context.Background(), auth.LoginInput{Identifier: "ann", Password: annPassword})
	if err != nil {
		t.Fatal(err)
	}
	f.tokens["ann"] = fresh
	if got := redirectQuery(t, f.do(req{method: "GET", path: next.RequestURI(), as: "ann", carrier: "cookie"}), spaRedirect); got.Get("code") == "" {
		t.Fatalf("after a fresh login: %v", got)
	}
}

// Discovery lists exactly what exists.
func TestOIDCDiscovery(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	d := decode(t, f.do(req{method: "GET", path: "/.well-known/openid-configuration"}))
	want := map[string]any{
		"issuer": testIssuer, "authorization_endpoint": testIssuer + "/authorize", "token_endpoint": testIssuer + "/oauth/token",
		"userinfo_endpoint": testIssuer + "/userinfo", "jwks_uri": testIssuer + "/.well-known/jwks.json",
		"revocation_endpoint": testIssuer + "/oauth/revoke", "introspection_endpoint": testIssuer + "/oauth/introspect",
		"end_session_endpoint": testIssuer + "/oauth/end-session", "authorization_response_iss_parameter_supported": true,
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %v, want %v", k, d[k], v)
		}
	}
	lists := map[string]string{"response_types_supported": "code", "grant_types_supported": "authorization_code refresh_token",
		"code_challenge_methods_supported": "S256", "subject_types_supported": "public",
		"token_endpoint_auth_methods_supported": "client_secret_basic client_secret_post none",
		"id_token_signing_alg_values_supported": "EdDSA ES256 RS256", "scopes_supported": "openid profile email offline_access organization"}
	for k, v := range lists {
		var got []string
		for _, x := range d[k].([]any) {
			got = append(got, x.(string))
		}
		if strings.Join(got, " ") != v {
			t.Errorf("%s = %v, want %s", k, got, v)
		}
	}
	// Every advertised endpoint exists (answers something other than 404).
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "revocation_endpoint",
		"introspection_endpoint", "end_session_endpoint"} {
		path := strings.TrimPrefix(d[k].(string), testIssuer)
		method := "GET"
		if strings.HasPrefix(path, "/oauth/") && path != "/oauth/end-session" {
			method = "POST"
		}
		if w := f.do(req{method: method, path: path}); w.Code == 404 || w.Code == 405 {
			t.Errorf("%s %s: %d", method, path, w.Code)
		}
	}
}

// An RS256 client gets RS256 ID tokens, signed by an RSA key the JWKS now
// publishes beside the EdDSA key.
func TestOIDCRS256Client(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	no := false
	c, secret, err := f.app.Clients.Add(context.Background(), oidc.ClientInput{Name: "Legacy", RedirectURIs: []string{rpRedirect},
		IDTokenAlg: "RS256", RequireConsent: &no})
	if err != nil {
		t.Fatal(err)
	}
	jwks := f.do(req{method: "GET", path: "/.well-known/jwks.json"}).Body.String()
	if !strings.Contains(jwks, `"alg":"RS256"`) || !strings.Contains(jwks, `"alg":"EdDSA"`) {
		t.Fatalf("JWKS lacks the RSA key: %s", jwks)
	}
	verifier, challenge := pkcePair("r")
	code := f.codeFor("ann", authParams(c, rpRedirect, challenge))
	w := f.token(codeForm(code, rpRedirect, verifier), c.ID+":"+secret)
	if w.Code != 200 {
		t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	f.idClaims(t, decode(t, w)["id_token"].(string), "RS256")
}

// Introspection: confidential clients only, their own tokens only.
func TestOIDCIntrospection(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	verifier, challenge := pkcePair("i")
	tok := f.exchange(f.codeFor("ann", authParams(f.web, rpRedirect, challenge)), verifier)
	introspect := func(token, basic string, form url.Values) *httptest.ResponseRecorder {
		if form == nil {
			form = url.Values{}
		}
		form.Set("token", token)
		r := req{method: "POST", path: "/oauth/introspect", body: form.Encode(), contentType: "application/x-www-form-urlencoded"}
		if basic != "" {
			r.headers = map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(basic))}
		}
		return f.do(r)
	}
	for _, k := range []string{"access_token", "refresh_token"} {
		w := introspect(tok[k].(string), f.webBasic(), nil)
		m := decode(t, w)
		if w.Code != 200 || m["active"] != true || m["client_id"] != f.web.ID || m["sub"] != f.users["ann"].ID {
			t.Fatalf("introspect %s: %d %s", k, w.Code, w.Body)
		}
	}
	// RFC 7662's token_type is the type of token for use (RFC 6749 7.1):
	// Bearer for an access token; a refresh token is not one, so none.
	for k, want := range map[string]any{"access_token": "Bearer", "refresh_token": nil} {
		if got := decode(t, introspect(tok[k].(string), f.webBasic(), nil))["token_type"]; got != want {
			t.Errorf("introspect %s: token_type %v, want %v", k, got, want)
		}
	}
	if m := decode(t, introspect("garbage", f.webBasic(), nil)); m["active"] != false || len(m) != 1 {
		t.Fatalf("introspect garbage: %v", m)
	}
	if w := introspect(tok["access_token"].(string), "", url.Values{"client_id": {f.spa.ID}}); w.Code != 401 || oauthError(w) != "invalid_client" {
		t.Fatalf("public client introspecting: %d %s", w.Code, w.Body)
	}
	if w := introspect(tok["access_token"].(string), f.web.ID+":wrong", nil); w.Code != 401 || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("wrong secret: %d %v", w.Code, w.Header())
	}
}

// RP-initiated logout: a hint of the browser's own session logs out at
// once and redirects to the registered URI with state; anything else asks
// first or shows a page, never an open redirect.
func TestOIDCEndSession(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	verifier, challenge := pkcePair("e")
	tok := f.exchange(f.codeFor("ann", authParams(f.web, rpRedirect, challenge)), verifier)
	hint := tok["id_token"].(string)

	q := url.Values{"post_logout_redirect_uri": {"https://evil.example/"}, "id_token_hint": {hint}, "state": {"s1"}}
	if w := f.do(req{method: "GET", path: "/oauth/end-session?" + q.Encode(), as: "ann", carrier: "cookie"}); w.Code != 400 || w.Header().Get("Location") != "" {
		t.Fatalf("unregistered post_logout_redirect_uri: %d %q", w.Code, w.Header().Get("Location"))
	}
	q.Del("id_token_hint")
	q.Set("post_logout_redirect_uri", rpLogout)
	if w := f.do(req{method: "GET", path: "/oauth/end-session?" + q.Encode(), as: "ann", carrier: "cookie"}); w.Code != 400 {
		t.Fatalf("a post_logout_redirect_uri without a client: %d", w.Code)
	}
	q.Set("client_id", f.web.ID)
	w := f.do(req{method: "GET", path: "/oauth/end-session?" + q.Encode(), as: "ann", carrier: "cookie"})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `action="/oauth/end-session"`) {
		t.Fatalf("without a hint: want the confirmation page, got %d", w.Code)
	}
	if w := f.do(req{method: "GET", path: "/me", as: "ann"}); w.Code != 200 {
		t.Fatalf("the confirmation page logged out: %d", w.Code)
	}
	q.Del("client_id")
	q.Set("id_token_hint", hint)
	got := redirectQuery(t, f.do(req{method: "GET", path: "/oauth/end-session?" + q.Encode(), as: "ann", carrier: "cookie"}), rpLogout)
	if got.Get("state") != "s1" {
		t.Fatalf("end-session redirect %v", got)
	}
	if w := f.do(req{method: "GET", path: "/me", as: "ann"}); w.Code != 401 {
		t.Fatalf("the browser session survived end-session: %d", w.Code)
	}
	if w := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, f.webBasic()); w.Code != 400 {
		t.Fatalf("the client's refresh token survived end-session: %d", w.Code)
	}
}

// Clients through the admin API: secrets shown once, every event audited,
// deleting a client ends its tokens.
func TestOIDCClientsAdminAPI(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	body := `{"name":"Reports","redirect_uris":["https://reports.example/cb"],"scopes":["openid","email"]}`
	if w := f.do(req{method: "POST", path: "/clients", as: "ann", body: body}); w.Code != 403 {
		t.Fatalf("non-admin: %d", w.Code)
	}
	w := f.do(req{method: "POST", path: "/clients", as: "admin", body: body})
	created := decode(t, w)
	if w.Code != 201 || created["client_secret"] == nil || field(created, "client", "public") != false {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	id := field(created, "client", "client_id").(string)
	for _, bad := range []string{`{"name":"x","redirect_uris":["http://evil.example/cb"]}`, `{"name":"x","redirect_uris":["https://a/cb#frag"]}`,
		`{"name":"x","redirect_uris":["https://a/cb"],"scopes":["admin"]}`, `{"name":"","redirect_uris":["https://a/cb"]}`,
		`{"name":"x","redirect_uris":["https://a/cb"],"id_token_alg":"none"}`, `{"name":"x","redirect_uris":["https://a/cb"],"public":true,"require_pkce":false}`} {
		if w := f.do(req{method: "POST", path: "/clients", as: "admin", body: bad}); w.Code != 400 {
			t.Errorf("create %s: %d, want 400", bad, w.Code)
		}
	}
	if w := f.do(req{method: "GET", path: "/clients/" + id, as: "admin"}); w.Code != 200 || strings.Contains(w.Body.String(), "secret") {
		t.Fatalf("get: %d %s", w.Code, w.Body)
	}
	if w := f.do(req{method: "PATCH", path: "/clients/" + id, as: "admin", body: `{"name":"Reports 2","require_consent":false}`}); w.Code != 200 || field(decode(t, w), "client", "name") != "Reports 2" {
		t.Fatalf("patch: %d %s", w.Code, w.Body)
	}
	list := decode(t, f.do(req{method: "GET", path: "/clients", as: "admin"}))["clients"].([]any)
	if len(list) != 3 {
		t.Fatalf("list: %v", list)
	}
	// Deleting the web client ends its tokens.
	verifier, challenge := pkcePair("d")
	tok := f.exchange(f.codeFor("ann", authParams(f.web, rpRedirect, challenge)), verifier)
	if w := f.do(req{method: "DELETE", path: "/clients/" + f.web.ID, as: "admin"}); w.Code != 204 {
		t.Fatalf("delete: %d", w.Code)
	}
	if w := f.do(req{method: "GET", path: "/userinfo", headers: map[string]string{"Authorization": "Bearer " + tok["access_token"].(string)}}); w.Code != 401 {
		t.Fatalf("a deleted client's token: %d", w.Code)
	}
	if w := f.do(req{method: "GET", path: "/clients/" + f.web.ID, as: "admin"}); w.Code != 404 {
		t.Fatalf("deleted client: %d", w.Code)
	}
	events, _, err := f.app.Services.Accounts.AuditEvents(context.Background(), auth.AuditFilter{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range events {
		seen[e.Event] = true
	}
	for _, e := range []string{auth.EventClientCreated, auth.EventClientUpdated, auth.EventClientDeleted, auth.EventGrantCreated} {
		if !seen[e] {
			t.Errorf("no %s audit event", e)
		}
	}
}

// The connected apps page lists the app and revokes it.
func TestOIDCConnectedAppsPage(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	_, challenge := pkcePair("c")
	f.codeFor("ann", authParams(f.web, rpRedirect, challenge))
	w := f.do(req{method: "GET", path: "/apps", as: "ann", carrier: "cookie"})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Web App") {
		t.Fatalf("apps page: %d %.300s", w.Code, w.Body)
	}
	w = f.do(req{method: "POST", path: "/apps/" + f.web.ID + "/revoke", as: "ann", carrier: "cookie",
		body: "csrf_token=csrf-ann", contentType: "application/x-www-form-urlencoded"})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("revoke form: %d %s", w.Code, w.Body)
	}
	if w := f.do(req{method: "POST", path: "/apps/" + f.web.ID + "/revoke", as: "ann", carrier: "cookie",
		body: "csrf_token=wrong", contentType: "application/x-www-form-urlencoded"}); w.Code != 403 {
		t.Fatalf("revoke form without CSRF: %d", w.Code)
	}
	if grants, _ := f.app.OIDC.Grants(context.Background(), f.users["ann"].ID); len(grants) != 0 {
		t.Fatalf("grants left: %v", grants)
	}
}
