package web

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
)

// AdminPages are the administration pages: users, service clients
// (pages_admin_clients.go), webhooks (pages_admin_webhooks.go) and
// upstream providers (pages_admin_providers.go). routes.go mounts them
// through adminPage (Site.Admin), so only administrators reach these
// handlers.
type AdminPages struct{ *Site }

// UsersPage serves GET /admin/users: search and pages of users.
func (site *AdminPages) UsersPage(w http.ResponseWriter, r *http.Request, s *Session) {
	q := r.URL.Query()
	f := auth.UserQuery{Prefix: q.Get("q"), Cursor: q.Get("cursor"), Limit: 50}
	users, next, err := site.Accounts.ListUsers(r.Context(), f)
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	data := AdminUsers{Query: f.Prefix, Next: next}
	for _, u := range users {
		data.Users = append(data.Users, AdminUser{ID: u.ID, Email: u.Email, Username: u.Username, Name: u.Name,
			Role: u.Role, Created: when(u.CreatedAt), Disabled: u.Disabled, Self: u.ID == s.Claims.Subject, MFA: u.MFA.Enabled()})
	}
	p := s.page("Users")
	switch q.Get("done") {
	case "1":
		p.Notice = "Saved; that user's sessions have ended."
	case "mfa":
		p.Notice = "That user's second factors are removed and their sessions ended; they were mailed."
	}
	p.Data = data
	site.Pages.Render(w, http.StatusOK, "admin_users", p)
}

// UserForm serves POST /admin/users/{id}: role or disabled, as
// PATCH /users/{id} does, through the same auth.Accounts.AdminUpdate.
func (site *AdminPages) UserForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := httpjson.ParseForm(r); err != nil {
		site.renderError(w, r, err)
		return
	}
	var role *string
	var disabled *bool
	if v := r.PostFormValue("role"); v != "" {
		role = &v
	}
	if v := r.PostFormValue("disabled"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			site.renderError(w, r, auth.Errorf(auth.CodeInvalidRequest, "The disabled field must be true or false."))
			return
		}
		disabled = &b
	}
	if _, err := site.Accounts.AdminUpdate(r.Context(), s.Claims.Subject, r.PathValue("id"), role, disabled); err != nil {
		site.renderError(w, r, err)
		return
	}
	target := "/admin/users"
	if role != nil || disabled != nil {
		target += "?done=1"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// MFAResetForm serves POST /admin/users/{id}/mfa-reset, as
// DELETE /users/{id}/mfa does, through auth.Factors.ResetMFA.
func (site *AdminPages) MFAResetForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := site.Factors.ResetMFA(auth.WithActor(r.Context(), s.Claims.Subject), s.Claims.Subject, r.PathValue("id")); err != nil {
		site.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/users?done=mfa", http.StatusSeeOther)
}
