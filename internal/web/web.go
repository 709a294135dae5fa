// Package web is Gatehouse's server-side HTML pages: their handlers (page
// groups by concern, over a Site holding the same services as the JSON
// API), the browser session's cookies and CSRF checks, the embedded
// templates and static files. httpapi mounts the handlers in its route
// table; web imports nothing of httpapi.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"regexp"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Page is what every template may show. Zero fields are simply not shown.
type Page struct {
	Title       string
	CSRF        string            // the double-submit token for forms
	Error       string            // shown at the top of the form
	FieldErrors map[string]string // shown beside the named field
	Notice      string            // a neutral message ("Account created")
	Next        string            // validated same-site path to return to after login
	Form        map[string]string // values to refill after an error (never passwords)
	User        *User             // the signed-in user, for the navigation
	Data        any               // what the page itself lists
	// NoReferrer: the page's address holds a secret (a link's token), so
	// it is sent to no one as a Referer.
	NoReferrer bool
	// FormTargets are origins beside 'self' where a form of the page may
	// end up after redirects (Content-Security-Policy form-action): the
	// redirect URI of the application a login or consent is for.
	FormTargets []string
	// Providers are the upstream identity providers the login and sign-up
	// pages offer a button for.
	Providers []ProviderButton
}

// ProviderButton is an upstream provider's "Sign in with ..." button.
type ProviderButton struct{ ID, Name string }

// Consent is the consent page's content.
type Consent struct {
	ClientName string
	Scopes     []ScopeLine
	Params     []Param // hidden fields: the authorization request
}

// ScopeLine is one requested scope, as the consent page words it.
type ScopeLine struct{ Name, Description string }

// Param is a hidden form field.
type Param struct{ Name, Value string }

// App is a row of the connected apps page.
type App struct {
	ClientID, Name, Scope, Granted string
}

// EndSession is the logout confirmation page's content.
type EndSession struct {
	Params []Param
}

// User is the signed-in user as pages show it.
type User struct {
	ID, Email, Username, Name, Role string
	EmailVerified                   bool
}

// DisplayName is the name a page greets the user by.
func (u *User) DisplayName() string {
	for _, s := range []string{u.Name, u.Username, u.Email} {
		if s != "" {
			return s
		}
	}
	return "there"
}

// IsAdmin reports whether the user may see the administration pages.
func (u *User) IsAdmin() bool { return u.Role == auth.RoleAdmin }

// SessionRow is a row of the sessions page.
type SessionRow struct {
	ID, Created, LastUsed, UserAgent, IP string
	Current                              bool
}

// Book is a row of the books page.
type Book struct {
	ID, Title, Author, Publisher string
	Price                        int64
}

// AdminUsers is the administration page's content.
type AdminUsers struct {
	Query string
	Users []AdminUser
	Next  string // cursor of the next page, "" at the end
}

// AdminUser is a row of the administration page.
type AdminUser struct {
	ID, Email, Username, Name, Role, Created string
	Disabled, Self                           bool
	MFA                                      bool // has a second factor (the reset button)
}

// Security is the security page's content: the second factors.
type Security struct {
	TOTP       bool       // an authenticator app is on
	Pending    *TOTPSetup // an enrolment waiting for its first code
	CodesLeft  int        // unused recovery codes
	NewCodes   []string   // recovery codes made just now, shown this once
	CodesFile  template.URL
	NeedReauth bool // the last action needs a recent sign-in: show the form
	// ReauthProviders are the linked OpenID providers that can confirm a
	// fresh sign-in (NeedReauth); ReauthNext is where to go after one.
	ReauthProviders []ProviderButton
	ReauthNext      string
	Passkeys        []Passkey
	PasskeysOn      bool // the server has a relying party: offer to add one
	// Identities are the account's upstream identities; Linkable the
	// providers it can link one more of.
	Identities []IdentityRow
	Linkable   []ProviderButton
}

// IdentityRow is a row of the security page's linked identities.
type IdentityRow struct {
	ID, Provider, Email, Created string
}

// Passkey is a row of the security page's passkeys.
type Passkey struct {
	ID, Name, Created, LastUsed string
}

// SecondStep is the second login page's content: what it offers.
type SecondStep struct {
	TOTP, Passkey bool
}

// TOTPSetup is an authenticator app being set up.
type TOTPSetup struct {
	Secret string
	URI    string
	QR     template.HTML // an SVG Gatehouse rendered (internal/mfa.QRSVG), never user input
}

var funcs = template.FuncMap{
	// fieldError returns the error to show beside a field, if any.
	"fieldError": func(p Page, field string) string { return p.FieldErrors[field] },
}

// Pages holds the parsed templates, one set per page.
type Pages struct {
	pages map[string]*template.Template
}

// New parses the embedded templates.
func New() (*Pages, error) {
	p := &Pages{pages: make(map[string]*template.Template)}
	for _, name := range []string{"login", "signup", "dashboard", "sessions", "password", "books", "admin_users", "admin_webhooks", "error",
		"login_mfa", "security", "forgot_password", "reset_password", "verify_email", "confirm_email",
		"consent", "apps", "end_session", "logged_out", "api_keys", "admin_providers", "admin_clients",
		"organizations", "organization", "org_invitations", "invitation"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.tmpl", "templates/"+name+".tmpl")
		if err != nil {
			return nil, fmt.Errorf("parse %s template: %w", name, err)
		}
		p.pages[name] = t
	}
	return p, nil
}

// Render writes page name with status. Pages get a strict Content Security
// Policy and are never cached.
func (p *Pages) Render(w http.ResponseWriter, status int, name string, data Page) {
	t, ok := p.pages[name]
	if !ok {
		http.Error(w, "unknown page", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer // render fully first, so a template error cannot send half a page
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		http.Error(w, "page rendering failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	formAction := "'self'"
	for _, o := range data.FormTargets {
		if cspSource.MatchString(o) {
			formAction += " " + o
		}
	}
	h.Set("Content-Security-Policy", "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action "+formAction)
	h.Set("Referrer-Policy", "same-origin")
	if data.NoReferrer {
		h.Set("Referrer-Policy", "no-referrer")
	}
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// cspSource is an origin safe to put in a Content-Security-Policy.
var cspSource = regexp.MustCompile(`^https?://[A-Za-z0-9.\-\[\]:]+$`)

// Static serves the embedded files under /static/: files only (no
// directory listing), anything else the contract's 404.
func Static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		if info, err := fs.Stat(sub, name); err != nil || !fs.ValidPath(name) || !info.Mode().IsRegular() {
			httpjson.Error(w, r, nil, auth.Errorf(auth.CodeNotFound, "No such file."))
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		http.ServeFileFS(w, r, sub, name)
	})
}
