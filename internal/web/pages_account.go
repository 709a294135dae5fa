package web

import (
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// AccountPages are the signed-in user's own account: the dashboard (name,
// verification and change of the email address), the sessions and the
// password. The rules are auth.Accounts', auth.Sessions' and
// auth.Recovery's, as for the API.
type AccountPages struct{ *Site }

// Dashboard serves GET /dashboard: the profile and the name form.
func (site *AccountPages) Dashboard(w http.ResponseWriter, r *http.Request, s *Session) {
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
func (site *AccountPages) NameForm(w http.ResponseWriter, r *http.Request, s *Session) {
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
func (site *AccountPages) VerifyRequestForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := site.Recovery.RequestVerification(r.Context(), s.Claims.Subject, site.Client(r)); err != nil {
		p := s.page("Dashboard")
		status := site.formError(w, r, &p, err, map[string]string{auth.CodeInvalidRequest: "verify", auth.CodeTooManyRequests: "verify"})
		site.Pages.Render(w, status, "dashboard", p)
		return
	}
	http.Redirect(w, r, "/dashboard?done=verify", http.StatusSeeOther)
}

// ChangeEmailForm serves POST /dashboard/email.
func (site *AccountPages) ChangeEmailForm(w http.ResponseWriter, r *http.Request, s *Session) {
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
func (site *AccountPages) SessionsPage(w http.ResponseWriter, r *http.Request, s *Session) {
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
func (site *AccountPages) EndSessionForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.afterSessionsForm(w, r, "one", site.Sessions.EndSession(r.Context(), s.Claims.Subject, r.PathValue("id")))
}

// EndOtherSessionsForm serves POST /sessions/end-others.
func (site *AccountPages) EndOtherSessionsForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.afterSessionsForm(w, r, "others", site.Sessions.EndOtherSessions(r.Context(), s.Claims.Subject, s.Claims.SessionID))
}

func (site *AccountPages) afterSessionsForm(w http.ResponseWriter, r *http.Request, done string, err error) {
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/sessions?done="+done, http.StatusSeeOther)
}

// PasswordPage serves GET /password.
func (site *AccountPages) PasswordPage(w http.ResponseWriter, r *http.Request, s *Session) {
	site.Pages.Render(w, http.StatusOK, "password", s.page("Change password"))
}

// PasswordForm serves POST /password: on success the browser gets the
// cookies of its new session.
func (site *AccountPages) PasswordForm(w http.ResponseWriter, r *http.Request, s *Session) {
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
