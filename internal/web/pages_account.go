package web

import (
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// The account's pages: login, sign-up, dashboard, sessions, password, and
// the pages of mailed links. The rules are auth.Accounts', auth.Sessions' and
// auth.Recovery's, as for the API.

// LoginPage serves GET / and GET /login.
func (site *Site) LoginPage(w http.ResponseWriter, r *http.Request) {
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

// SignupPage serves GET /signup.
func (site *Site) SignupPage(w http.ResponseWriter, r *http.Request) {
	// ?email= fills the address in (an invitation's page links here with the invited one).
	site.Pages.Render(w, http.StatusOK, "signup", Page{Title: "Sign up", CSRF: ensureCSRFCookie(w, r),
		Form: map[string]string{"email": r.URL.Query().Get("email")}, Providers: site.providerButtons(r.Context())})
}

// SignupForm serves the sign-up page's POST /signup (and /register): 303
// to /login?registered=1, or the page with the error.
func (site *Site) SignupForm(w http.ResponseWriter, r *http.Request) {
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
func (site *Site) LoginForm(w http.ResponseWriter, r *http.Request) {
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
func (site *Site) renderFormError(w http.ResponseWriter, r *http.Request, page string, err error, form map[string]string) {
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

// Dashboard serves GET /dashboard: the profile and the name form.
func (site *Site) Dashboard(w http.ResponseWriter, r *http.Request, s *Session) {
	p := s.page("Dashboard")
	switch r.URL.Query().Get("done") {
	case "name":
		p.Notice = "Your name is saved."
	case "password":
		p.Notice = "Your password is changed, and every other session has ended."
	case "verify":
		p.Notice = "A verification link is on its way to " + s.User.Email + "."
	case "email":
		p.Notice = "A confirmation link is on its way to the new address; your current address keeps working until you open it."
	}
	site.Pages.Render(w, http.StatusOK, "dashboard", p)
}

// NameForm serves POST /dashboard/name.
func (site *Site) NameForm(w http.ResponseWriter, r *http.Request, s *Session) {
	name := r.PostFormValue("name")
	if _, err := site.Accounts.UpdateProfile(r.Context(), s.Claims.Subject, &name); err != nil {
		p := s.page("Dashboard")
		status := site.formError(w, r, &p, err, map[string]string{auth.CodeInvalidRequest: "name"})
		site.Pages.Render(w, status, "dashboard", p)
		return
	}
	http.Redirect(w, r, "/dashboard?done=name", http.StatusSeeOther)
}

// VerifyRequestForm serves POST /dashboard/verify.
func (site *Site) VerifyRequestForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := site.Recovery.RequestVerification(r.Context(), s.Claims.Subject, site.Client(r)); err != nil {
		p := s.page("Dashboard")
		status := site.formError(w, r, &p, err, map[string]string{auth.CodeInvalidRequest: "verify", auth.CodeTooManyRequests: "verify"})
		site.Pages.Render(w, status, "dashboard", p)
		return
	}
	http.Redirect(w, r, "/dashboard?done=verify", http.StatusSeeOther)
}

// ChangeEmailForm serves POST /dashboard/email.
func (site *Site) ChangeEmailForm(w http.ResponseWriter, r *http.Request, s *Session) {
	email := r.PostFormValue("email")
	err := site.Recovery.RequestEmailChange(r.Context(), auth.ChangeEmailInput{UserID: s.Claims.Subject, SessionID: s.Claims.SessionID, Email: email,
		Password: r.PostFormValue("password"), Client: site.Client(r)})
	if err != nil {
		p := s.page("Dashboard")
		p.Form = map[string]string{"email": email}
		status := site.formError(w, r, &p, err, map[string]string{
			auth.CodeInvalidRequest: "email", auth.CodeInvalidCredentials: "password"})
		if auth.ErrorCode(err) == auth.CodeInvalidCredentials {
			p.FieldErrors["password"] = "The password is not right."
		}
		site.Pages.Render(w, status, "dashboard", p)
		return
	}
	http.Redirect(w, r, "/dashboard?done=email", http.StatusSeeOther)
}

// SessionsPage serves GET /sessions.
func (site *Site) SessionsPage(w http.ResponseWriter, r *http.Request, s *Session) {
	list, _, err := site.Sessions.Sessions(r.Context(), s.Claims.Subject, auth.SessionPage{Limit: 200}) // the newest 200
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	rows := make([]SessionRow, len(list))
	for i, x := range list {
		rows[i] = SessionRow{ID: x.ID, Created: when(x.CreatedAt), LastUsed: when(x.LastUsedAt), UserAgent: x.UserAgent,
			IP: x.IP, Current: x.ID == s.Claims.SessionID}
	}
	p := s.page("Sessions")
	switch r.URL.Query().Get("done") {
	case "one":
		p.Notice = "The session has ended."
	case "others":
		p.Notice = "Every other session has ended."
	}
	p.Data = rows
	site.Pages.Render(w, http.StatusOK, "sessions", p)
}

// EndSessionForm serves POST /sessions/{id}/end.
func (site *Site) EndSessionForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.afterSessionsForm(w, r, "one", site.Sessions.EndSession(r.Context(), s.Claims.Subject, r.PathValue("id")))
}

// EndOtherSessionsForm serves POST /sessions/end-others.
func (site *Site) EndOtherSessionsForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.afterSessionsForm(w, r, "others", site.Sessions.EndOtherSessions(r.Context(), s.Claims.Subject, s.Claims.SessionID))
}

func (site *Site) afterSessionsForm(w http.ResponseWriter, r *http.Request, done string, err error) {
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/sessions?done="+done, http.StatusSeeOther)
}

// PasswordPage serves GET /password.
func (site *Site) PasswordPage(w http.ResponseWriter, r *http.Request, s *Session) {
	site.Pages.Render(w, http.StatusOK, "password", s.page("Change password"))
}

// PasswordForm serves POST /password: on success the browser gets the
// cookies of its new session.
func (site *Site) PasswordForm(w http.ResponseWriter, r *http.Request, s *Session) {
	tokens, err := site.Sessions.ChangePassword(r.Context(), auth.ChangePasswordInput{UserID: s.Claims.Subject, SessionID: s.Claims.SessionID,
		Current: r.PostFormValue("current_password"), New: r.PostFormValue("new_password"), Client: site.Client(r)})
	if err != nil {
		p := s.page("Change password")
		status := site.formError(w, r, &p, err, map[string]string{
			auth.CodeInvalidCredentials: "current_password", auth.CodeWeakPassword: "new_password"})
		if auth.ErrorCode(err) == auth.CodeInvalidCredentials {
			p.FieldErrors["current_password"] = "The current password is not right."
		}
		site.Pages.Render(w, status, "password", p)
		return
	}
	SetSessionCookies(w, tokens, s.CSRF)
	http.Redirect(w, r, "/dashboard?done=password", http.StatusSeeOther)
}
