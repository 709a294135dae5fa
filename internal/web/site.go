package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/books"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
	"github.com/gatehouse-auth/gatehouse/internal/upstream"
)

// Site is what every page shares: the services the pages adapt (the same
// as the JSON API's, with cookies and CSRF instead of bearer tokens), the
// browser session (SignedIn, Admin, the CSRF checks of forms), rendering
// and the error page. The pages themselves are grouped by concern
// (Groups), each group embedding the one Site. httpapi mounts them
// (routes.go); signed-in pages through SignedIn and Admin, which check the
// session before the handler runs.
type Site struct {
	Accounts *auth.Accounts
	Sessions *auth.Sessions
	Recovery *auth.Recovery
	Factors  *auth.Factors
	Passkeys *auth.Passkeys
	APIKeys  *auth.APIKeys
	Guard    *guard.Guard
	Books    *books.Service
	Orgs     *orgs.Service
	OIDC     *oidc.Service // nil: no authorization pages
	Upstream *upstream.Service
	Webhooks *events.Webhooks
	Clients  *oidc.Clients // the service clients' administration pages
	Pages    *Pages
	Log      *slog.Logger
	// Client is the caller as the audit log records it; httpapi supplies
	// it, as it knows the trusted proxies.
	Client func(*http.Request) auth.Client
}

// Groups are the site's pages by concern, each a type of at most about 20
// methods over the same Site (embedded: a handler reaches the services and
// the plumbing as site.Accounts, site.renderError). routes.go mounts every
// page through them, so it shows which group serves each.
type Groups struct {
	SignIn        *SignInPages
	Account       *AccountPages
	Security      *SecurityPages
	APIKeys       *APIKeyPages
	Recovery      *RecoveryPages
	Authorization *AuthorizationPages
	Books         *BookPages
	Organizations *OrganizationPages
	Admin         *AdminPages
}

// NewGroups makes the page groups of site.
func NewGroups(site *Site) *Groups {
	security := &SecurityPages{site}
	return &Groups{
		SignIn:        &SignInPages{Site: site, security: security},
		Account:       &AccountPages{site},
		Security:      security,
		APIKeys:       &APIKeyPages{site},
		Recovery:      &RecoveryPages{site},
		Authorization: &AuthorizationPages{site},
		Books:         &BookPages{site},
		Organizations: &OrganizationPages{site},
		Admin:         &AdminPages{site},
	}
}

// Session is a signed-in page request.
type Session struct {
	Claims *guard.Claims
	CSRF   string // the form token for the page being rendered
	User   *User
}

// page is a page of s's user, titled title.
func (s *Session) page(title string) Page {
	return Page{Title: title, CSRF: s.CSRF, User: s.User}
}

// SessionHandler serves a page that needs a signed-in user; only SignedIn
// and Admin call it, so it cannot be mounted without its check.
type SessionHandler func(w http.ResponseWriter, r *http.Request, s *Session)

// SignedIn authenticates a page request by its cookies before h runs.
// When the access cookie has expired (or the browser has dropped it) and the
// refresh cookie is valid, it refreshes silently, after the CSRF check on
// unsafe methods. Without a session the browser goes to the login page (to
// come back after it); a failed CSRF check gets the error page.
func (site *Site) SignedIn(h SessionHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := site.session(w, r); ok {
			h(w, r, s)
		}
	})
}

// Admin is SignedIn for administrators only: anyone else gets the error
// page (403).
func (site *Site) Admin(h SessionHandler) http.Handler {
	return site.SignedIn(func(w http.ResponseWriter, r *http.Request, s *Session) {
		if err := guard.CheckRole(s.Claims, auth.RoleAdmin); err != nil {
			site.renderError(w, r, err)
			return
		}
		h(w, r, s)
	})
}

func (site *Site) session(w http.ResponseWriter, r *http.Request) (*Session, bool) {
	claims, csrf, err := site.pageClaims(w, r, true)
	if errors.Is(err, errFormExpired) {
		site.renderError(w, r, errFormExpired)
		return nil, false
	}
	if err != nil {
		toLogin(w, r)
		return nil, false
	}
	u, err := site.Accounts.User(r.Context(), claims.Subject)
	if err != nil {
		toLogin(w, r)
		return nil, false
	}
	if csrf == "" {
		csrf = ensureCSRFCookie(w, r)
	}
	return &Session{Claims: claims, CSRF: csrf,
		User: &User{ID: u.ID, Email: u.Email, Username: u.Username, Name: u.Name, Role: u.Role, EmailVerified: u.EmailVerified}}, true
}

var errNoPageSession = errors.New("no signed-in session")

// pageClaims finds the browser's session by its cookies, refreshing
// silently when only the refresh cookie is still good (new cookies are set
// on w). With checkCSRF, an unsafe method must pass the CSRF checks
// (errFormExpired); without, the cookies are only read, for a request that
// changes nothing of the session (an OpenID Connect authorization request
// posted by another site). It returns the claims and the CSRF token, or
// errNoPageSession.
func (site *Site) pageClaims(w http.ResponseWriter, r *http.Request, checkCSRF bool) (*guard.Claims, string, error) {
	var claims *guard.Claims
	var err error
	if checkCSRF {
		claims, err = site.Guard.Authenticate(r)
	} else if c, cerr := r.Cookie(AccessCookie); cerr == nil && c.Value != "" {
		claims, err = site.Guard.Verify(c.Value)
	} else {
		err = errNoPageSession
	}
	var ge *guard.Error
	if errors.As(err, &ge) && ge.Code == guard.CodeCSRFFailed {
		return nil, "", errFormExpired
	}
	csrf := ""
	if c, err := r.Cookie(CSRFCookie); err == nil {
		csrf = c.Value
	}
	if err != nil {
		refresh, cerr := r.Cookie(RefreshCookie)
		if cerr != nil || refresh.Value == "" {
			return nil, "", errNoPageSession
		}
		if checkCSRF && !guard.IsSafeMethod(r.Method) && site.Guard.CheckCSRF(r) != nil {
			return nil, "", errFormExpired
		}
		tokens, err := site.Sessions.Refresh(r.Context(), refresh.Value)
		if err != nil {
			ClearSessionCookies(w)
			return nil, "", errNoPageSession
		}
		csrf = SetSessionCookies(w, tokens, csrf)
		if claims, err = site.Guard.Verify(tokens.AccessToken); err != nil {
			return nil, "", errNoPageSession
		}
	}
	return claims, csrf, nil
}

var errFormExpired = auth.Errorf(auth.CodeCSRFFailed, "This form has expired or came from another site. Reload the page and try again.")

// toLogin sends the browser to the login page, to come back here after.
func toLogin(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if guard.IsSafeMethod(r.Method) {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// toNext ends a page sign-in: to the page it came for (its validated next
// field), else the dashboard.
func toNext(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	if next == "" {
		next = "/dashboard"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// renderError answers err as the error page, with the status, headers and
// message that the JSON API gives the same error (httpjson.Prepare).
func (site *Site) renderError(w http.ResponseWriter, r *http.Request, err error) {
	status, _, message := httpjson.Prepare(w, r, site.Log, err)
	site.Pages.Render(w, status, "error", Page{Title: http.StatusText(status), Error: message})
}

// WantsPage reports whether a request for a path that is both an API route
// and a page (/books) comes from a browser: an HTML navigation or form.
func WantsPage(r *http.Request) bool {
	if r.Method == http.MethodGet {
		return strings.Contains(r.Header.Get("Accept"), "text/html")
	}
	return httpjson.IsForm(r)
}

// fieldOf says which form field an error concerns, to show it beside it.
func fieldOf(err error, byCode map[string]string) map[string]string {
	if f, ok := byCode[auth.ErrorCode(err)]; ok {
		return map[string]string{f: auth.ErrorMessage(err)}
	}
	return nil
}

// formError fills page with err (beside its field when it has one), sets
// Retry-After when err asks for it, and returns the status to answer with.
func (site *Site) formError(w http.ResponseWriter, r *http.Request, page *Page, err error, byCode map[string]string) int {
	status, _, message := httpjson.Prepare(w, r, site.Log, err)
	if page.FieldErrors = fieldOf(err, byCode); page.FieldErrors == nil {
		page.Error = message
	}
	return status
}

func when(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }

// providerButtons lists the upstream providers' buttons: the sign-in
// pages', and the security page's providers to link.
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
