package web

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/upstream"
)

// The browser session: its cookies and the CSRF checks of forms. The pages
// own it; the JSON API's cookie mode (refresh, logout, the web UI's
// fetches) uses it through these exports.

// The web UI's cookies. The __Host- prefix makes browsers insist on Secure,
// Path=/ and no Domain, so no subdomain can set or read them.
const (
	AccessCookie  = "__Host-access"
	RefreshCookie = "__Host-refresh"
	CSRFCookie    = "__Host-csrf"
	// mfaCookie carries a page login's mfa_token from its first step to its
	// second: HttpOnly, for the token's lifetime.
	mfaCookie = "__Host-mfa"
)

func cookie(name, value string, maxAge time.Duration, httpOnly bool) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: httpOnly,
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge.Seconds())}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	return c
}

// SetSessionCookies hands a browser its tokens and the CSRF token that goes
// with them: csrf when it has one (a refresh keeps the forms of open pages
// valid), a fresh one at login. It returns the CSRF token.
func SetSessionCookies(w http.ResponseWriter, t *auth.Tokens, csrf string) string {
	if csrf == "" {
		csrf = rand.Text()
	}
	http.SetCookie(w, cookie(AccessCookie, t.AccessToken, t.ExpiresIn, true))
	http.SetCookie(w, cookie(RefreshCookie, t.RefreshToken, t.RefreshExpiresIn, true))
	http.SetCookie(w, cookie(CSRFCookie, csrf, t.RefreshExpiresIn, false))
	return csrf
}

// ClearSessionCookies ends the browser's session cookies.
func ClearSessionCookies(w http.ResponseWriter) {
	for _, name := range []string{AccessCookie, RefreshCookie, CSRFCookie} {
		http.SetCookie(w, cookie(name, "", -1, name != CSRFCookie))
	}
}

// ensureCSRFCookie returns the request's CSRF token, setting a new one when
// it has none, for the forms of the page being rendered.
func ensureCSRFCookie(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(CSRFCookie); err == nil && len(c.Value) >= 16 {
		return c.Value
	}
	token := rand.Text()
	http.SetCookie(w, cookie(CSRFCookie, token, 24*time.Hour, false))
	return token
}

// mfaToken is the second login step's mfa_token, from its HttpOnly cookie.
func mfaToken(r *http.Request) string {
	if c, err := r.Cookie(mfaCookie); err == nil {
		return c.Value
	}
	return ""
}

// crossOrigin refuses browser requests from other origins (Sec-Fetch-Site,
// Origin); requests without those headers are not from a browser form. It is
// guard's one instance, the one its CSRF check applies.
var crossOrigin = guard.CrossOriginProtection()

var errCrossOrigin = auth.Errorf(auth.CodeCSRFFailed, "Cross-origin form posts are refused.")

// checkFormPost guards a form post that is not cookie-authenticated (login,
// sign-up): same origin always, and the double-submit token when the page
// set a CSRF cookie.
func (site *Site) checkFormPost(r *http.Request) error {
	if crossOrigin.Check(r) != nil {
		return errCrossOrigin
	}
	if c, err := r.Cookie(CSRFCookie); err == nil && c.Value != "" {
		if err := site.Guard.CheckCSRF(r); err != nil {
			return auth.Errorf(auth.CodeCSRFFailed, "The form has expired; reload the page and try again.")
		}
	}
	return nil
}

// parsePost reads a form that is not cookie-authenticated and checks it
// (checkFormPost).
func (site *Site) parsePost(r *http.Request) error {
	if err := httpjson.ParseForm(r); err != nil {
		return err
	}
	return site.checkFormPost(r)
}

// safeNext returns next if it is a same-site relative path ("/books?x=1"),
// else "". Scheme-relative ("//evil"), backslash tricks and absolute URLs
// are refused.
func safeNext(next string) string {
	if next == "" || len(next) > 1024 || next[0] != '/' || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\x00\r\n\t") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return next
}

// The cookies of a sign-in through an upstream provider: the sign-in pages
// set them, and the security page's link and re-authentication forms.
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
