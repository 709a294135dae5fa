package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/web"
)

// The OpenID Connect provider's routes: thin adapters over oidc.Service.

// browserOf is the signed-in browser session of an authorization or
// end-session request (nil when there is none). checkCSRF as in pageClaims.
func browserOf(d Deps, w http.ResponseWriter, r *http.Request, checkCSRF bool) (*oidc.Browser, string, error) {
	claims, csrf, err := pageClaims(d, w, r, checkCSRF)
	if err == errFormExpired {
		return nil, "", err
	}
	if err != nil {
		return nil, csrf, nil
	}
	sess, err := d.Auth.BrowserSession(r.Context(), claims.SessionID, claims.Subject)
	if err != nil {
		return nil, csrf, nil
	}
	return &oidc.Browser{UserID: claims.Subject, SessionID: claims.SessionID, AuthTime: sess.AuthTime}, csrf, nil
}

// authorizeFormTargets is, for a login page on the way of an authorization
// request (next=/authorize?...), the origin of its valid redirect URI.
func authorizeFormTargets(d Deps, r *http.Request, next string) []string {
	path, query, ok := strings.Cut(next, "?")
	if d.OIDC == nil || !ok || path != "/authorize" {
		return nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil
	}
	if o := d.OIDC.RedirectOrigin(r.Context(), q); o != "" {
		return []string{o}
	}
	return nil
}

var scopeWords = map[string]string{
	oidc.ScopeOpenID:        "Know who you are (your Gatehouse user id)",
	oidc.ScopeProfile:       "See your name and username",
	oidc.ScopeEmail:         "See your email address",
	oidc.ScopeOfflineAccess: "Stay signed in when you are away (a refresh token)",
}

// handleAuthorize serves GET and POST /authorize. A POST carrying the
// consent page's answer (consent=allow|deny) is a form of this site and
// passes the CSRF checks; any other POST is an authorization request sent
// as a form (OpenID Connect Core 3.1.2.1) and is read like a GET.
func handleAuthorize(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		params := r.URL.Query()
		var decision *bool
		if r.Method == http.MethodPost {
			if err := parseForm(r); err != nil {
				renderError(d, w, r, err)
				return
			}
			params = r.PostForm
			if v, ok := params["consent"]; ok {
				allow := len(v) == 1 && v[0] == "allow"
				decision = &allow
			}
		}
		checkCSRF := decision != nil
		if checkCSRF {
			if err := checkFormPost(d, r); err != nil {
				renderError(d, w, r, errFormExpired)
				return
			}
		}
		browser, csrf, err := browserOf(d, w, r, checkCSRF)
		if err != nil {
			renderError(d, w, r, err)
			return
		}
		if decision != nil && browser == nil { // the session ended on the consent page
			decision = nil
		}
		out := d.OIDC.Authorize(r.Context(), oidc.AuthorizeParams(params), browser, decision)
		switch out.Kind {
		case oidc.ErrorPage:
			renderError(d, w, r, out.Err)
		case oidc.Redirect, oidc.Login:
			http.Redirect(w, r, out.URL, http.StatusFound)
		case oidc.Consent:
			if csrf == "" {
				csrf = ensureCSRFCookie(w, r)
			}
			data := web.Consent{ClientName: out.Consent.ClientName}
			for _, s := range out.Consent.Scopes {
				data.Scopes = append(data.Scopes, web.ScopeLine{Name: s, Description: scopeWords[s]})
			}
			for k, vs := range out.Consent.Params {
				data.Params = append(data.Params, web.Param{Name: k, Value: vs[0]})
			}
			d.Pages.Render(w, http.StatusOK, "consent", web.Page{Title: "Allow " + out.Consent.ClientName + "?", CSRF: csrf,
				Data: data, FormTargets: []string{out.Origin}})
		}
	})
}

// oauthForm parses an OAuth endpoint's form body (RFC 6749 3.2: POST,
// application/x-www-form-urlencoded, no repeated parameter).
func oauthForm(r *http.Request) (url.Values, error) {
	if !httpjson.IsForm(r) {
		return nil, auth.Errorf(auth.CodeInvalidRequest, "The body must be application/x-www-form-urlencoded.")
	}
	if err := parseForm(r); err != nil {
		return nil, err
	}
	for k, vs := range r.PostForm {
		if len(vs) > 1 {
			return nil, auth.Errorf(auth.CodeInvalidRequest, "The %s parameter may be given once.", k)
		}
	}
	return r.PostForm, nil
}

// clientAuthOf reads a client's credentials: HTTP Basic (client_secret_basic,
// form-encoded id and secret, RFC 6749 2.3.1), client_id and client_secret in
// the body (client_secret_post), or client_id alone (none). Two methods at
// once are refused.
func clientAuthOf(r *http.Request, form url.Values) (oidc.ClientAuth, error) {
	id, secret, basic, err := parseBasicAuth(r.Header.Get("Authorization"))
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
			Scope: form.Get("scope"), Client: ca, Caller: client(d, r)})
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

var endSessionParams = []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"}

// handleRPLogout serves GET and POST /oauth/end-session (RP-initiated
// logout). GET ends the browser session at once only for an id_token_hint
// of that very session; otherwise it asks, and the confirmation posts back
// here (with the CSRF checks).
func handleRPLogout(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		params := r.URL.Query()
		confirmed := false
		if r.Method == http.MethodPost {
			err := parseForm(r)
			if err == nil {
				err = checkFormPost(d, r)
			}
			if err != nil {
				renderError(d, w, r, errFormExpired)
				return
			}
			params, confirmed = r.PostForm, true
		}
		browser, csrf, err := browserOf(d, w, r, r.Method == http.MethodPost)
		if err != nil {
			renderError(d, w, r, err)
			return
		}
		out, err := d.OIDC.EndSession(r.Context(), oidc.EndSessionRequest{IDTokenHint: params.Get("id_token_hint"),
			ClientID: params.Get("client_id"), PostLogoutRedirectURI: params.Get("post_logout_redirect_uri"),
			State: params.Get("state"), Confirmed: confirmed}, browser)
		if err != nil {
			renderError(d, w, r, err)
			return
		}
		if out.Confirm {
			if csrf == "" {
				csrf = ensureCSRFCookie(w, r)
			}
			var data web.EndSession
			for _, k := range endSessionParams {
				if v := params.Get(k); v != "" {
					data.Params = append(data.Params, web.Param{Name: k, Value: v})
				}
			}
			d.Pages.Render(w, http.StatusOK, "end_session", web.Page{Title: "Log out?", CSRF: csrf, Data: data,
				FormTargets: originOf(params.Get("post_logout_redirect_uri"))})
			return
		}
		if out.Ended {
			clearSessionCookies(w)
		}
		if out.Redirect != "" {
			http.Redirect(w, r, out.Redirect, http.StatusFound)
			return
		}
		d.Pages.Render(w, http.StatusOK, "logged_out", web.Page{Title: "Logged out"})
	})
}

func originOf(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host}
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

// handleAppsPage serves GET /apps: the connected apps page.
func handleAppsPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Connected apps")
		if !ok {
			return
		}
		grants, err := d.OIDC.Grants(r.Context(), s.claims.Subject)
		if err != nil {
			renderError(d, w, r, err)
			return
		}
		rows := make([]web.App, len(grants))
		for i, g := range grants {
			rows[i] = web.App{ClientID: g.ClientID, Name: g.ClientName, Scope: g.Scope, Granted: when(g.CreatedAt)}
		}
		if r.URL.Query().Get("done") == "1" {
			s.page.Notice = "The app is revoked; its sessions have ended."
		}
		s.page.Data = rows
		d.Pages.Render(w, http.StatusOK, "apps", s.page)
	})
}

// handleRevokeAppForm serves POST /apps/{client_id}/revoke.
func handleRevokeAppForm(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Connected apps")
		if !ok {
			return
		}
		if err := d.OIDC.RevokeGrant(r.Context(), s.claims.Subject, r.PathValue("client_id")); err != nil {
			renderError(d, w, r, err)
			return
		}
		http.Redirect(w, r, "/apps?done=1", http.StatusSeeOther)
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
	CreatedAt              time.Time `json:"created_at"`
}

func clientView(c oidc.Client) clientJSON {
	return clientJSON{ID: c.ID, Name: c.Name, RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		Public: c.Public, Scopes: nonNil(c.Scopes), IDTokenAlg: c.IDTokenAlg, RequireConsent: c.RequireConsent,
		RequirePKCE: c.RequirePKCE, CreatedAt: c.CreatedAt}
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
		list, err := d.OIDC.Clients(r.Context())
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
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		c, secret, err := d.OIDC.AddClient(r.Context(), oidc.ClientInput{Name: deref(in.Name), RedirectURIs: deref(in.RedirectURIs),
			PostLogoutRedirectURIs: deref(in.PostLogoutRedirectURIs), Public: in.Public, Scopes: deref(in.Scopes),
			IDTokenAlg: deref(in.IDTokenAlg), RequireConsent: in.RequireConsent, RequirePKCE: in.RequirePKCE})
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
		c, err := d.OIDC.Client(r.Context(), r.PathValue("id"))
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
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		c, err := d.OIDC.UpdateClient(r.Context(), r.PathValue("id"), oidc.ClientPatch{Name: in.Name, RedirectURIs: in.RedirectURIs,
			PostLogoutRedirectURIs: in.PostLogoutRedirectURIs, Scopes: in.Scopes, IDTokenAlg: in.IDTokenAlg,
			RequireConsent: in.RequireConsent, RequirePKCE: in.RequirePKCE})
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
		if err := d.OIDC.RemoveClient(r.Context(), r.PathValue("id")); err != nil {
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
	return map[string]any{
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
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":               []string{"S256"},
		"authorization_response_iss_parameter_supported": true,
		"scopes_supported":                               oidc.SupportedScopes,
		"claims_supported":                               oidc.SupportedClaims,
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":     []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported":  []string{"client_secret_basic", "client_secret_post"},
		"id_token_signing_alg_values_supported":          algs,
		"subject_types_supported":                        []string{"public"},
		"prompt_values_supported":                        []string{"none", "login", "consent"},
		"claims_parameter_supported":                     false,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
