package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/upstream"
)

// SignInPages are the pages that sign a browser in: login and sign-up, the
// second login step (a code or a passkey), a login with a passkey, and a
// sign-in through an upstream provider (its button and callback). The
// rules are auth.Sessions', auth.Passkeys' and upstream.Service's, as for
// the JSON API.
type SignInPages struct {
	*Site
	// security answers a provider's callback that ends a
	// re-authentication: it goes back to the security page.
	security *SecurityPages
}

// LoginPage serves GET / and GET /login.
func (site *SignInPages) LoginPage(w http.ResponseWriter, r *http.Request) {
	page := Page{Title: "Log in", CSRF: ensureCSRFCookie(w, r), Next: safeNext(r.URL.Query().Get("next"))}
	if hint := r.URL.Query().Get("login_hint"); hint != "" && len(hint) <= 254 { // OpenID Connect's login_hint
		page.Form = map[string]string{"identifier": hint}
	}
	// Logging in on the way of an authorization request ends at the
	// application's redirect URI: the form may go there.
	page.FormTargets = site.authorizeFormTargets(r, page.Next)
	page.Providers = site.providerButtons(r.Context())
	switch {
	case r.URL.Query().Get("registered") == "1":
		page.Notice = "Your account is ready. Log in to continue."
	case r.URL.Query().Get("reset") == "1":
		page.Notice = "Your password is set, and every session has ended. Log in with the new password."
	}
	site.Pages.Render(w, http.StatusOK, "login", page)
}

// HomePage serves GET /: the dashboard for a signed-in browser (its
// session refreshed silently if need be), the login page otherwise.
func (site *SignInPages) HomePage(w http.ResponseWriter, r *http.Request) {
	if _, _, err := site.pageClaims(w, r, false); err == nil {
		http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
		return
	}
	site.LoginPage(w, r)
}

// SignupPage serves GET /signup.
func (site *SignInPages) SignupPage(w http.ResponseWriter, r *http.Request) {
	// ?email= fills the address in (an invitation's page links here with the invited one).
	site.Pages.Render(w, http.StatusOK, "signup", Page{Title: "Sign up", CSRF: ensureCSRFCookie(w, r),
		Form: map[string]string{"email": r.URL.Query().Get("email")}, Providers: site.providerButtons(r.Context())})
}

// SignupForm serves the sign-up page's POST /signup (and /register): 303
// to /login?registered=1, or the page with the error.
func (site *SignInPages) SignupForm(w http.ResponseWriter, r *http.Request) {
	err := site.parsePost(r)
	in := auth.RegisterInput{Email: r.PostFormValue("email"), Username: r.PostFormValue("username"),
		Name: r.PostFormValue("name"), Password: r.PostFormValue("password")}
	if err == nil {
		_, err = site.Accounts.Register(r.Context(), in)
	}
	if err != nil {
		site.renderFormError(w, r, "signup", err, map[string]string{"email": in.Email, "username": in.Username, "name": in.Name})
		return
	}
	http.Redirect(w, r, "/login?registered=1", http.StatusSeeOther)
}

// LoginForm serves the login page's POST /login (and /set-jwt): the cookies
// and 303 to /dashboard (or the validated next path); a user with a second
// factor goes to the second login page.
func (site *SignInPages) LoginForm(w http.ResponseWriter, r *http.Request) {
	err := site.parsePost(r)
	identifier := firstOf(r.PostFormValue("identifier"), r.PostFormValue("email"), r.PostFormValue("username"))
	var tokens *auth.Tokens
	if err == nil {
		tokens, err = site.Sessions.Login(r.Context(), auth.LoginInput{Identifier: identifier, Password: r.PostFormValue("password"), Client: site.Client(r)})
	}
	var mr *auth.MFARequired
	if errors.As(err, &mr) {
		toSecondStep(w, r, mr)
		return
	}
	if err != nil {
		site.renderFormError(w, r, "login", err, map[string]string{"identifier": identifier})
		return
	}
	SetSessionCookies(w, tokens, "") // a new login gets a new CSRF token
	site.linkPending(w, r, tokens)
	toNext(w, r)
}

// firstOf is the first of values that is not empty.
func firstOf(values ...string) string {
	for _, s := range values {
		if s != "" {
			return s
		}
	}
	return ""
}

// renderFormError shows the login or sign-up page again with the error
// beside the form, under the error's own status.
func (site *SignInPages) renderFormError(w http.ResponseWriter, r *http.Request, page string, err error, form map[string]string) {
	p := Page{Title: map[string]string{"login": "Log in", "signup": "Sign up"}[page], CSRF: ensureCSRFCookie(w, r),
		Next: safeNext(r.PostFormValue("next")), Form: form, Providers: site.providerButtons(r.Context())}
	// Sign-up errors go beside their field; login's one answer stays on top,
	// so it says nothing about which part was wrong.
	if auth.ErrorCode(err) == auth.CodeEmailNotVerified {
		form["resend"] = "1" // the page offers to send the link again (recovery)
	}
	var byField map[string]string
	if page == "signup" {
		taken := "email"
		if form["email"] == "" {
			taken = "username"
		}
		byField = map[string]string{auth.CodeWeakPassword: "password", auth.CodeAlreadyExists: taken}
	}
	site.Pages.Render(w, site.formError(w, r, &p, err, byField), page, p)
}

// toSecondStep answers a page login whose password was right and that needs
// a second factor: the mfa_token goes in an HttpOnly cookie, the browser to
// the second login page.
func toSecondStep(w http.ResponseWriter, r *http.Request, mr *auth.MFARequired) {
	http.SetCookie(w, cookie(mfaCookie, mr.Token, auth.MFATokenTTL, true))
	target := "/login/mfa"
	if next := safeNext(r.PostFormValue("next")); next != "" {
		target += "?next=" + url.QueryEscape(next)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// LoginMFAPage serves GET /login/mfa: the second login step's form, or back
// to the login page when no first step is under way.
func (site *SignInPages) LoginMFAPage(w http.ResponseWriter, r *http.Request) {
	if mfaToken(r) == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	site.Pages.Render(w, http.StatusOK, "login_mfa", site.secondStepPage(w, r, safeNext(r.URL.Query().Get("next"))))
}

// secondStepPage is the second login page: the methods of the sign-in in
// its cookie (a passkey only when the user has one).
func (site *SignInPages) secondStepPage(w http.ResponseWriter, r *http.Request, next string) Page {
	data := SecondStep{TOTP: true} // an ended sign-in: the forms answer why
	if methods := site.Passkeys.MFAChallengeMethods(r.Context(), mfaToken(r)); methods != nil {
		data = SecondStep{TOTP: slices.Contains(methods, auth.MethodTOTP), Passkey: slices.Contains(methods, auth.MethodPasskey)}
	}
	return Page{Title: "Two-step sign-in", CSRF: ensureCSRFCookie(w, r), Next: next, Data: data}
}

// LoginMFAForm serves the second login page's POST /login/mfa.
func (site *SignInPages) LoginMFAForm(w http.ResponseWriter, r *http.Request) {
	err := site.parsePost(r)
	var tokens *auth.Tokens
	if err == nil {
		tokens, err = site.Sessions.LoginMFA(r.Context(), auth.MFALoginInput{Token: mfaToken(r), Code: r.PostFormValue("code"),
			RecoveryCode: r.PostFormValue("recovery_code"), Client: site.Client(r)})
	}
	if err != nil {
		p := site.secondStepPage(w, r, safeNext(r.PostFormValue("next")))
		status := site.formError(w, r, &p, err, nil)
		site.Pages.Render(w, status, "login_mfa", p)
		return
	}
	http.SetCookie(w, cookie(mfaCookie, "", -1, true))
	SetSessionCookies(w, tokens, "")
	site.linkPending(w, r, tokens)
	toNext(w, r)
}

// PasskeyLoginForm serves the login page's POST /login/passkey/finish: the
// passkey script put the credential in the form.
func (site *SignInPages) PasskeyLoginForm(w http.ResponseWriter, r *http.Request) {
	err := site.parsePost(r)
	var cred []byte
	if err == nil {
		cred, err = httpjson.Credential(json.RawMessage(r.PostFormValue("credential")))
	}
	var tokens *auth.Tokens
	if err == nil {
		tokens, err = site.Passkeys.LoginPasskey(r.Context(), cred, site.Client(r))
	}
	if err != nil {
		p := Page{Title: "Log in", CSRF: ensureCSRFCookie(w, r), Next: safeNext(r.PostFormValue("next")), Form: map[string]string{}}
		site.Pages.Render(w, site.formError(w, r, &p, err, nil), "login", p)
		return
	}
	SetSessionCookies(w, tokens, "")
	site.linkPending(w, r, tokens)
	toNext(w, r)
}

// PasskeyMFABegin serves the second login page script's POST
// /login/mfa/passkey/begin: the ceremony's options (JSON) for the sign-in
// in the cookie.
func (site *SignInPages) PasskeyMFABegin(w http.ResponseWriter, r *http.Request) {
	err := site.parsePost(r)
	var opts json.RawMessage
	if err == nil {
		opts, err = site.Passkeys.BeginPasskeyMFA(r.Context(), mfaToken(r), site.Client(r))
	}
	if err != nil {
		httpjson.Error(w, r, site.Log, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, http.StatusOK, opts)
}

// PasskeyMFAForm serves the second login page's POST
// /login/mfa/passkey/finish: the script put the credential in the form.
func (site *SignInPages) PasskeyMFAForm(w http.ResponseWriter, r *http.Request) {
	err := site.parsePost(r)
	var cred []byte
	if err == nil {
		cred, err = httpjson.Credential(json.RawMessage(r.PostFormValue("credential")))
	}
	var tokens *auth.Tokens
	if err == nil {
		tokens, err = site.Passkeys.LoginMFAPasskey(r.Context(), mfaToken(r), cred, site.Client(r))
	}
	if err != nil {
		p := site.secondStepPage(w, r, safeNext(r.PostFormValue("next")))
		p.Form = map[string]string{}
		site.Pages.Render(w, site.formError(w, r, &p, err, nil), "login_mfa", p)
		return
	}
	http.SetCookie(w, cookie(mfaCookie, "", -1, true))
	SetSessionCookies(w, tokens, "")
	site.linkPending(w, r, tokens)
	toNext(w, r)
}

// UpstreamLogin serves GET /login/{provider}?next=PATH: the browser goes to
// the provider with this login's state in its flow cookie.
func (site *SignInPages) UpstreamLogin(w http.ResponseWriter, r *http.Request) {
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
func (site *SignInPages) UpstreamCallback(w http.ResponseWriter, r *http.Request) {
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
		site.security.reauthCallback(w, r, res, err)
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

// loginPage is the login page's content, its provider buttons included.
func (site *SignInPages) loginPage(w http.ResponseWriter, r *http.Request, next string) Page {
	return Page{Title: "Log in", CSRF: ensureCSRFCookie(w, r), Next: next, Form: map[string]string{},
		Providers: site.providerButtons(r.Context()), FormTargets: site.authorizeFormTargets(r, next)}
}

// upstreamFailed ends a login through a provider on the login page, with
// the service's one sentence, under the error's status.
func (site *SignInPages) upstreamFailed(w http.ResponseWriter, r *http.Request, err error, next string) {
	p := site.loginPage(w, r, next)
	status, _, message := httpjson.Prepare(w, r, site.Log, err)
	p.Error = message
	site.Pages.Render(w, status, "login", p)
}

// linkPending links the identity waiting in the browser's pending-link
// cookie, now that tokens' user signed in; the cookie goes either way.
func (site *SignInPages) linkPending(w http.ResponseWriter, r *http.Request, tokens *auth.Tokens) {
	c, err := r.Cookie(pendingCookie)
	if err != nil || site.Upstream == nil || tokens == nil {
		return
	}
	http.SetCookie(w, cookie(pendingCookie, "", -1, true))
	site.Upstream.CompletePendingLink(r.Context(), c.Value, tokens.User.ID, site.Client(r))
}

// authorizeFormTargets is, for a login page on the way of an authorization
// request (next=/authorize?...), the origin of its valid redirect URI.
func (site *SignInPages) authorizeFormTargets(r *http.Request, next string) []string {
	path, query, ok := strings.Cut(next, "?")
	if site.OIDC == nil || !ok || path != "/authorize" {
		return nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil
	}
	if o := site.OIDC.RedirectOrigin(r.Context(), q); o != "" {
		return []string{o}
	}
	return nil
}
