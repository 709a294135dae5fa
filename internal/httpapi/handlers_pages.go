package httpapi

import (
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/web"
)

// handleLoginPage serves GET / and GET /login.
func handleLoginPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := web.Page{Title: "Log in", CSRF: ensureCSRFCookie(w, r), Next: safeNext(r.URL.Query().Get("next"))}
		if r.URL.Query().Get("registered") == "1" {
			page.Notice = "Your account is ready. Log in to continue."
		}
		d.Pages.Render(w, http.StatusOK, "login", page)
	})
}

// handleSignupPage serves GET /signup.
func handleSignupPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.Pages.Render(w, http.StatusOK, "signup", web.Page{Title: "Sign up", CSRF: ensureCSRFCookie(w, r)})
	})
}

// handleDashboard serves GET /dashboard for the signed-in user; without a
// valid session it sends the browser to the login page.
func handleDashboard(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := d.Guard.Authenticate(r)
		if err != nil {
			http.Redirect(w, r, "/login?next=/dashboard", http.StatusSeeOther)
			return
		}
		u, err := d.Auth.User(r.Context(), claims.Subject)
		if err != nil {
			http.Redirect(w, r, "/login?next=/dashboard", http.StatusSeeOther)
			return
		}
		d.Pages.Render(w, http.StatusOK, "dashboard", web.Page{Title: "Dashboard", CSRF: ensureCSRFCookie(w, r),
			User: &web.User{Email: u.Email, Username: u.Username, Name: u.Name, Role: u.Role}})
	})
}
