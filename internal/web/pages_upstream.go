package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/upstream"
)

// Sign in through an upstream provider: the button, the callback, linking
// from the security page, and the administrators' providers page. The
// rules are upstream.Service's.

const (
	// flowCookie carries a login through a provider from the button to
	// the callback (sealed: state, nonce, PKCE verifier, next).
	flowCookie = "__Host-upstream"
	// pendingCookie carries an identity waiting for its account to sign
	// in (sealed), after the callback found that account by its email.
	pendingCookie = "__Host-upstream-link"
)

// SetFlowCookie keeps a login's flow (upstream.Service.Begin) in the
// browser until the provider's callback: for a link the JSON API started.
func SetFlowCookie(w http.ResponseWriter, flow string) {
	http.SetCookie(w, cookie(flowCookie, flow, upstream.FlowTTL, true))
}

// providerButtons lists the login page's provider buttons.
func (site *Site) providerButtons(ctx context.Context) []ProviderButton {
	if site.Upstream == nil {
		return nil
	}
	var out []ProviderButton
	for _, b := range site.Upstream.Buttons(ctx) {
		out = append(out, ProviderButton{ID: b.ID, Name: b.Name})
	}
	return out
}

// UpstreamLogin serves GET /login/{provider}?next=PATH: the browser goes to
// the provider with this login's state in its flow cookie.
func (site *Site) UpstreamLogin(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("provider")
	raw := r.URL.Query().Get("next")
	next := safeNext(raw)
	if raw != "" && next == "" {
		site.upstreamFailed(w, r, site.Upstream.Refuse(r.Context(), id, site.Client(r)), "")
		return
	}
	target, cookieValue, err := site.Upstream.Begin(r.Context(), upstream.BeginInput{ProviderID: id, Next: next, Client: site.Client(r)})
	if err != nil {
		site.upstreamFailed(w, r, err, next)
		return
	}
	http.SetCookie(w, cookie(flowCookie, cookieValue, upstream.FlowTTL, true))
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// UpstreamCallback serves GET /login/{provider}/callback: the provider's
// answer. The flow cookie goes once the callback spent it (a callback
// works once), and stays when the service kept the flow: a forged
// callback does not cancel the login in progress.
func (site *Site) UpstreamCallback(w http.ResponseWriter, r *http.Request) {
	flow := ""
	if c, err := r.Cookie(flowCookie); err == nil {
		flow = c.Value
	}
	signedIn := func() (userID, sessionID string) {
		if claims, _, err := site.pageClaims(w, r, false); err == nil {
			return claims.Subject, claims.SessionID
		}
		return "", ""
	}
	res, err := site.Upstream.Finish(r.Context(), upstream.FinishInput{ProviderID: r.PathValue("provider"), Query: r.URL.Query(),
		Cookie: flow, SignedIn: signedIn, Client: site.Client(r)})
	if flow != "" && (res == nil || !res.FlowKept) {
		http.SetCookie(w, cookie(flowCookie, "", -1, true))
	}
	next := ""
	if res != nil {
		next = res.Next
	}
	switch {
	case res != nil && res.Reauth:
		site.reauthCallback(w, r, res, err)
	case errors.Is(err, upstream.ErrLinkPending):
		http.SetCookie(w, cookie(pendingCookie, res.PendingLink, upstream.PendingLinkTTL, true))
		p := site.loginPage(w, r, next)
		p.Notice = auth.ErrorMessage(err)
		site.Pages.Render(w, http.StatusOK, "login", p)
	case err != nil:
		site.upstreamFailed(w, r, err, next)
	case res.Linked:
		http.Redirect(w, r, "/security?done=linked", http.StatusSeeOther)
	case res.MFA != nil:
		http.SetCookie(w, cookie(mfaCookie, res.MFA.Token, auth.MFATokenTTL, true))
		target := "/login/mfa"
		if next != "" {
			target += "?next=" + url.QueryEscape(next)
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	default:
		SetSessionCookies(w, res.Tokens, "")
		if next == "" {
			next = "/dashboard"
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

// reauthCallback ends a re-authentication through a provider: done, the
// session's new cookies and the page to go back to; refused, the security
// page asks again, with the service's sentence.
func (site *Site) reauthCallback(w http.ResponseWriter, r *http.Request, res *upstream.Result, err error) {
	if err == nil && res.Reauthenticated {
		csrf := ""
		if c, cerr := r.Cookie(CSRFCookie); cerr == nil {
			csrf = c.Value // the forms of the pages already open stay valid
		}
		SetSessionCookies(w, res.Tokens, csrf)
		http.Redirect(w, r, afterReauth(res.Next), http.StatusSeeOther)
		return
	}
	if s, ok := site.session(w, r); ok {
		site.reauthAgain(w, r, s, res.Next, err)
	}
}

// ReauthProviderForm serves POST /security/reauthenticate/{provider}: the
// browser goes to the provider to sign in afresh, and comes back with this
// session's sign-in renewed (upstream.Service's rules: an OpenID provider
// where the account has an identity).
func (site *Site) ReauthProviderForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := httpjson.ParseForm(r); err != nil {
		site.renderError(w, r, err)
		return
	}
	target, cookieValue, err := site.Upstream.Begin(r.Context(), upstream.BeginInput{ProviderID: r.PathValue("provider"),
		Next: safeNext(r.PostFormValue("next")), ReauthUserID: s.Claims.Subject, ReauthSessionID: s.Claims.SessionID, Client: site.Client(r)})
	if err != nil {
		site.reauthAgain(w, r, s, r.PostFormValue("next"), err)
		return
	}
	http.SetCookie(w, cookie(flowCookie, cookieValue, upstream.FlowTTL, true))
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// loginPage is the login page's content, its provider buttons included.
func (site *Site) loginPage(w http.ResponseWriter, r *http.Request, next string) Page {
	return Page{Title: "Log in", CSRF: ensureCSRFCookie(w, r), Next: next, Form: map[string]string{},
		Providers: site.providerButtons(r.Context()), FormTargets: site.authorizeFormTargets(r, next)}
}

// upstreamFailed ends a login through a provider on the login page, with
// the service's one sentence, under the error's status.
func (site *Site) upstreamFailed(w http.ResponseWriter, r *http.Request, err error, next string) {
	p := site.loginPage(w, r, next)
	status, _, message := httpjson.Prepare(w, r, site.Log, err)
	p.Error = message
	site.Pages.Render(w, status, "login", p)
}

// linkPending links the identity waiting in the browser's pending-link
// cookie, now that tokens' user signed in; the cookie goes either way.
func (site *Site) linkPending(w http.ResponseWriter, r *http.Request, tokens *auth.Tokens) {
	c, err := r.Cookie(pendingCookie)
	if err != nil || site.Upstream == nil || tokens == nil {
		return
	}
	http.SetCookie(w, cookie(pendingCookie, "", -1, true))
	site.Upstream.CompletePendingLink(r.Context(), c.Value, tokens.User.ID, site.Client(r))
}

// LinkIdentityForm serves POST /security/identities/{provider}/link: the
// browser goes to the provider, and comes back with the identity linked to
// this account (a recent sign-in required).
func (site *Site) LinkIdentityForm(w http.ResponseWriter, r *http.Request, s *Session) {
	target, cookieValue, err := site.Upstream.Begin(r.Context(), upstream.BeginInput{ProviderID: r.PathValue("provider"),
		LinkUserID: s.Claims.Subject, LinkSessionID: s.Claims.SessionID, Client: site.Client(r)})
	if err != nil {
		site.securityForm(w, r, s, "", func(context.Context) ([]string, error) { return nil, err })
		return
	}
	http.SetCookie(w, cookie(flowCookie, cookieValue, upstream.FlowTTL, true))
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// UnlinkIdentityForm serves POST /security/identities/{id}/remove.
func (site *Site) UnlinkIdentityForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "unlinked", func(ctx context.Context) ([]string, error) {
		return nil, site.Upstream.Unlink(ctx, s.Claims.Subject, r.PathValue("id"))
	})
}

// identityRows fills the security page's identities and the providers left
// to link.
func (site *Site) identityRows(ctx context.Context, userID string, sec *Security) error {
	if site.Upstream == nil {
		return nil
	}
	ids, err := site.Upstream.Identities(ctx, userID)
	if err != nil {
		return err
	}
	linked := map[string]bool{}
	for _, i := range ids {
		name := i.ProviderName
		if name == "" {
			name = i.Provider
		}
		sec.Identities = append(sec.Identities, IdentityRow{ID: i.ID, Provider: name, Email: i.Email, Created: when(i.CreatedAt)})
		linked[i.Provider] = true
	}
	for _, b := range site.providerButtons(ctx) {
		if !linked[b.ID] {
			sec.Linkable = append(sec.Linkable, b)
		}
	}
	return nil
}

// AdminProviders is the providers page's content.
type AdminProviders struct {
	Providers []AdminProvider
	Callback  string // the redirect URI pattern to register at a provider
}

// AdminProvider is a row of the providers page.
type AdminProvider struct {
	ID, Kind, Name, Issuer, ClientID, Scopes, Callback string
	TrustEmail, KeepTokens                             bool
}

// AdminProvidersPage serves GET /admin/providers.
func (site *Site) AdminProvidersPage(w http.ResponseWriter, r *http.Request, s *Session) {
	site.renderProviders(w, r, s, http.StatusOK, nil, nil)
}

func (site *Site) renderProviders(w http.ResponseWriter, r *http.Request, s *Session, status int, formErr error, form map[string]string) {
	p := s.page("Sign-in providers")
	list, err := site.Upstream.Providers(r.Context())
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	data := AdminProviders{Callback: site.Upstream.CallbackURL("{id}")}
	for _, pr := range list {
		data.Providers = append(data.Providers, AdminProvider{ID: pr.ID, Kind: pr.Kind, Name: pr.Name, Issuer: firstOf(pr.Issuer, pr.APIURL),
			ClientID: pr.ClientID, Scopes: strings.Join(pr.Scopes, " "), Callback: site.Upstream.CallbackURL(pr.ID),
			TrustEmail: pr.TrustEmail, KeepTokens: pr.KeepTokens})
	}
	p.Data, p.Form = data, form
	if formErr != nil {
		status = site.formError(w, r, &p, formErr, nil)
	}
	site.Pages.Render(w, status, "admin_providers", p)
}

// AdminProviderAddForm serves POST /admin/providers: a provider to add.
func (site *Site) AdminProviderAddForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := httpjson.ParseForm(r); err != nil {
		site.renderError(w, r, err)
		return
	}
	str := func(k string) *string {
		v := r.PostFormValue(k)
		if v == "" {
			return nil
		}
		return &v
	}
	in := upstream.ProviderInput{ID: r.PostFormValue("id"), Kind: r.PostFormValue("kind"), Name: str("name"), Issuer: str("issuer"),
		ClientID: str("client_id"), ClientSecret: r.PostFormValue("client_secret")}
	if v := r.PostFormValue("scopes"); v != "" {
		scopes := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
		in.Scopes = &scopes
	}
	trust, keep := r.PostFormValue("trust_email") == "1", r.PostFormValue("keep_tokens") == "1"
	in.TrustEmail, in.KeepTokens = &trust, &keep
	if _, err := site.Upstream.AddProvider(r.Context(), in); err != nil {
		site.renderProviders(w, r, s, http.StatusOK, err, map[string]string{"id": in.ID, "kind": in.Kind,
			"name": r.PostFormValue("name"), "issuer": r.PostFormValue("issuer"), "client_id": r.PostFormValue("client_id")})
		return
	}
	http.Redirect(w, r, "/admin/providers", http.StatusSeeOther)
}

// AdminProviderRemoveForm serves POST /admin/providers/{id}/remove.
func (site *Site) AdminProviderRemoveForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := site.Upstream.RemoveProvider(r.Context(), r.PathValue("id")); err != nil {
		site.renderProviders(w, r, s, http.StatusOK, err, nil)
		return
	}
	http.Redirect(w, r, "/admin/providers", http.StatusSeeOther)
}
