package guard

import (
	"context"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Option changes what a middleware made by Require or Optional demands.
type Option func(*options)

type options struct {
	role       string
	scopes     []string
	mfa        bool
	maxAuthAge time.Duration
	optional   bool
	onError    ErrorWriter
	orgRoles   []string
	perms      []string
}

// Role requires the token's role claim to equal role; others get 403 forbidden.
func Role(role string) Option { return func(o *options) { o.role = role } }

// RequireMFA requires a token whose user signed in with two kinds of factor
// (its amr claim holds "mfa": a password and a TOTP code, for instance);
// others get 403 reauthentication_required, so the client can sign in
// again, or re-authenticate with its second factor, and retry.
func RequireMFA() Option { return func(o *options) { o.mfa = true } }

// MaxAuthAge requires a token whose auth_time (when its user last proved
// who they are: the login, or a re-authentication) is at most d ago;
// others, and tokens without auth_time, get 403 reauthentication_required.
// Use it for actions that a stolen, long-lived session should not reach.
func MaxAuthAge(d time.Duration) Option { return func(o *options) { o.maxAuthAge = d } }

// Scope requires the token to have been granted every one of scopes (its
// space-separated "scope" claim, RFC 9068); others get 403 forbidden. Tokens
// Gatehouse issues to OpenID Connect clients carry the scopes the user
// granted; Gatehouse's own first-party tokens carry none, so a route that
// requires a scope admits client tokens only. For a service that accepts
// tokens issued to its own client:
//
//	g, _ := guard.New(guard.Config{Issuer: iss, Audience: "my-client-id", Algorithms: []string{"EdDSA"}, Keys: keys})
//	mux.Handle("GET /api/profile", g.Require(guard.Scope("profile"))(profile))
func Scope(scopes ...string) Option {
	return func(o *options) { o.scopes = append(o.scopes, scopes...) }
}

// CheckScope refuses claims lacking one of scopes, with the error Require
// (with the Scope option) answers.
func CheckScope(c *Claims, scopes ...string) error {
	for _, s := range scopes {
		if c == nil || !c.HasScope(s) {
			return &Error{CodeForbidden, "This action needs the " + s + " scope."}
		}
	}
	return nil
}

// RequireOrgRole requires a token that acts in an organization (its org_id
// claim) with one of roles as the user's role there (org_role: "owner",
// "admin", "member" or a custom role's name); others, tokens acting in no
// organization included, get 403 forbidden. Which organization a resource
// belongs to is the application's to compare with OrgID:
//
//	mux.Handle("POST /invoices", g.Require(guard.RequireOrgRole("owner", "admin"))(createInvoice))
func RequireOrgRole(roles ...string) Option {
	return func(o *options) { o.orgRoles = append(o.orgRoles, roles...) }
}

// CheckOrgRole refuses claims that act in no organization, or whose org_role
// is none of roles, with the error RequireOrgRole answers.
func CheckOrgRole(c *Claims, roles ...string) error {
	if c == nil || c.OrgID == "" || !slices.Contains(roles, c.OrgRole) {
		return &Error{CodeForbidden, "This action needs one of these roles in the organization: " + strings.Join(roles, ", ") + "."}
	}
	return nil
}

// RequirePermission requires a token that acts in an organization whose
// role there holds every one of perms (its permissions claim, such as
// "books:write"); others get 403 forbidden.
//
//	mux.Handle("PATCH /books/{id}", g.Require(guard.RequirePermission("books:write"))(editBook))
func RequirePermission(perms ...string) Option {
	return func(o *options) { o.perms = append(o.perms, perms...) }
}

// CheckPermission refuses claims lacking one of perms, with the error
// RequirePermission answers.
func CheckPermission(c *Claims, perms ...string) error {
	for _, p := range perms {
		if !c.HasPermission(p) {
			return &Error{CodeForbidden, "This action needs the " + p + " permission in the organization."}
		}
	}
	return nil
}

// OrgID returns the organization the verified token of ctx acts in (its
// org_id claim), or "" when there is none or no token was verified.
func OrgID(ctx context.Context) string {
	c, ok := ClaimsFrom(ctx)
	if !ok || c == nil {
		return ""
	}
	return c.OrgID
}

// OnError makes the middleware answer refusals with write instead of
// WriteError, so an application renders every error in one place.
func OnError(write ErrorWriter) Option { return func(o *options) { o.onError = write } }

// CheckRole refuses claims whose role is not role, with the error Require
// (with the Role option) answers.
func CheckRole(c *Claims, role string) error {
	if c == nil || c.Role != role {
		return &Error{CodeForbidden, "This action needs the " + role + " role."}
	}
	return nil
}

// CheckMFA refuses claims without "mfa" in their amr, with the error
// RequireMFA answers.
func CheckMFA(c *Claims) error {
	if c == nil || !slices.Contains(c.AMR, "mfa") {
		return &Error{CodeReauthenticationRequired, "This action needs a sign-in with a second factor."}
	}
	return nil
}

// CheckAuthAge refuses claims whose auth_time is more than d before now (or
// missing), with the error MaxAuthAge answers. Clock leeway is the
// caller's: the Guard's own checks allow its Config.Leeway.
func CheckAuthAge(c *Claims, d time.Duration, now time.Time) error {
	if c == nil || c.AuthTime == nil || now.Sub(c.AuthTime.Time) > d {
		return &Error{CodeReauthenticationRequired, "This action needs a recent sign-in; sign in again and retry."}
	}
	return nil
}

// Require returns middleware that lets a request through only with a valid
// access token, and answers 401 (or 403) in the contract's JSON otherwise.
func (g *Guard) Require(opts ...Option) func(http.Handler) http.Handler {
	o := options{onError: func(w http.ResponseWriter, _ *http.Request, err error) { WriteError(w, err) }}
	for _, opt := range opts {
		opt(&o)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, err := g.Authenticate(r)
			if err != nil {
				if o.optional && err == errNoToken {
					next.ServeHTTP(w, r)
					return
				}
				o.onError(w, r, err)
				return
			}
			if o.role != "" {
				if err := CheckRole(claims, o.role); err != nil {
					o.onError(w, r, err)
					return
				}
			}
			if len(o.scopes) > 0 {
				if err := CheckScope(claims, o.scopes...); err != nil {
					o.onError(w, r, err)
					return
				}
			}
			if len(o.orgRoles) > 0 {
				if err := CheckOrgRole(claims, o.orgRoles...); err != nil {
					o.onError(w, r, err)
					return
				}
			}
			if len(o.perms) > 0 {
				if err := CheckPermission(claims, o.perms...); err != nil {
					o.onError(w, r, err)
					return
				}
			}
			if o.mfa {
				if err := CheckMFA(claims); err != nil {
					o.onError(w, r, err)
					return
				}
			}
			if o.maxAuthAge > 0 {
				if err := CheckAuthAge(claims, o.maxAuthAge+g.cfg.Leeway, g.cfg.Now()); err != nil {
					o.onError(w, r, err)
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), claims)))
		})
	}
}

// Optional returns middleware that verifies a token when one is sent (and
// refuses a bad one) but lets requests without any token through, without
// claims in their context.
func (g *Guard) Optional(opts ...Option) func(http.Handler) http.Handler {
	return g.Require(append(opts, func(o *options) { o.optional = true })...)
}

// Authenticate finds and verifies the token of r. A cookie-carried token on
// an unsafe method must also pass CSRF checks: same origin (Sec-Fetch-Site /
// Origin) and a double-submit token equal to the CSRF cookie.
func (g *Guard) Authenticate(r *http.Request) (*Claims, error) {
	token, carrier := FindToken(r, g.cfg.AccessCookie)
	if carrier == CarrierNone {
		return nil, errNoToken
	}
	// An API key is sent as "Authorization: Bearer" only, as Gatehouse
	// takes it: never from a cookie or the seed's header.
	if carrier != CarrierBearer && strings.HasPrefix(token, APIKeyPrefix) {
		return nil, errKeyCarrier
	}
	if carrier == CarrierCookie && !IsSafeMethod(r.Method) {
		if err := g.CheckCSRF(r); err != nil {
			return nil, err
		}
	}
	return g.verify(r.Context(), token)
}

var (
	errKeyCarrier  = &Error{CodeInvalidToken, "An API key is sent as Authorization: Bearer."}
	errCrossOrigin = &Error{CodeCSRFFailed, "Cross-origin requests are refused."}
	errCSRFToken   = &Error{CodeCSRFFailed, "The CSRF token is missing or wrong."}
)

// crossOrigin refuses requests that browsers mark as coming from another
// origin. It is the one instance: CrossOriginProtection hands it out.
var crossOrigin = http.NewCrossOriginProtection()

// CrossOriginProtection returns the protection CheckCSRF applies (safe
// methods pass, as in IsSafeMethod), for checks of requests that carry no
// token, such as a login form. It is shared: do not reconfigure it.
func CrossOriginProtection() *http.CrossOriginProtection { return crossOrigin }

// CheckCSRF refuses a cross-origin request, and one whose X-CSRF-Token header
// (or csrf_token form field) does not equal the CSRF cookie.
func (g *Guard) CheckCSRF(r *http.Request) error {
	if crossOrigin.Check(r) != nil {
		return errCrossOrigin
	}
	cookie, err := r.Cookie(g.cfg.CSRFCookie)
	if err != nil || cookie.Value == "" {
		return errCSRFToken
	}
	sent := r.Header.Get("X-CSRF-Token")
	if sent == "" {
		sent = r.PostFormValue("csrf_token")
	}
	if subtle.ConstantTimeCompare([]byte(sent), []byte(cookie.Value)) != 1 {
		return errCSRFToken
	}
	return nil
}

// IsSafeMethod reports whether a request with method m cannot change state,
// so that it needs no CSRF check: GET, HEAD and OPTIONS (as
// http.CrossOriginProtection treats them).
func IsSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}
