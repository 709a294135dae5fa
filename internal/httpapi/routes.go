package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/web"
	"github.com/rs/cors"
)

// addRoutes is the one place where every route of the contract is mounted.
func addRoutes(mux *http.ServeMux, d Deps) {
	r := &router{mux: mux, methods: map[string][]string{}, cors: corsPolicy{origins: d.CORSOrigins}, hints: newHints(d.Log)}
	guardErrors := httpjson.GuardErrors(d.Log) // guard's refusals go through the one error writer
	user := d.Guard.Require(guardErrors)
	admin := func(h http.Handler) http.Handler {
		return d.Guard.Require(guard.Role(auth.RoleAdmin), guardErrors)(asActor(h))
	}

	// Authentication. Seed aliases stand beside the route they name.
	// One bucket per address and action, shared by a route and its aliases.
	// Login's is in auth's guarded path, shared by every password check.
	register := limitByAddress(d, "register", d.Limits.Register, handleRegister(d))
	login := handleLogin(d)
	r.handle("POST /register", register)
	r.handle("POST /signup", register)
	r.handle("POST /login", login)
	r.handle("POST /set-jwt", login)
	r.handle("POST /login/mfa", handleLoginMFA(d)) // JSON, or the second login page's form
	r.handle("POST /token/refresh", limitByAddress(d, "refresh", d.Limits.Refresh, handleRefresh(d)))
	r.handle("POST /logout", handleLogout(d))
	me := user(handleMe(d))
	r.handle("GET /me", me)
	r.handle("GET /get-jwt", me)
	r.handle("GET /get_name", me)
	r.handle("PATCH /me", user(handleUpdateMe(d)))
	r.handle("DELETE /me", user(handleDeleteMe(d)))
	r.handle("POST /me/password", user(handleChangePassword(d)))
	r.handle("GET /me/sessions", user(handleSessions(d)))
	r.handle("DELETE /me/sessions/{id}", user(handleEndSession(d)))
	r.handle("POST /me/reauthenticate", user(handleReauthenticate(d)))
	r.handle("POST /me/mfa/totp", user(handleEnrolTOTP(d)))
	r.handle("POST /me/mfa/totp/confirm", user(handleConfirmTOTP(d)))
	r.handle("DELETE /me/mfa/totp", user(handleRemoveTOTP(d)))
	r.handle("POST /me/mfa/recovery-codes", user(handleNewRecoveryCodes(d)))
	// Passkeys (handlers_passkeys.go).
	r.handle("POST /me/passkeys/register/begin", user(handleBeginPasskeyRegistration(d)))
	r.handle("POST /me/passkeys/register/finish", user(handleFinishPasskeyRegistration(d)))
	r.handle("GET /me/passkeys", user(handleListPasskeys(d)))
	r.handle("PATCH /me/passkeys/{id}", user(handleRenamePasskey(d)))
	r.handle("DELETE /me/passkeys/{id}", user(handleRemovePasskey(d)))
	r.handle("POST /login/passkey/begin", handleBeginPasskeyLogin(d))
	r.handle("POST /login/passkey/finish", handleFinishPasskeyLogin(d))   // JSON, or the login page's form
	r.handle("POST /login/mfa/passkey/begin", handleBeginPasskeyMFA(d))   // JSON, or the second login page's script
	r.handle("POST /login/mfa/passkey/finish", handleFinishPasskeyMFA(d)) // JSON, or the second login page's form

	// Recovery (handlers_recovery.go): links by mail.
	r.handle("POST /password/forgot", handleForgotPassword(d))
	r.handle("POST /password/reset", handleResetPassword(d))
	r.handle("POST /email/verify/request", user(handleVerifyRequest(d)))
	r.handle("POST /email/verify", handleSpendLink(d, verifyEmail))
	r.handle("POST /me/email", user(handleChangeEmail(d)))
	r.handle("POST /email/change/confirm", handleSpendLink(d, confirmEmail))

	// Administration.
	r.handle("GET /users", admin(handleListUsers(d)))
	r.handle("GET /users/{id}", admin(handleGetUser(d)))
	r.handle("PATCH /users/{id}", admin(handleUpdateUser(d)))
	r.handle("DELETE /users/{id}", admin(handleDeleteUser(d)))
	r.handle("DELETE /users/{id}/mfa", admin(handleResetMFA(d)))
	r.handle("POST /users/{id}/password-reset", admin(handleAdminPasswordReset(d)))
	r.handle("GET /audit", admin(handleAudit(d)))
	r.handle("GET /clients", admin(handleListClients(d)))
	r.handle("POST /clients", admin(handleCreateClient(d)))
	r.handle("GET /clients/{id}", admin(handleGetClient(d)))
	r.handle("PATCH /clients/{id}", admin(handleUpdateClient(d)))
	r.handle("DELETE /clients/{id}", admin(handleDeleteClient(d)))

	// OpenID Connect provider: sign in with Gatehouse.
	r.handle("GET /authorize", handleAuthorize(d))
	r.handle("POST /authorize", handleAuthorize(d))
	// A confidential client's backend calls it for all its users: its own
	// generous bucket (a client's secret and codes are checked on the guarded path).
	r.handle("POST /oauth/token", limitByAddress(d, "oauth-token", d.Limits.Client, handleToken(d)))
	r.handle("GET /userinfo", handleUserInfo(d))
	r.handle("POST /userinfo", handleUserInfo(d))
	r.handle("POST /oauth/revoke", handleRevoke(d))
	r.handle("POST /oauth/introspect", handleIntrospect(d))
	r.handle("GET /oauth/end-session", handleRPLogout(d))
	r.handle("POST /oauth/end-session", handleRPLogout(d))
	r.handle("GET /me/grants", user(handleGrants(d)))
	r.handle("DELETE /me/grants/{client_id}", user(handleRevokeGrant(d)))

	// Books: the demo resource, protected by guard alone.
	// A browser's navigation or form gets the page; anyone else the API.
	createBook := user(handleCreateBook(d))
	r.handle("POST /books", pageOrAPI(handleBookForm(d, "add"), createBook))
	r.handle("POST /book", createBook)
	r.handle("GET /books", pageOrAPI(handleBooksPage(d), user(handleListBooks(d))))
	r.handle("GET /books/{id}", user(handleGetBook(d)))
	r.handle("PATCH /books/{id}", user(handleUpdateBook(d)))
	r.handle("DELETE /books/{id}", user(handleDeleteBook(d)))

	// Discovery and operations.
	r.handle("GET /.well-known/jwks.json", handleJWKS(d))
	r.handle("GET /.well-known/openid-configuration", r.hints.hintIssuerHost(d.Issuer, handleOpenIDConfiguration(d)))
	r.handle("GET /revocations", handleRevocations(d))
	r.handle("GET /openapi.yaml", handleOpenAPI())
	r.handle("GET /healthz", handleHealthz())
	if d.Metrics != nil {
		r.handle("GET /metrics", d.Metrics.Handler())
	}
	r.handle("GET /readyz", handleReadyz(d))

	// Web pages.
	r.handle("GET /{$}", handleLoginPage(d))
	r.handle("GET /login", handleLoginPage(d))
	r.handle("GET /login/mfa", handleLoginMFAPage(d))
	r.handle("GET /signup", handleSignupPage(d))
	r.handle("GET /dashboard", handleDashboard(d))
	r.handle("POST /dashboard/name", handleNameForm(d))
	r.handle("GET /sessions", handleSessionsPage(d))
	r.handle("POST /sessions/{id}/end", handleEndSessionForm(d, false))
	r.handle("POST /sessions/end-others", handleEndSessionForm(d, true))
	r.handle("GET /password", handlePasswordPage(d))
	r.handle("POST /password", handlePasswordForm(d))
	r.handle("POST /books/{id}/edit", handleBookForm(d, "edit"))
	r.handle("POST /books/{id}/delete", handleBookForm(d, "delete"))
	r.handle("GET /admin/users", handleAdminUsersPage(d))
	r.handle("POST /admin/users/{id}", handleAdminUserForm(d))
	r.handle("POST /admin/users/{id}/mfa-reset", handleAdminMFAResetForm(d))
	r.handle("GET /security", handleSecurityPage(d))
	r.handle("POST /security/totp", handleSecurityForm(d, "enrol"))
	r.handle("POST /security/totp/confirm", handleSecurityForm(d, "confirm"))
	r.handle("POST /security/totp/remove", handleSecurityForm(d, "remove"))
	r.handle("POST /security/recovery-codes", handleSecurityForm(d, "codes"))
	r.handle("POST /security/reauthenticate", handleReauthForm(d))
	r.handle("POST /security/passkeys", handleSecurityForm(d, "passkey-add"))
	r.handle("POST /security/passkeys/{id}/rename", handleSecurityForm(d, "passkey-rename"))
	r.handle("POST /security/passkeys/{id}/remove", handleSecurityForm(d, "passkey-remove"))
	r.handle("GET /forgot-password", handleForgotPage(d))
	r.handle("POST /forgot-password", handleForgotForm(d))
	r.handle("GET /reset-password", handleLinkPage(d, resetPage))
	r.handle("POST /reset-password", handleResetForm(d))
	r.handle("GET /verify-email", handleLinkPage(d, verifyPage))
	r.handle("POST /verify-email", handleSpendLinkForm(d, verifyPage, verifyEmail, "Your email address is verified."))
	r.handle("POST /verify-email/resend", handleResendVerificationForm(d))
	r.handle("GET /confirm-email", handleLinkPage(d, confirmPage))
	r.handle("POST /confirm-email", handleSpendLinkForm(d, confirmPage, confirmEmail, "Your email address is changed and verified."))
	r.handle("POST /dashboard/verify", handleVerifyRequestForm(d))
	r.handle("POST /dashboard/email", handleChangeEmailForm(d))
	r.handle("GET /apps", handleAppsPage(d))
	r.handle("POST /apps/{client_id}/revoke", handleRevokeAppForm(d))
	r.handle("GET /static/", web.Static())

	r.finish()
}

// browserAPI is the JSON API that browser apps on the --cors-origins may
// call (API.md "Browser apps on other origins"), route by route: add a route
// here to open it to them. Every route under /me must be here (finish checks).
// Requests to them that get a page (wantsPage) get no CORS all the same.
var browserAPI = map[string]bool{
	"POST /register": true, "POST /signup": true,
	"POST /login": true, "POST /set-jwt": true, "POST /login/mfa": true,
	"POST /token/refresh": true, "POST /logout": true,
	"GET /me": true, "GET /get-jwt": true, "GET /get_name": true, "PATCH /me": true, "DELETE /me": true,
	"POST /me/password": true, "GET /me/sessions": true, "DELETE /me/sessions/{id}": true,
	"POST /me/reauthenticate": true, "POST /me/mfa/totp": true, "POST /me/mfa/totp/confirm": true,
	"DELETE /me/mfa/totp": true, "POST /me/mfa/recovery-codes": true, "POST /me/email": true,
	"GET /me/grants": true, "DELETE /me/grants/{client_id}": true,
	"POST /oauth/token": true, "GET /userinfo": true, "POST /userinfo": true, "POST /oauth/revoke": true,
	"POST /me/passkeys/register/begin": true, "POST /me/passkeys/register/finish": true, "GET /me/passkeys": true,
	"PATCH /me/passkeys/{id}": true, "DELETE /me/passkeys/{id}": true,
	"POST /login/passkey/begin": true, "POST /login/passkey/finish": true,
	"POST /login/mfa/passkey/begin": true, "POST /login/mfa/passkey/finish": true,
	"POST /books": true, "POST /book": true, "GET /books": true,
	"GET /books/{id}": true, "PATCH /books/{id}": true, "DELETE /books/{id}": true,
}

// formsAreAPI are the browser API routes whose form posts are API calls, not
// pages: OAuth 2.0 takes application/x-www-form-urlencoded bodies (RFC 6749
// 3.2, RFC 7009 2.1, RFC 6750 2.2), so they get CORS for forms too.
var formsAreAPI = map[string]bool{
	"POST /oauth/token": true, "POST /oauth/revoke": true, "POST /userinfo": true,
}

// readableAnywhere are the public documents every origin may read, without
// credentials.
var readableAnywhere = map[string]bool{
	"GET /.well-known/jwks.json":            true,
	"GET /.well-known/openid-configuration": true,
}

// asActor records the signed-in admin as the actor of what follows, for the
// audit log.
func asActor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(auth.WithActor(r.Context(), claimsOf(r).Subject)))
	})
}

// router records the methods of each path, so that a known path asked with
// another method answers 405 (with Allow) and an unknown one 404, both in
// the contract's JSON.
type router struct {
	mux     *http.ServeMux
	methods map[string][]string
	order   []string
	routes  []route
	cors    corsPolicy
	hints   *hints
}

type route struct {
	pattern string
	h       http.Handler
}

func (r *router) handle(pattern string, h http.Handler) {
	method, path, _ := strings.Cut(pattern, " ")
	if _, seen := r.methods[path]; !seen {
		r.order = append(r.order, path)
	}
	r.methods[path] = append(r.methods[path], withHead(method)...)
	r.routes = append(r.routes, route{pattern, h})
}

func withHead(method string) []string {
	if method == http.MethodGet {
		return []string{http.MethodGet, http.MethodHead}
	}
	return []string{method}
}

// finish mounts every route, with its CORS policy, and answers a path's
// preflights (OPTIONS with Access-Control-Request-Method) when it has CORS
// routes; other OPTIONS requests stay 405.
func (r *router) finish() {
	apiMethods, publicMethods := map[string][]string{}, map[string][]string{}
	for _, rt := range r.routes {
		method, path, _ := strings.Cut(rt.pattern, " ")
		switch {
		case browserAPI[rt.pattern]:
			apiMethods[path] = append(apiMethods[path], withHead(method)...)
		case readableAnywhere[rt.pattern]:
			publicMethods[path] = append(publicMethods[path], withHead(method)...)
		case path == "/me" || strings.HasPrefix(path, "/me/"):
			panic("httpapi: route " + rt.pattern + " is under /me but not in browserAPI (routes.go)")
		}
	}
	for _, set := range []map[string]bool{browserAPI, readableAnywhere} {
		for pattern := range set {
			if !slices.ContainsFunc(r.routes, func(rt route) bool { return rt.pattern == pattern }) {
				panic("httpapi: CORS lists " + pattern + ", which is no route (routes.go)")
			}
		}
	}
	policies := map[string]*cors.Cors{} // by path
	for path, methods := range apiMethods {
		if c := r.cors.api(methods); c != nil {
			policies[path] = c
		}
	}
	for path, methods := range publicMethods {
		if _, both := apiMethods[path]; both {
			panic("httpapi: path " + path + " is in both browserAPI and readableAnywhere")
		}
		policies[path] = r.cors.public(methods)
	}
	for _, rt := range r.routes {
		_, path, _ := strings.Cut(rt.pattern, " ")
		h := refuseLargeBodies(rt.h)
		if c := policies[path]; c != nil && (browserAPI[rt.pattern] || readableAnywhere[rt.pattern]) {
			if formsAreAPI[rt.pattern] {
				h = c.Handler(h) // their form posts are the API, never a page
			} else {
				h = withCORS(c, h)
			}
		}
		if browserAPI[rt.pattern] {
			h = r.hints.hintUnlistedOrigin(r.cors.origins, h)
		}
		r.mux.Handle(rt.pattern, labelled(rt.pattern, h))
	}
	for _, path := range r.order {
		if c := policies[path]; c != nil {
			allow := slices.Clone(r.methods[path])
			slices.Sort(allow)
			var h http.Handler = c.Handler(methodNotAllowed(allow))
			if apiMethods[path] != nil {
				h = r.hints.hintUnlistedOrigin(r.cors.origins, h)
			}
			r.mux.Handle("OPTIONS "+path, labelled("OPTIONS "+path, h))
		}
	}
	for _, path := range r.order {
		if strings.HasSuffix(path, "/") {
			continue // subtrees: anything else under them is 404
		}
		allow := slices.Clone(r.methods[path])
		slices.Sort(allow)
		var h http.Handler = methodNotAllowed(allow)
		if apiMethods[path] != nil { // a preflight when no origin is listed
			h = r.hints.hintUnlistedOrigin(r.cors.origins, h)
		}
		r.mux.Handle(path, labelled(path, h)) // "/{$}" is the root alone
	}
	r.mux.HandleFunc("/", notFound)
}

// labelled tells the request log and the metrics which route answers,
// before the handler runs, so that its errors, refusals and panics are
// counted under the route. (r.Pattern is no help there: the mux sets it on
// the request it is given, which middleware may have copied.)
func labelled(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setRoute(w, route)
		h.ServeHTTP(w, r)
	})
}
