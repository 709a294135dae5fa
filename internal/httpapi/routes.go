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
	newRoutes(d).finish(mux)
}

// newRoutes lists every route once, with its protection and whether
// browser apps on other origins may call it:
//
//   - r.api(pattern, cors, h): the JSON API; user(...) and admin(...)
//     wrap the routes that need a bearer token (or the cookies with CSRF).
//   - r.page(pattern, h): a page of a signed-in user. Its check (and silent
//     refresh) runs before h; without a session the browser goes to
//     /login?next=.... r.adminPage: the same, for administrators only.
//   - r.publicPage(pattern, h): a page anyone may open (login, a mailed link).
//   - .orAPI(cors, h) on a page: the same route answers the JSON API to
//     anyone but a browser's navigation or form post (web.WantsPage).
//
// cors is sameOrigin (no CORS header), browserApps (the origins of
// --cors-origins, with credentials: API.md "Browser apps on other origins"),
// browserAppsAndForms (browserApps, form posts included: OAuth endpoints)
// or anyOrigin (public documents, without credentials). Every route under
// /me is open to browserApps (finish checks). A page is never readable by
// another origin: the page side of a route gets no CORS headers.
func newRoutes(d Deps) *router {
	r := &router{methods: map[string][]string{}, cors: corsPolicy{origins: d.CORSOrigins}, hints: newHints(d.Log)}
	guardErrors := httpjson.GuardErrors(d.Log) // guard's refusals go through the one error writer
	// user(h) and admin(h) take an access token; user(h, scope) and
	// admin(h, scope) also take an API key holding scope (auth.KeyScopes).
	// A route that names no scope refuses keys (403 forbidden): keys never
	// manage keys, factors, the password, the email or sessions.
	user := func(h http.Handler, keyScope ...string) http.Handler {
		return withAPIKeys(d, onlyScope(keyScope), "", h, d.Guard.Require(guardErrors)(h))
	}
	noKeys := func(h http.Handler) http.Handler { return withAPIKeys(d, "", "", h, h) } // a route that finds its own token
	admin := func(h http.Handler, keyScope ...string) http.Handler {
		h = asActor(h)
		return withAPIKeys(d, onlyScope(keyScope), auth.RoleAdmin, h, d.Guard.Require(guard.Role(auth.RoleAdmin), guardErrors)(h))
	}
	site := &web.Site{Accounts: d.Auth.Accounts, Sessions: d.Auth.Sessions, Recovery: d.Auth.Recovery, Factors: d.Auth.Factors,
		Passkeys: d.Auth.Passkeys, APIKeys: d.Auth.APIKeys, Guard: d.Guard, Books: d.Books, Orgs: d.Orgs, OIDC: d.OIDC, Clients: d.Clients, Upstream: d.Upstream, Webhooks: d.Webhooks, Pages: d.Pages, Log: d.Log,
		Client: func(req *http.Request) auth.Client { return client(d, req) }}
	r.site = site
	// The pages by concern (web.Groups): pages.Security.SecurityPage is
	// the security page, served by web.SecurityPages.
	pages := web.NewGroups(site)

	// Authentication. Seed aliases stand beside the route they name.
	// One bucket per address and action, shared by a route and its aliases,
	// its page form included. Login's is in auth's guarded path, shared by
	// every password check.
	register := func(h http.Handler) http.Handler { return limitByAddress(d, "register", d.Limits.Register, h) }
	login := handleLogin(d)
	r.publicPage("POST /register", register(http.HandlerFunc(pages.SignIn.SignupForm))).orAPI(browserApps, register(handleRegister(d)))
	r.publicPage("POST /signup", register(http.HandlerFunc(pages.SignIn.SignupForm))).orAPI(browserApps, register(handleRegister(d)))
	r.publicPage("POST /login", http.HandlerFunc(pages.SignIn.LoginForm)).orAPI(browserApps, login)
	r.publicPage("POST /set-jwt", http.HandlerFunc(pages.SignIn.LoginForm)).orAPI(browserApps, login)
	r.publicPage("POST /login/mfa", http.HandlerFunc(pages.SignIn.LoginMFAForm)).orAPI(browserApps, handleLoginMFA(d))
	r.api("POST /token/refresh", browserApps, limitByAddress(d, "refresh", d.Limits.Refresh, handleRefresh(d)))
	r.api("POST /logout", browserApps, noKeys(handleLogout(d))) // a form post too: 303 to /login
	me := user(handleMe(d), auth.KeyScopeMeRead)
	r.api("GET /me", browserApps, me)
	r.api("GET /get-jwt", browserApps, me)
	r.api("GET /get_name", browserApps, me)
	r.api("PATCH /me", browserApps, user(handleUpdateMe(d)))
	r.api("DELETE /me", browserApps, user(handleDeleteMe(d)))
	r.api("POST /me/password", browserApps, user(handleChangePassword(d)))
	r.api("GET /me/sessions", browserApps, user(handleSessions(d), auth.KeyScopeMeRead))
	r.api("DELETE /me/sessions/{id}", browserApps, user(handleEndSession(d)))
	r.api("POST /me/reauthenticate", browserApps, user(handleReauthenticate(d)))
	r.api("POST /me/mfa/totp", browserApps, user(handleEnrolTOTP(d)))
	r.api("POST /me/mfa/totp/confirm", browserApps, user(handleConfirmTOTP(d)))
	r.api("DELETE /me/mfa/totp", browserApps, user(handleRemoveTOTP(d)))
	r.api("POST /me/mfa/recovery-codes", browserApps, user(handleNewRecoveryCodes(d)))
	// Passkeys (handlers_passkeys.go).
	r.api("POST /me/passkeys/register/begin", browserApps, user(handleBeginPasskeyRegistration(d)))
	r.api("POST /me/passkeys/register/finish", browserApps, user(handleFinishPasskeyRegistration(d)))
	r.api("GET /me/passkeys", browserApps, user(handleListPasskeys(d)))
	r.api("PATCH /me/passkeys/{id}", browserApps, user(handleRenamePasskey(d)))
	r.api("DELETE /me/passkeys/{id}", browserApps, user(handleRemovePasskey(d)))
	r.api("POST /login/passkey/begin", browserApps, handleBeginPasskeyLogin(d))
	r.publicPage("POST /login/passkey/finish", http.HandlerFunc(pages.SignIn.PasskeyLoginForm)).orAPI(browserApps, handleFinishPasskeyLogin(d))
	r.publicPage("POST /login/mfa/passkey/begin", http.HandlerFunc(pages.SignIn.PasskeyMFABegin)).orAPI(browserApps, handleBeginPasskeyMFA(d))
	r.publicPage("POST /login/mfa/passkey/finish", http.HandlerFunc(pages.SignIn.PasskeyMFAForm)).orAPI(browserApps, handleFinishPasskeyMFA(d))

	// Recovery (handlers_recovery.go): links by mail.
	r.api("POST /password/forgot", sameOrigin, handleForgotPassword(d))
	r.api("POST /password/reset", sameOrigin, handleResetPassword(d))
	r.api("POST /email/verify/request", sameOrigin, user(handleVerifyRequest(d)))
	r.api("POST /email/verify", sameOrigin, handleSpendLink(d, verifyEmail))
	r.api("POST /me/email", browserApps, user(handleChangeEmail(d)))
	r.api("POST /email/change/confirm", sameOrigin, handleSpendLink(d, confirmEmail))

	// Administration.
	r.api("GET /users", sameOrigin, admin(handleListUsers(d), auth.KeyScopeUsersRead))
	r.api("GET /users/{id}", sameOrigin, admin(handleGetUser(d), auth.KeyScopeUsersRead))
	r.api("PATCH /users/{id}", sameOrigin, admin(handleUpdateUser(d), auth.KeyScopeUsersWrite))
	r.api("DELETE /users/{id}", sameOrigin, admin(handleDeleteUser(d), auth.KeyScopeUsersWrite))
	r.api("DELETE /users/{id}/mfa", sameOrigin, admin(handleResetMFA(d)))
	r.api("POST /users/{id}/password-reset", sameOrigin, admin(handleAdminPasswordReset(d)))
	r.api("GET /audit", sameOrigin, admin(handleAudit(d)))
	r.api("GET /clients", sameOrigin, admin(handleListClients(d)))
	r.api("POST /clients", sameOrigin, admin(handleCreateClient(d)))
	r.api("GET /clients/{id}", sameOrigin, admin(handleGetClient(d)))
	r.api("PATCH /clients/{id}", sameOrigin, admin(handleUpdateClient(d)))
	r.api("DELETE /clients/{id}", sameOrigin, admin(handleDeleteClient(d)))
	// Webhooks (handlers_webhooks.go).
	r.api("GET /webhooks", sameOrigin, admin(handleListWebhooks(d)))
	r.api("POST /webhooks", sameOrigin, admin(handleCreateWebhook(d)))
	r.api("GET /webhooks/{id}", sameOrigin, admin(handleGetWebhook(d)))
	r.api("PATCH /webhooks/{id}", sameOrigin, admin(handleUpdateWebhook(d)))
	r.api("DELETE /webhooks/{id}", sameOrigin, admin(handleDeleteWebhook(d)))
	r.api("POST /webhooks/{id}/secret", sameOrigin, admin(handleRotateWebhookSecret(d)))
	r.api("GET /webhooks/{id}/deliveries", sameOrigin, admin(handleWebhookDeliveries(d)))
	r.api("POST /webhooks/{id}/deliveries/{d}/retry", sameOrigin, admin(handleRetryDelivery(d)))

	// API keys (handlers_apikeys.go): managed only with a sign-in, never
	// with a key.
	r.api("POST /me/api-keys", browserApps, user(handleCreateAPIKey(d)))
	r.api("GET /me/api-keys", browserApps, user(handleListAPIKeys(d, caller)))
	r.api("DELETE /me/api-keys/{id}", browserApps, user(handleRevokeAPIKey(d, caller, "id")))
	r.api("GET /users/{id}/api-keys", sameOrigin, admin(handleListAPIKeys(d, pathUser)))
	r.api("DELETE /users/{id}/api-keys/{key_id}", sameOrigin, admin(handleRevokeAPIKey(d, pathUser, "key_id")))
	r.page("GET /security/api-keys", pages.APIKeys.APIKeysPage)
	r.page("POST /security/api-keys", pages.APIKeys.CreateAPIKeyForm)
	r.page("POST /security/api-keys/{id}/revoke", pages.APIKeys.RevokeAPIKeyForm)

	// OpenID Connect provider: sign in with Gatehouse. Authorization and
	// RP-initiated logout are pages: they read the browser's session, if any.
	r.publicPage("GET /authorize", http.HandlerFunc(pages.Authorization.Authorize))
	r.publicPage("POST /authorize", http.HandlerFunc(pages.Authorization.Authorize))
	// A confidential client's backend calls it for all its users: its own
	// generous bucket (a client's secret and codes are checked on the guarded path).
	r.api("POST /oauth/token", browserAppsAndForms, limitByAddress(d, "oauth-token", d.Limits.Client, handleToken(d)))
	r.api("GET /userinfo", browserApps, handleUserInfo(d))
	r.api("POST /userinfo", browserAppsAndForms, handleUserInfo(d))
	r.api("POST /oauth/revoke", browserAppsAndForms, handleRevoke(d))
	r.api("POST /oauth/introspect", sameOrigin, handleIntrospect(d))
	r.publicPage("GET /oauth/end-session", http.HandlerFunc(pages.Authorization.EndSession))
	r.publicPage("POST /oauth/end-session", http.HandlerFunc(pages.Authorization.EndSession))
	r.api("GET /me/grants", browserApps, user(handleGrants(d)))
	r.api("DELETE /me/grants/{client_id}", browserApps, user(handleRevokeGrant(d)))

	// Upstream identity providers (handlers_upstream.go; pages: web's
	// SignInPages, SecurityPages and AdminPages): sign in with Google,
	// GitHub or any OpenID provider, and link them.
	r.api("GET /providers", sameOrigin, admin(handleListProviders(d)))
	r.api("POST /providers", sameOrigin, admin(handleCreateProvider(d)))
	r.api("PATCH /providers/{id}", sameOrigin, admin(handleUpdateProvider(d)))
	r.api("DELETE /providers/{id}", sameOrigin, admin(handleDeleteProvider(d)))
	// One bucket per address for both ends of the flow: each start writes
	// a single-use record, each callback calls the provider.
	upstreamLogin := func(h http.HandlerFunc) http.Handler { return limitByAddress(d, "upstream-login", d.Limits.Login, h) }
	r.publicPage("GET /login/{provider}", upstreamLogin(pages.SignIn.UpstreamLogin))
	r.publicPage("GET /login/{provider}/callback", upstreamLogin(pages.SignIn.UpstreamCallback))
	r.api("GET /me/identities", browserApps, user(handleIdentities(d)))
	r.api("POST /me/identities/{id}", browserApps, user(handleLinkIdentity(d))) // {id}: the provider's
	r.api("DELETE /me/identities/{id}", browserApps, user(handleUnlinkIdentity(d)))
	r.api("GET /me/identities/{id}/token", browserApps, user(handleIdentityToken(d)))
	r.page("POST /security/identities/{provider}/link", pages.Security.LinkIdentityForm)
	r.page("POST /security/identities/{id}/remove", pages.Security.UnlinkIdentityForm)
	r.page("POST /security/reauthenticate/{provider}", pages.Security.ReauthProviderForm) // a fresh sign-in at a linked OpenID provider
	r.adminPage("GET /admin/providers", pages.Admin.ProvidersPage)
	r.adminPage("POST /admin/providers", pages.Admin.ProviderAddForm)
	r.adminPage("POST /admin/providers/{id}/remove", pages.Admin.ProviderRemoveForm)

	// Books: the demo resource, protected by guard alone.
	// A browser's navigation or form gets the page; anyone else the API.
	r.page("POST /books", pages.Books.AddBookForm).orAPI(browserApps, user(handleCreateBook(d), auth.KeyScopeBooksWrite))
	r.api("POST /book", browserApps, user(handleCreateBook(d), auth.KeyScopeBooksWrite))
	r.page("GET /books", pages.Books.BooksPage).orAPI(browserApps, user(handleListBooks(d), auth.KeyScopeBooksRead))
	r.api("GET /books/{id}", browserApps, user(handleGetBook(d), auth.KeyScopeBooksRead))
	r.api("PATCH /books/{id}", browserApps, user(handleUpdateBook(d), auth.KeyScopeBooksWrite))
	r.api("DELETE /books/{id}", browserApps, user(handleDeleteBook(d), auth.KeyScopeBooksWrite))

	// Organizations (handlers_orgs.go): orgs.Service holds the policy; a
	// user who is not a member finds every route of an organization 404.
	r.api("POST /orgs", browserApps, user(handleCreateOrg(d), auth.KeyScopeOrgsWrite))
	r.api("GET /orgs", browserApps, user(handleListOrgs(d), auth.KeyScopeOrgsRead))
	r.api("GET /orgs/{id}", browserApps, user(handleGetOrg(d), auth.KeyScopeOrgsRead))
	r.api("PATCH /orgs/{id}", browserApps, user(handleUpdateOrg(d), auth.KeyScopeOrgsWrite))
	r.api("DELETE /orgs/{id}", browserApps, user(handleDeleteOrg(d), auth.KeyScopeOrgsWrite))
	r.api("GET /orgs/{id}/members", browserApps, user(handleListMembers(d), auth.KeyScopeOrgsRead))
	r.api("PATCH /orgs/{id}/members/{user_id}", browserApps, user(handleUpdateMember(d), auth.KeyScopeOrgsWrite))
	r.api("DELETE /orgs/{id}/members/{user_id}", browserApps, user(handleRemoveMember(d), auth.KeyScopeOrgsWrite))
	r.api("GET /orgs/{id}/roles", browserApps, user(handleListRoles(d), auth.KeyScopeOrgsRead))
	r.api("POST /orgs/{id}/roles", browserApps, user(handleCreateRole(d), auth.KeyScopeOrgsWrite))
	r.api("POST /orgs/{id}/invitations", browserApps, user(handleInvite(d), auth.KeyScopeOrgsWrite))
	r.api("GET /orgs/{id}/invitations", browserApps, user(handleListInvitations(d), auth.KeyScopeOrgsRead))
	r.api("DELETE /orgs/{id}/invitations/{invitation_id}", browserApps, user(handleRevokeInvitation(d), auth.KeyScopeOrgsWrite))
	// The invitation's mailed link opens a page; its form posts to the same route as the API.
	r.publicPage("GET /invitations/accept", http.HandlerFunc(pages.Organizations.InvitationPage))
	r.page("POST /invitations/accept", pages.Organizations.AcceptInvitationForm).orAPI(browserApps, user(handleAcceptInvitation(d), auth.KeyScopeOrgsWrite))
	// The Organizations pages (internal/web/pages_orgs.go), over the same service.
	r.page("GET /organizations", pages.Organizations.OrganizationsPage)
	r.page("POST /organizations", pages.Organizations.CreateOrganizationForm)
	r.page("GET /organizations/{id}", pages.Organizations.OrganizationPage)
	r.page("POST /organizations/{id}/rename", pages.Organizations.RenameOrganizationForm)
	r.page("POST /organizations/{id}/delete", pages.Organizations.DeleteOrganizationForm)
	r.page("POST /organizations/{id}/enter", pages.Organizations.EnterOrganizationForm)
	r.page("POST /organizations/{id}/members/{user_id}/role", pages.Organizations.MemberRoleForm)
	r.page("POST /organizations/{id}/members/{user_id}/remove", pages.Organizations.RemoveMemberForm)
	r.page("POST /organizations/{id}/roles", pages.Organizations.CreateRoleForm)
	r.page("GET /organizations/{id}/invitations", pages.Organizations.OrgInvitationsPage)
	r.page("POST /organizations/{id}/invitations", pages.Organizations.InviteForm)
	r.page("POST /organizations/{id}/invitations/{invitation_id}/revoke", pages.Organizations.RevokeInvitationForm)
	// Gatehouse's administrators: the command line's org commands.
	r.api("GET /admin/orgs", sameOrigin, admin(handleAdminListOrgs(d)))
	r.api("POST /admin/orgs", sameOrigin, admin(handleAdminCreateOrg(d)))
	r.api("POST /admin/orgs/{id}/members", sameOrigin, admin(handleAdminAddMember(d)))
	r.api("DELETE /admin/orgs/{id}/members/{user_id}", sameOrigin, admin(handleAdminRemoveMember(d)))

	// Discovery and operations.
	r.api("GET /.well-known/jwks.json", anyOrigin, handleJWKS(d))
	r.api("GET /.well-known/openid-configuration", anyOrigin, r.hints.hintIssuerHost(d.Issuer, handleOpenIDConfiguration(d)))
	r.api("GET /revocations", sameOrigin, handleRevocations(d))
	r.api("GET /openapi.yaml", sameOrigin, handleOpenAPI())
	r.api("GET /healthz", sameOrigin, handleHealthz())
	if d.Metrics != nil {
		r.api("GET /metrics", sameOrigin, d.Metrics.Handler())
	}
	r.api("GET /readyz", sameOrigin, handleReadyz(d))

	// Web pages (internal/web).
	r.publicPage("GET /{$}", http.HandlerFunc(pages.SignIn.HomePage))
	r.publicPage("GET /login", http.HandlerFunc(pages.SignIn.LoginPage))
	r.publicPage("GET /login/mfa", http.HandlerFunc(pages.SignIn.LoginMFAPage))
	r.publicPage("GET /signup", http.HandlerFunc(pages.SignIn.SignupPage))
	r.page("GET /dashboard", pages.Account.Dashboard)
	r.page("POST /dashboard/name", pages.Account.NameForm)
	r.page("POST /dashboard/verify", pages.Account.VerifyRequestForm)
	r.page("POST /dashboard/email", pages.Account.ChangeEmailForm)
	r.page("GET /sessions", pages.Account.SessionsPage)
	r.page("POST /sessions/{id}/end", pages.Account.EndSessionForm)
	r.page("POST /sessions/end-others", pages.Account.EndOtherSessionsForm)
	r.page("GET /password", pages.Account.PasswordPage)
	r.page("POST /password", pages.Account.PasswordForm)
	r.page("POST /books/{id}/edit", pages.Books.EditBookForm)
	r.page("POST /books/{id}/delete", pages.Books.DeleteBookForm)
	r.adminPage("GET /admin/users", pages.Admin.UsersPage)
	r.adminPage("POST /admin/users/{id}", pages.Admin.UserForm)
	r.adminPage("POST /admin/users/{id}/mfa-reset", pages.Admin.MFAResetForm)
	r.adminPage("GET /admin/webhooks", pages.Admin.WebhooksPage)
	r.adminPage("POST /admin/webhooks/{id}", pages.Admin.WebhookForm)
	r.adminPage("POST /admin/webhooks/{id}/deliveries/{d}/retry", pages.Admin.RetryDeliveryForm)
	// Service clients (the admin API's /clients, as pages).
	r.adminPage("GET /admin/clients", pages.Admin.ClientsPage)
	r.adminPage("POST /admin/clients", pages.Admin.AddClientForm)
	r.adminPage("POST /admin/clients/{id}", pages.Admin.ClientForm)
	r.adminPage("POST /admin/clients/{id}/remove", pages.Admin.RemoveClientForm)
	r.page("GET /security", pages.Security.SecurityPage)
	r.page("POST /security/totp", pages.Security.EnrolTOTPForm)
	r.page("POST /security/totp/confirm", pages.Security.ConfirmTOTPForm)
	r.page("POST /security/totp/remove", pages.Security.RemoveTOTPForm)
	r.page("POST /security/recovery-codes", pages.Security.RecoveryCodesForm)
	r.page("POST /security/reauthenticate", pages.Security.ReauthForm)
	r.page("POST /security/passkeys", pages.Security.AddPasskeyForm)
	r.page("POST /security/passkeys/{id}/rename", pages.Security.RenamePasskeyForm)
	r.page("POST /security/passkeys/{id}/remove", pages.Security.RemovePasskeyForm)
	r.publicPage("GET /forgot-password", http.HandlerFunc(pages.Recovery.ForgotPage))
	r.publicPage("POST /forgot-password", http.HandlerFunc(pages.Recovery.ForgotForm))
	r.publicPage("GET /reset-password", http.HandlerFunc(pages.Recovery.ResetPage))
	r.publicPage("POST /reset-password", http.HandlerFunc(pages.Recovery.ResetForm))
	r.publicPage("GET /verify-email", http.HandlerFunc(pages.Recovery.VerifyPage))
	r.publicPage("POST /verify-email", http.HandlerFunc(pages.Recovery.VerifyForm))
	r.publicPage("POST /verify-email/resend", http.HandlerFunc(pages.Recovery.ResendVerificationForm))
	r.publicPage("GET /confirm-email", http.HandlerFunc(pages.Recovery.ConfirmPage))
	r.publicPage("POST /confirm-email", http.HandlerFunc(pages.Recovery.ConfirmForm))
	r.page("GET /apps", pages.Authorization.AppsPage)
	r.page("POST /apps/{client_id}/revoke", pages.Authorization.RevokeAppForm)
	r.publicPage("GET /static/", web.Static())
	return r
}

// onlyScope is the one key scope a route names, or "" (keys refused).
func onlyScope(scopes []string) string {
	if len(scopes) > 1 {
		panic("httpapi: a route names at most one key scope (routes.go)")
	}
	if len(scopes) == 0 {
		return ""
	}
	return scopes[0]
}

// asActor records the signed-in admin as the actor of what follows, for the
// audit log.
func asActor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(auth.WithActor(r.Context(), claimsOf(r).Subject)))
	})
}

// access says which other origins may call a route (CORS).
type access int

const (
	sameOrigin          access = iota // no CORS header
	browserApps                       // the origins of --cors-origins, with credentials
	browserAppsAndForms               // browserApps, form posts included: OAuth 2.0 takes form bodies (RFC 6749 3.2, RFC 7009 2.1, RFC 6750 2.2)
	anyOrigin                         // every origin, without credentials: public documents
)

// protection is what a route's page side needs before its handler runs.
type protection int

const (
	openToAll protection = iota // the API (guarded by user/admin), public pages
	signedIn                    // a signed-in browser, else /login?next=
	adminOnly                   // a signed-in administrator, else 403
)

// router records the methods of each path, so that a known path asked with
// another method answers 405 (with Allow) and an unknown one 404, both in
// the contract's JSON.
type router struct {
	methods map[string][]string
	order   []string
	routes  []*route
	cors    corsPolicy
	hints   *hints
	site    *web.Site
}

// route is one line of the route table: a page, the API, or both (a
// browser's navigation or form gets the page, anyone else the API).
type route struct {
	pattern string
	page    http.Handler // nil: API only
	needs   protection   // of the page
	api     http.Handler // nil: page only
	cors    access       // of the API; a page never gets CORS headers
}

// api lists a JSON API route; user(...) or admin(...) around h protect it.
func (r *router) api(pattern string, cors access, h http.Handler) {
	r.add(&route{pattern: pattern, api: h, cors: cors})
}

// page lists a page of a signed-in user: web.Site.SignedIn checks the
// session (refreshing it silently) before h runs.
func (r *router) page(pattern string, h web.SessionHandler) *route {
	return r.add(&route{pattern: pattern, page: r.site.SignedIn(h), needs: signedIn})
}

// adminPage lists a page of administrators (web.Site.Admin).
func (r *router) adminPage(pattern string, h web.SessionHandler) *route {
	return r.add(&route{pattern: pattern, page: r.site.Admin(h), needs: adminOnly})
}

// publicPage lists a page anyone may open.
func (r *router) publicPage(pattern string, h http.Handler) *route {
	return r.add(&route{pattern: pattern, page: h})
}

// orAPI makes a page's route answer the JSON API to anyone but a browser's
// navigation or form post.
func (rt *route) orAPI(cors access, h http.Handler) {
	rt.api, rt.cors = h, cors
}

func (r *router) add(rt *route) *route {
	method, path, _ := strings.Cut(rt.pattern, " ")
	if _, seen := r.methods[path]; !seen {
		r.order = append(r.order, path)
	}
	r.methods[path] = append(r.methods[path], withHead(method)...)
	r.routes = append(r.routes, rt)
	return rt
}

// handler is what answers the route.
func (rt *route) handler() http.Handler {
	if rt.page == nil {
		return rt.api
	}
	if rt.api == nil {
		return rt.page
	}
	page, api := rt.page, rt.api
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if web.WantsPage(r) {
			page.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

func withHead(method string) []string {
	if method == http.MethodGet {
		return []string{http.MethodGet, http.MethodHead}
	}
	return []string{method}
}

// finish mounts every route on mux, with its CORS policy, and answers a
// path's preflights (OPTIONS with Access-Control-Request-Method) when it has
// CORS routes; other OPTIONS requests stay 405.
func (r *router) finish(mux *http.ServeMux) {
	apiMethods, publicMethods := map[string][]string{}, map[string][]string{}
	for _, rt := range r.routes {
		method, path, _ := strings.Cut(rt.pattern, " ")
		switch {
		case rt.cors == browserApps || rt.cors == browserAppsAndForms:
			apiMethods[path] = append(apiMethods[path], withHead(method)...)
		case rt.cors == anyOrigin:
			publicMethods[path] = append(publicMethods[path], withHead(method)...)
		case path == "/me" || strings.HasPrefix(path, "/me/"):
			panic("httpapi: route " + rt.pattern + " is under /me but not open to browserApps (routes.go)")
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
			panic("httpapi: path " + path + " is open to both browserApps and anyOrigin")
		}
		policies[path] = r.cors.public(methods)
	}
	for _, rt := range r.routes {
		_, path, _ := strings.Cut(rt.pattern, " ")
		h := refuseLargeBodies(rt.handler())
		if c := policies[path]; c != nil && rt.cors != sameOrigin {
			if rt.cors == browserAppsAndForms {
				h = c.Handler(h) // their form posts are the API, never a page
			} else {
				h = withCORS(c, h)
			}
		}
		if rt.cors == browserApps || rt.cors == browserAppsAndForms {
			h = r.hints.hintUnlistedOrigin(r.cors.origins, h)
		}
		mux.Handle(rt.pattern, labelled(rt.pattern, h))
	}
	for _, path := range r.order {
		if c := policies[path]; c != nil {
			allow := slices.Clone(r.methods[path])
			slices.Sort(allow)
			var h http.Handler = c.Handler(methodNotAllowed(allow))
			if apiMethods[path] != nil {
				h = r.hints.hintUnlistedOrigin(r.cors.origins, h)
			}
			mux.Handle("OPTIONS "+path, labelled("OPTIONS "+path, h))
		}
	}
	// A literal path that a wildcard path also matches ("/login/mfa" and
	// "/login/{provider}") has no fallback of its own, which would conflict
	// with the wildcard's routes: the wildcard's fallback answers it, with
	// its own Allow.
	covered := map[string][]string{} // wildcard path -> the literal paths it covers
	skip := map[string]bool{}
	for _, lit := range r.order {
		for _, wild := range r.order {
			if lit != wild && !strings.Contains(lit, "{") && coversPath(wild, lit) {
				covered[wild], skip[lit] = append(covered[wild], lit), true
			}
		}
	}
	for _, path := range r.order {
		if strings.HasSuffix(path, "/") || skip[path] {
			continue // subtrees: anything else under them is 404
		}
		h := r.notAllowed(path, apiMethods)
		if lits := covered[path]; lits != nil {
			own, byPath := h, map[string]http.Handler{}
			for _, lit := range lits {
				byPath[lit] = r.notAllowed(lit, apiMethods)
			}
			h = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if lit, ok := byPath[req.URL.Path]; ok {
					lit.ServeHTTP(w, req)
					return
				}
				own.ServeHTTP(w, req)
			})
		}
		mux.Handle(path, labelled(path, h)) // "/{$}" is the root alone
	}
	mux.HandleFunc("/", notFound)
}

// notAllowed is path's 405 answer, with its Allow.
func (r *router) notAllowed(path string, apiMethods map[string][]string) http.Handler {
	allow := slices.Clone(r.methods[path])
	slices.Sort(allow)
	var h http.Handler = methodNotAllowed(allow)
	if apiMethods[path] != nil { // a preflight when no origin is listed
		h = r.hints.hintUnlistedOrigin(r.cors.origins, h)
	}
	return h
}

// coversPath reports whether the wildcard path pattern matches the literal
// path: as many segments, each equal or a single-segment wildcard.
func coversPath(pattern, path string) bool {
	ps, ls := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(ls) || !strings.Contains(pattern, "{") {
		return false
	}
	for i := range ps {
		wild := strings.HasPrefix(ps[i], "{") && strings.HasSuffix(ps[i], "}") && !strings.HasSuffix(ps[i], "...}") && ps[i] != "{$}"
		if !wild && ps[i] != ls[i] {
			return false
		}
	}
	return true
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
