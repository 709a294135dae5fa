package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
)

// The OpenID Connect provider's routes: thin adapters over oidc.Service.

// oauthForm parses an OAuth endpoint's form body (RFC 6749 3.2: POST,
// application/x-www-form-urlencoded, no repeated parameter).
func oauthForm(r *http.Request) (url.Values, error) {
	if !httpjson.IsForm(r) {
		return nil, auth.Errorf(auth.CodeInvalidRequest, "The body must be application/x-www-form-urlencoded.")
	}
	if err := httpjson.ParseForm(r); err != nil {
		return nil, err
	}
	for k, vs := range r.PostForm {
		if len(vs) > 1 && k != "resource" && k != "audience" { // RFC 8707 2: resource may repeat
			return nil, auth.Errorf(auth.CodeInvalidRequest, "The %s parameter may be given once.", k)
		}
	}
	return r.PostForm, nil
}

// clientAuthOf reads a client's credentials: HTTP Basic (client_secret_basic,
// form-encoded id and secret, RFC 6749 2.3.1), client_id and client_secret in
// the body (client_secret_post), a client_assertion (private_key_jwt, RFC
// 7523), or client_id alone (none). Two methods at once are refused.
func clientAuthOf(r *http.Request, form url.Values) (oidc.ClientAuth, error) {
	id, secret, basic, err := parseBasicAuth(r.Header.Get("Authorization"))
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		if basic || form.Get("client_secret") != "" {
			return oidc.ClientAuth{}, auth.Errorf(auth.CodeInvalidRequest, "Use one client authentication method.")
		}
		if form.Get("client_assertion_type") != oidc.AssertionType {
			return oidc.ClientAuth{}, auth.Errorf("invalid_client", "client_assertion_type must be %s.", oidc.AssertionType)
		}
		return oidc.ClientAuth{ID: form.Get("client_id"), Assertion: form.Get("client_assertion"), Method: oidc.MethodPrivateKeyJWT}, nil
	}
	if basic {
		if err != nil {
			return oidc.ClientAuth{}, auth.Errorf("invalid_client", "The Basic credentials are malformed.")
		}
		if form.Get("client_secret") != "" || (form.Get("client_id") != "" && form.Get("client_id") != id) {
			return oidc.ClientAuth{}, auth.Errorf(auth.CodeInvalidRequest, "Use one client authentication method.")
		}
		uid, err1 := url.QueryUnescape(id)
		usecret, err2 := url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return oidc.ClientAuth{}, auth.Errorf("invalid_client", "The Basic credentials are malformed.")
		}
		return oidc.ClientAuth{ID: uid, Secret: usecret, Method: "client_secret_basic"}, nil
	}
	if form.Get("client_secret") != "" {
		return oidc.ClientAuth{ID: form.Get("client_id"), Secret: form.Get("client_secret"), Method: "client_secret_post"}, nil
	}
	return oidc.ClientAuth{ID: form.Get("client_id"), Method: "none"}, nil
}

// handleToken serves POST /oauth/token.
func handleToken(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, err := oauthForm(r)
		var ca oidc.ClientAuth
		if err == nil {
			ca, err = clientAuthOf(r, form)
		}
		if err != nil {
			httpjson.OAuthError(w, r, d.Log, err)
			return
		}
		resp, err := d.OIDC.Token(r.Context(), oidc.TokenRequest{GrantType: form.Get("grant_type"), Code: form.Get("code"),
			RedirectURI: form.Get("redirect_uri"), CodeVerifier: form.Get("code_verifier"), RefreshToken: form.Get("refresh_token"),
			Scope: form.Get("scope"), Resources: form["resource"], Audiences: form["audience"], Client: ca, Caller: client(d, r)})
		if err != nil {
			httpjson.OAuthError(w, r, d.Log, err)
			return
		}
		w.Header().Set("Pragma", "no-cache")
		httpjson.Write(w, http.StatusOK, resp)
	})
}

// handleUserInfo serves GET and POST /userinfo: the access token as a
// Bearer header, or (POST) as the access_token form field (RFC 6750 2.2).
func handleUserInfo(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := ""
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, rest, _ := strings.Cut(h, " ")
			if !strings.EqualFold(scheme, "Bearer") {
				httpjson.OAuthError(w, r, d.Log, auth.Errorf("invalid_token", "Send the access token as a Bearer token."))
				return
			}
			token = strings.TrimSpace(rest)
		}
		if r.Method == http.MethodPost && httpjson.IsForm(r) {
			form, err := oauthForm(r)
			if err != nil {
				httpjson.OAuthError(w, r, d.Log, err)
				return
			}
			if v := form.Get("access_token"); v != "" {
				if token != "" {
					httpjson.OAuthError(w, r, d.Log, auth.Errorf(auth.CodeInvalidRequest, "Send the access token one way."))
					return
				}
				token = v
			}
		}
		claims, err := d.OIDC.UserInfo(r.Context(), token)
		if err != nil {
			httpjson.OAuthError(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, claims)
	})
}

// handleRevoke serves POST /oauth/revoke (RFC 7009): 200 with an empty
// body, whether the token was known or not.
func handleRevoke(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, err := oauthForm(r)
		var ca oidc.ClientAuth
		if err == nil {
			ca, err = clientAuthOf(r, form)
		}
		if err == nil {
			err = d.OIDC.Revoke(r.Context(), ca, client(d, r), form.Get("token"))
		}
		if err != nil {
			httpjson.OAuthError(w, r, d.Log, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// handleIntrospect serves POST /oauth/introspect (RFC 7662).
func handleIntrospect(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, err := oauthForm(r)
		var ca oidc.ClientAuth
		if err == nil {
			ca, err = clientAuthOf(r, form)
		}
		var out map[string]any
		if err == nil {
			out, err = d.OIDC.Introspect(r.Context(), ca, client(d, r), form.Get("token"))
		}
		if err != nil {
			httpjson.OAuthError(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, out)
	})
}

type grantJSON struct {
	ClientID   string    `json:"client_id"`
	ClientName string    `json:"client_name"`
	Scopes     []string  `json:"scopes"`
	CreatedAt  time.Time `json:"created_at"`
}

// handleGrants serves GET /me/grants: the apps the caller allowed.
func handleGrants(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		grants, err := d.OIDC.Grants(r.Context(), claimsOf(r).Subject)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		out := make([]grantJSON, len(grants))
		for i, g := range grants {
			out[i] = grantJSON{ClientID: g.ClientID, ClientName: g.ClientName, Scopes: strings.Fields(g.Scope), CreatedAt: g.CreatedAt}
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"grants": out})
	})
}

// handleRevokeGrant serves DELETE /me/grants/{client_id}.
func handleRevokeGrant(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.OIDC.RevokeGrant(r.Context(), claimsOf(r).Subject, r.PathValue("client_id")); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

type clientJSON struct {
	ID                     string    `json:"client_id"`
	Name                   string    `json:"name"`
	RedirectURIs           []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs []string  `json:"post_logout_redirect_uris"`
	Public                 bool      `json:"public"`
	Scopes                 []string  `json:"scopes"`
	IDTokenAlg             string    `json:"id_token_alg"`
	RequireConsent         bool      `json:"require_consent"`
	RequirePKCE            bool      `json:"require_pkce"`
	Introspect             bool      `json:"introspect"`
	CreatedAt              time.Time `json:"created_at"`
	// Since service clients: the grant types, and a service client's
	// audiences, JWK Set (document or URI) and whether it is disabled.
	GrantTypes []string        `json:"grant_types"`
	Audiences  []string        `json:"audiences"`
	JWKS       json.RawMessage `json:"jwks"`
	JWKSURI    string          `json:"jwks_uri"`
	Disabled   bool            `json:"disabled"`
}

func clientView(c oidc.Client) clientJSON {
	v := clientJSON{ID: c.ID, Name: c.Name, RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		Public: c.Public, Scopes: nonNil(c.Scopes), IDTokenAlg: c.IDTokenAlg, RequireConsent: c.RequireConsent,
		RequirePKCE: c.RequirePKCE, Introspect: c.Introspect, CreatedAt: c.CreatedAt,
		GrantTypes: nonNil(c.GrantTypes), Audiences: nonNil(c.Audiences), JWKS: json.RawMessage("null"), JWKSURI: c.JWKSURI, Disabled: c.Disabled}
	if c.JWKS != "" {
		v.JWKS = json.RawMessage(c.JWKS)
	}
	return v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type clientRequest struct {
	Name                   *string   `json:"name"`
	RedirectURIs           *[]string `json:"redirect_uris"`
	PostLogoutRedirectURIs *[]string `json:"post_logout_redirect_uris"`
	Public                 bool      `json:"public"`
	Scopes                 *[]string `json:"scopes"`
	IDTokenAlg             *string   `json:"id_token_alg"`
	RequireConsent         *bool     `json:"require_consent"`
	RequirePKCE            *bool     `json:"require_pkce"`
	// Service clients: grant_types ["client_credentials"] (or "service":
	// true) registers one.
	GrantTypes *[]string       `json:"grant_types"`
	Service    bool            `json:"service"`
	Audiences  *[]string       `json:"audiences"`
	JWKS       json.RawMessage `json:"jwks"`
	JWKSURI    *string         `json:"jwks_uri"`
	Disabled   *bool           `json:"disabled"`
	Introspect *bool           `json:"introspect"`
}

// service reads whether a request registers a service client: "service":
// true, or grant_types naming client_credentials (alone).
func (in clientRequest) service() (bool, error) {
	if in.GrantTypes == nil {
		return in.Service, nil
	}
	g := *in.GrantTypes
	if len(g) == 1 && g[0] == oidc.GrantClientCredentials {
		return true, nil
	}
	userFacing := !in.Service
	for _, v := range g {
		userFacing = userFacing && (v == oidc.GrantAuthorizationCode || v == oidc.GrantRefreshToken)
	}
	if userFacing {
		return false, nil
	}
	return false, auth.Errorf(auth.CodeInvalidRequest, "grant_types is [\"client_credentials\"] for a service client, or [\"authorization_code\", \"refresh_token\"].")
}

// jwks is the request's JWK Set: a document (JSON object) or nil.
func (in clientRequest) jwks() (*string, error) {
	raw := strings.TrimSpace(string(in.JWKS))
	switch {
	case raw == "":
		return nil, nil
	case raw == "null":
		empty := ""
		return &empty, nil
	case !strings.HasPrefix(raw, "{"):
		return nil, auth.Errorf(auth.CodeInvalidRequest, "jwks must be a JWK Set object ({\"keys\": [...]}).")
	}
	return &raw, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// handleListClients serves GET /clients.
func handleListClients(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := d.Clients.List(r.Context())
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		out := make([]clientJSON, len(list))
		for i, c := range list {
			out[i] = clientView(c)
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"clients": out})
	})
}

// handleCreateClient serves POST /clients: 201 with the client and, for a
// confidential client, its secret (shown this once).
func handleCreateClient(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[clientRequest](r, false)
		var service bool
		var jwks *string
		if err == nil {
			service, err = in.service()
		}
		if err == nil {
			jwks, err = in.jwks()
		}
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		c, secret, err := d.Clients.Add(r.Context(), oidc.ClientInput{Name: deref(in.Name), RedirectURIs: deref(in.RedirectURIs),
			PostLogoutRedirectURIs: deref(in.PostLogoutRedirectURIs), Public: in.Public, Scopes: deref(in.Scopes),
			IDTokenAlg: deref(in.IDTokenAlg), RequireConsent: in.RequireConsent, RequirePKCE: in.RequirePKCE,
			Service: service, Audiences: deref(in.Audiences), JWKS: deref(jwks), JWKSURI: deref(in.JWKSURI), Introspect: deref(in.Introspect)})
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		out := map[string]any{"client": clientView(c)}
		if secret != "" {
			out["client_secret"] = secret
		}
		httpjson.Write(w, http.StatusCreated, out)
	})
}

// handleGetClient serves GET /clients/{id}.
func handleGetClient(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := d.Clients.Get(r.Context(), r.PathValue("id"))
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"client": clientView(c)})
	})
}

// handleUpdateClient serves PATCH /clients/{id}.
func handleUpdateClient(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[clientRequest](r, false)
		var jwks *string
		if err == nil {
			jwks, err = in.jwks()
		}
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		c, err := d.Clients.Update(r.Context(), r.PathValue("id"), oidc.ClientPatch{Name: in.Name, RedirectURIs: in.RedirectURIs,
			PostLogoutRedirectURIs: in.PostLogoutRedirectURIs, Scopes: in.Scopes, IDTokenAlg: in.IDTokenAlg,
			RequireConsent: in.RequireConsent, RequirePKCE: in.RequirePKCE,
			Audiences: in.Audiences, JWKS: jwks, JWKSURI: in.JWKSURI, Disabled: in.Disabled, Introspect: in.Introspect})
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"client": clientView(c)})
	})
}

// handleDeleteClient serves DELETE /clients/{id}: its tokens stop at once.
func handleDeleteClient(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.Clients.Remove(r.Context(), r.PathValue("id")); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// discovery is the OpenID Provider metadata (OpenID Connect Discovery 1.0,
// RFC 8414): exactly what this server implements.
func discovery(d Deps, ctx context.Context) map[string]any {
	iss := d.Issuer
	algs := []string{d.Keys.Algorithm()}
	if d.Keys.Algorithm() == "HS256" {
		algs = nil // never an ID token under the server's shared secret
	}
	for _, a := range oidc.IDTokenAlgorithms {
		if !contains(algs, a) {
			algs = append(algs, a)
		}
	}
	meta := map[string]any{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + "/authorize",
		"token_endpoint":                                 iss + "/oauth/token",
		"userinfo_endpoint":                              iss + "/userinfo",
		"jwks_uri":                                       iss + "/.well-known/jwks.json",
		"revocation_endpoint":                            iss + "/oauth/revoke",
		"introspection_endpoint":                         iss + "/oauth/introspect",
		"end_session_endpoint":                           iss + "/oauth/end-session",
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token", "client_credentials"},
		"code_challenge_methods_supported":               []string{"S256"},
		"authorization_response_iss_parameter_supported": true,
		"scopes_supported":                               oidc.SupportedScopes,
		"claims_supported":                               oidc.SupportedClaims,
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"revocation_endpoint_auth_methods_supported":     []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported":  []string{"client_secret_basic", "client_secret_post"},
		"id_token_signing_alg_values_supported":          algs,
		"subject_types_supported":                        []string{"public"},
		"prompt_values_supported":                        []string{"none", "login", "consent"},
		"claims_parameter_supported":                     false,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
	}
	meta["token_endpoint_auth_signing_alg_values_supported"] = oidc.AssertionAlgorithms // private_key_jwt
	return meta
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
