// Package upstreamtest is two identity providers for tests, on httptest:
// an OpenID provider (discovery, JWKS, authorization code with PKCE S256,
// RS256 ID tokens, refresh, optionally RFC 9207's iss in its authorization
// responses, auth_time honouring prompt=login and max_age) whose answers a
// test can bend one way at a time (another issuer, audience or nonce, an
// expired token, a denial, a slow token endpoint, another iss or none, no
// auth_time or a stale one), and a GitHub-shaped OAuth2 server (the
// app flow with github.com's iss, /user and /user/emails).
package upstreamtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// User is who a provider signs in.
type User struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
}

// Bend changes one thing of the OpenID provider's answers.
type Bend struct {
	Deny      bool          // the authorization answers error=access_denied
	Issuer    string        // the ID token's iss, instead of the provider's
	Audience  string        // the ID token's aud, instead of the client's
	Nonce     string        // the ID token's nonce, instead of the request's
	ExpiredBy time.Duration // the ID token expired this long before Now()
	Stall     bool          // the token endpoint answers only when the caller gives up
	// TenantClaim is the ID token's tid, instead of the issuer's tenant
	// (with OIDC.Tenant set).
	TenantClaim string
	// ResponseIssuer is the authorization response's iss (RFC 9207),
	// instead of the provider's; sent even by a provider without
	// IssuerInResponse.
	ResponseIssuer string
	// NoResponseIssuer leaves iss out of the authorization response, even
	// of a provider with IssuerInResponse.
	NoResponseIssuer bool
	// NoAuthTime leaves auth_time out of the ID token.
	NoAuthTime bool
	// AuthTimeAhead moves the ID token's auth_time this far past the
	// sign-in (a provider whose clock runs ahead, or a made-up value).
	AuthTimeAhead time.Duration
	// IgnorePrompt keeps the user's earlier sign-in at the provider
	// whatever prompt and max_age ask: auth_time stays that sign-in's (a
	// provider that does not honour prompt=login).
	IgnorePrompt bool
}

// OIDC is a fake OpenID provider.
type OIDC struct {
	*httptest.Server
	ClientID, ClientSecret string
	// Now is the provider's clock for iat and exp (the relying party's, in
	// tests with a manual clock).
	Now func() time.Time
	// Tenant, when set, makes the provider multi-tenant as Microsoft's
	// common endpoint is: discovery names the issuer URL/{tenantid}/v2.0,
	// and ID tokens come from URL/Tenant/v2.0 with tid Tenant.
	Tenant string
	// IssuerInResponse makes the provider identify itself in its
	// authorization responses (RFC 9207): discovery says
	// authorization_response_iss_parameter_supported, and each response
	// carries iss (with Tenant, the tenant's issuer). Set it, as Tenant,
	// before the provider's first request.
	IssuerInResponse bool

	key *rsa.PrivateKey
	mu  sync.Mutex
	// User is who the next authorization signs in; Bend how it answers.
	user  User
	bend  Bend
	codes map[string]grant
	// refresh tokens, to the user they refresh
	refresh map[string]User
	issued  int
	// signedInAt is when the user last signed in at the provider (the ID
	// tokens' auth_time); lastAuthorization the last authorization
	// request's query.
	signedInAt        time.Time
	lastAuthorization url.Values
}

type grant struct {
	user             User
	nonce, challenge string
	redirect         string
	authTime         time.Time
}

// NewOIDC starts a provider with one client.
func NewOIDC(t testing.TB) *OIDC {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &OIDC{ClientID: "rp-" + rand.Text()[:8], ClientSecret: rand.Text(), Now: time.Now, key: key,
		codes: map[string]grant{}, refresh: map[string]User{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /common/v2.0/.well-known/openid-configuration", p.discovery) // the multi-tenant endpoint (Tenant)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Close)
	return p
}

// SignIn sets who the next authorization signs in, and how the provider
// bends its answers.
func (p *OIDC) SignIn(u User, b Bend) {
	p.mu.Lock()
	p.user, p.bend = u, b
	p.mu.Unlock()
}

// LastAuthorization is the query of the last authorization request (its
// prompt and max_age, for one).
func (p *OIDC) LastAuthorization() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastAuthorization
}

// Issued counts the access tokens the provider issued.
func (p *OIDC) Issued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.issued
}

func (p *OIDC) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{
		"issuer": p.issuer("{tenantid}"), "authorization_endpoint": p.URL + "/authorize", "token_endpoint": p.URL + "/token",
		"jwks_uri": p.URL + "/jwks", "response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
		"authorization_response_iss_parameter_supported": p.IssuerInResponse,
	})
}

func (p *OIDC) jwks(w http.ResponseWriter, r *http.Request) {
	b64 := base64.RawURLEncoding.EncodeToString
	writeJSON(w, map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
		"n": b64(p.key.N.Bytes()), "e": b64(big.NewInt(int64(p.key.E)).Bytes())}}})
}

func (p *OIDC) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || q.Get("client_id") != p.ClientID || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastAuthorization = q
	// The user signs in at the provider when they have not yet, or when
	// the request asks for it (prompt=login, or a max_age their sign-in
	// exceeds), unless the bend ignores that.
	now := p.Now()
	maxAge, err := strconv.Atoi(q.Get("max_age"))
	asked := q.Get("prompt") == "login" || err == nil && now.Sub(p.signedInAt) >= time.Duration(maxAge)*time.Second
	if p.signedInAt.IsZero() || asked && !p.bend.IgnorePrompt {
		p.signedInAt = now
	}
	back := url.Values{"state": {q.Get("state")}}
	switch {
	case p.bend.NoResponseIssuer:
	case p.bend.ResponseIssuer != "":
		back.Set("iss", p.bend.ResponseIssuer)
	case p.IssuerInResponse:
		back.Set("iss", p.issuer(p.Tenant))
	}
	if p.bend.Deny {
		back.Set("error", "access_denied")
	} else {
		code := rand.Text()
		p.codes[code] = grant{user: p.user, nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: redirect.String(),
			authTime: p.signedInAt}
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (p *OIDC) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != p.ClientID || secret != p.ClientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	p.mu.Lock()
	bend := p.bend
	var g grant
	var found bool
	switch r.PostFormValue("grant_type") {
	case "authorization_code":
		g, found = p.codes[r.PostFormValue("code")]
		delete(p.codes, r.PostFormValue("code"))
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		found = found && base64.RawURLEncoding.EncodeToString(sum[:]) == g.challenge && r.PostFormValue("redirect_uri") == g.redirect
	case "refresh_token":
		g.user, found = p.refresh[r.PostFormValue("refresh_token")]
		delete(p.refresh, r.PostFormValue("refresh_token"))
	}
	p.mu.Unlock()
	if bend.Stall {
		<-r.Context().Done()
		return
	}
	if !found {
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	now := p.Now()
	claims := jwt.MapClaims{"iss": p.issuer(p.Tenant), "sub": g.user.Subject, "aud": p.ClientID, "iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Add(-bend.ExpiredBy).Unix(), "nonce": g.nonce,
		"email": g.user.Email, "email_verified": g.user.EmailVerified, "name": g.user.Name}
	if p.Tenant != "" {
		claims["tid"] = p.Tenant
	}
	if !bend.NoAuthTime && !g.authTime.IsZero() {
		claims["auth_time"] = g.authTime.Add(bend.AuthTimeAhead).Unix()
	}
	for k, v := range map[string]string{"iss": bend.Issuer, "aud": bend.Audience, "nonce": bend.Nonce, "tid": bend.TenantClaim} {
		if v != "" {
			claims[k] = v
		}
	}
	if bend.ExpiredBy > 0 {
		claims["iat"] = now.Add(-bend.ExpiredBy - 10*time.Minute).Unix()
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = "k1"
	idToken, err := tok.SignedString(p.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.mu.Lock()
	p.issued++
	access, refresh := "at-"+strconv.Itoa(p.issued)+"-"+rand.Text(), rand.Text()
	p.refresh[refresh] = g.user
	p.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 300,
		"refresh_token": refresh, "id_token": idToken})
}

// issuer is the provider's issuer: its URL, or with Tenant set, the
// tenant's (tenant "{tenantid}": the template discovery names).
func (p *OIDC) issuer(tenant string) string {
	if p.Tenant == "" {
		return p.URL
	}
	return p.URL + "/" + tenant + "/v2.0"
}

// GitHub is a GitHub-shaped OAuth2 server: /login/oauth/authorize,
// /login/oauth/access_token, and the API's /user and /user/emails. Its
// authorization responses carry iss URL/login/oauth, as github.com's carry
// https://github.com/login/oauth (RFC 9207; AnswerIssuer changes it).
type GitHub struct {
	*httptest.Server
	ClientID, ClientSecret string

	mu     sync.Mutex
	iss    string
	user   GitHubUser
	codes  map[string]GitHubUser
	tokens map[string]GitHubUser
}

// GitHubUser is a GitHub account: its numeric id, login, and addresses.
type GitHubUser struct {
	ID     int64
	Login  string
	Name   string
	Emails []GitHubEmail
}

// GitHubEmail is one of /user/emails.
type GitHubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// NewGitHub starts the server with one OAuth app.
func NewGitHub(t testing.TB) *GitHub {
	t.Helper()
	g := &GitHub{ClientID: "Iv1." + rand.Text()[:10], ClientSecret: rand.Text(), codes: map[string]GitHubUser{}, tokens: map[string]GitHubUser{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", g.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", g.accessToken)
	mux.HandleFunc("GET /api/user", g.api(func(u GitHubUser) any {
		return map[string]any{"id": u.ID, "login": u.Login, "name": u.Name, "email": nil}
	}))
	mux.HandleFunc("GET /api/user/emails", g.api(func(u GitHubUser) any { return u.Emails }))
	g.Server = httptest.NewServer(mux)
	g.iss = g.URL + "/login/oauth"
	t.Cleanup(g.Close)
	return g
}

// AnswerIssuer sets the iss of the next authorization responses: ""
// sends none (as GitHub did before it adopted RFC 9207).
func (g *GitHub) AnswerIssuer(iss string) {
	g.mu.Lock()
	g.iss = iss
	g.mu.Unlock()
}

// SignIn sets who the next authorization signs in.
func (g *GitHub) SignIn(u GitHubUser) {
	g.mu.Lock()
	g.user = u
	g.mu.Unlock()
}

func (g *GitHub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || q.Get("client_id") != g.ClientID {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	code := rand.Text()
	back := url.Values{"code": {code}, "state": {q.Get("state")}}
	g.mu.Lock()
	g.codes[code] = g.user
	if g.iss != "" {
		back.Set("iss", g.iss)
	}
	g.mu.Unlock()
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// accessToken answers form-encoded, as GitHub does unless asked for JSON.
func (g *GitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	g.mu.Lock()
	u, found := g.codes[r.PostFormValue("code")]
	delete(g.codes, r.PostFormValue("code"))
	token := "gho_" + rand.Text()
	if found {
		g.tokens[token] = u
	}
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
	if id != g.ClientID || secret != g.ClientSecret || !found {
		_, _ = w.Write([]byte(url.Values{"error": {"bad_verification_code"}}.Encode()))
		return
	}
	_, _ = w.Write([]byte(url.Values{"access_token": {token}, "token_type": {"bearer"}, "scope": {"read:user,user:email"}}.Encode()))
}

func (g *GitHub) api(view func(GitHubUser) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := cutBearer(r.Header.Get("Authorization"))
		g.mu.Lock()
		u, found := g.tokens[token]
		g.mu.Unlock()
		if !ok || !found {
			w.WriteHeader(http.StatusUnauthorized)
			writeJSON(w, map[string]string{"message": "Bad credentials"})
			return
		}
		writeJSON(w, view(u))
	}
}

func cutBearer(h string) (string, bool) {
	if len(h) > 7 && (h[:7] == "Bearer " || h[:7] == "bearer ") {
		return h[7:], true
	}
	return "", false
}

func writeJSON(w http.ResponseWriter, v any) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}
