package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
)

// AuthorizationPages are the OpenID provider's pages (authorization and
// consent, RP-initiated logout) and the connected apps page: thin adapters
// over oidc.Service.
type AuthorizationPages struct{ *Site }

// browserOf is the signed-in browser session of an authorization or
// end-session request (nil when there is none). checkCSRF as in pageClaims.
func (site *AuthorizationPages) browserOf(w http.ResponseWriter, r *http.Request, checkCSRF bool) (*oidc.Browser, string, error) {
	claims, csrf, err := site.pageClaims(w, r, checkCSRF)
	if errors.Is(err, errFormExpired) {
		return nil, "", err
	}
	if err != nil {
		return nil, csrf, nil
	}
	sess, err := site.Sessions.BrowserSession(r.Context(), claims.SessionID, claims.Subject)
	if err != nil {
		return nil, csrf, nil
	}
	return &oidc.Browser{UserID: claims.Subject, SessionID: claims.SessionID, AuthTime: sess.AuthTime}, csrf, nil
}

var scopeWords = map[string]string{
	oidc.ScopeOpenID:        "Know who you are (your Gatehouse user id)",
	oidc.ScopeProfile:       "See your name and username",
	oidc.ScopeEmail:         "See your email address",
	oidc.ScopeOfflineAccess: "Stay signed in when you are away (a refresh token)",
	oidc.ScopeOrganization:  "See the organization you act in, and your role and permissions there",
}

// Authorize serves GET and POST /authorize. A POST carrying the consent
// page's answer (consent=allow|deny) is a form of this site and passes the
// CSRF checks; any other POST is an authorization request sent as a form
// (OpenID Connect Core 3.1.2.1) and is read like a GET.
func (site *AuthorizationPages) Authorize(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	var decision *bool
	if r.Method == http.MethodPost {
		if err := httpjson.ParseForm(r); err != nil {
			site.renderError(w, r, err)
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
		if err := site.checkFormPost(r); err != nil {
			site.renderError(w, r, errFormExpired)
			return
		}
	}
	browser, csrf, err := site.browserOf(w, r, checkCSRF)
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	if decision != nil && browser == nil { // the session ended on the consent page
		decision = nil
	}
	out := site.OIDC.Authorize(r.Context(), oidc.AuthorizeParams(params), browser, decision)
	switch out.Kind {
	case oidc.ErrorPage:
		site.renderError(w, r, out.Err)
	case oidc.Redirect, oidc.Login:
		http.Redirect(w, r, out.URL, http.StatusFound)
	case oidc.Consent:
		if csrf == "" {
			csrf = ensureCSRFCookie(w, r)
		}
		data := Consent{ClientName: out.Consent.ClientName}
		for _, s := range out.Consent.Scopes {
			line := ScopeLine{Name: s, Description: scopeWords[s]}
			if s == oidc.ScopeOrganization {
				line.Description = "See that you act in no organization now (none is shared)"
				if out.Consent.OrgName != "" {
					line.Description = "See the organization you act in, " + out.Consent.OrgName + ", and your role and permissions there"
				}
			}
			data.Scopes = append(data.Scopes, line)
		}
		for k, vs := range out.Consent.Params {
			data.Params = append(data.Params, Param{Name: k, Value: vs[0]})
		}
		site.Pages.Render(w, http.StatusOK, "consent", Page{Title: "Allow " + out.Consent.ClientName + "?", CSRF: csrf,
			Data: data, FormTargets: []string{out.Origin}})
	}
}

var endSessionParams = []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"}

// EndSession serves GET and POST /oauth/end-session (RP-initiated logout).
// GET ends the browser session at once only for an id_token_hint of that
// very session; otherwise it asks, and the confirmation posts back here
// (with the CSRF checks).
func (site *AuthorizationPages) EndSession(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	confirmed := false
	if r.Method == http.MethodPost {
		if err := site.parsePost(r); err != nil {
			site.renderError(w, r, errFormExpired)
			return
		}
		params, confirmed = r.PostForm, true
	}
	browser, csrf, err := site.browserOf(w, r, r.Method == http.MethodPost)
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	out, err := site.OIDC.EndSession(r.Context(), oidc.EndSessionRequest{IDTokenHint: params.Get("id_token_hint"),
		ClientID: params.Get("client_id"), PostLogoutRedirectURI: params.Get("post_logout_redirect_uri"),
		State: params.Get("state"), Confirmed: confirmed}, browser)
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	if out.Confirm {
		if csrf == "" {
			csrf = ensureCSRFCookie(w, r)
		}
		var data EndSession
		for _, k := range endSessionParams {
			if v := params.Get(k); v != "" {
				data.Params = append(data.Params, Param{Name: k, Value: v})
			}
		}
		site.Pages.Render(w, http.StatusOK, "end_session", Page{Title: "Log out?", CSRF: csrf, Data: data,
			FormTargets: originOf(params.Get("post_logout_redirect_uri"))})
		return
	}
	if out.Ended {
		ClearSessionCookies(w)
	}
	if out.Redirect != "" {
		http.Redirect(w, r, out.Redirect, http.StatusFound)
		return
	}
	site.Pages.Render(w, http.StatusOK, "logged_out", Page{Title: "Logged out"})
}

func originOf(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host}
}

// AppsPage serves GET /apps: the connected apps page.
func (site *AuthorizationPages) AppsPage(w http.ResponseWriter, r *http.Request, s *Session) {
	grants, err := site.OIDC.Grants(r.Context(), s.Claims.Subject)
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	rows := make([]App, len(grants))
	for i, g := range grants {
		rows[i] = App{ClientID: g.ClientID, Name: g.ClientName, Scope: g.Scope, Granted: when(g.CreatedAt)}
	}
	p := s.page("Connected apps")
	if r.URL.Query().Get("done") == "1" {
		p.Notice = "The app is revoked; its sessions have ended."
	}
	p.Data = rows
	site.Pages.Render(w, http.StatusOK, "apps", p)
}

// RevokeAppForm serves POST /apps/{client_id}/revoke.
func (site *AuthorizationPages) RevokeAppForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := site.OIDC.RevokeGrant(r.Context(), s.Claims.Subject, r.PathValue("client_id")); err != nil {
		site.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/apps?done=1", http.StatusSeeOther)
}
