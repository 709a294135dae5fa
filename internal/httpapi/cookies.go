package httpapi

import (
	"crypto/rand"
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// The web UI's cookies. The __Host- prefix makes browsers insist on Secure,
// Path=/ and no Domain, so no subdomain can set or read them.
const (
	accessCookie  = "__Host-access"
	refreshCookie = "__Host-refresh"
	csrfCookie    = "__Host-csrf"
)

func cookie(name, value string, maxAge time.Duration, httpOnly bool) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: httpOnly,
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge.Seconds())}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	return c
}

// setSessionCookies hands a browser its tokens and the CSRF token that goes
// with them: csrf when it has one (a refresh keeps the forms of open pages
// valid), a fresh one at login. It returns the CSRF token.
func setSessionCookies(w http.ResponseWriter, t *auth.Tokens, csrf string) string {
	if csrf == "" {
		csrf = rand.Text()
	}
	http.SetCookie(w, cookie(accessCookie, t.AccessToken, t.ExpiresIn, true))
	http.SetCookie(w, cookie(refreshCookie, t.RefreshToken, t.RefreshExpiresIn, true))
	http.SetCookie(w, cookie(csrfCookie, csrf, t.RefreshExpiresIn, false))
	return csrf
}

func clearSessionCookies(w http.ResponseWriter) {
	for _, name := range []string{accessCookie, refreshCookie, csrfCookie} {
		http.SetCookie(w, cookie(name, "", -1, name != csrfCookie))
	}
}

// ensureCSRFCookie returns the request's CSRF token, setting a new one when
// it has none, for the forms of the page being rendered.
func ensureCSRFCookie(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 16 {
		return c.Value
	}
	token := rand.Text()
	http.SetCookie(w, cookie(csrfCookie, token, 24*time.Hour, false))
	return token
}
