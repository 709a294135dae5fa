package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/books"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
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

// session is a signed-in page request.
type session struct {
	claims *guard.Claims
	page   web.Page // Title, CSRF and User filled in
}

// signedIn authenticates a page request by its cookies. When the access
// cookie has expired (or the browser has dropped it) and the refresh cookie
// is valid, it refreshes silently, after the CSRF check on unsafe methods.
// When it returns false the response is written: a redirect to the login
// page, or a refusal.
func signedIn(d Deps, w http.ResponseWriter, r *http.Request, title string) (session, bool) {
	claims, err := d.Guard.Authenticate(r)
	var ge *guard.Error
	if errors.As(err, &ge) && ge.Code == "csrf_failed" {
		renderRefusal(d, w, r, http.StatusForbidden, "This form has expired or came from another site. Reload the page and try again.")
		return session{}, false
	}
	csrf := ""
	if c, err := r.Cookie(csrfCookie); err == nil {
		csrf = c.Value
	}
	if err != nil {
		refresh, cerr := r.Cookie(refreshCookie)
		if cerr != nil || refresh.Value == "" {
			toLogin(w, r)
			return session{}, false
		}
		if !isSafeMethod(r.Method) && d.Guard.CheckCSRF(r) != nil {
			renderRefusal(d, w, r, http.StatusForbidden, "This form has expired or came from another site. Reload the page and try again.")
			return session{}, false
		}
		tokens, err := d.Auth.Refresh(r.Context(), refresh.Value)
		if err != nil {
			clearSessionCookies(w)
			toLogin(w, r)
			return session{}, false
		}
		csrf = setSessionCookies(w, tokens, csrf)
		if claims, err = d.Guard.Verify(tokens.AccessToken); err != nil {
			toLogin(w, r)
			return session{}, false
		}
	}
	u, err := d.Auth.User(r.Context(), claims.Subject)
	if err != nil {
		toLogin(w, r)
		return session{}, false
	}
	if csrf == "" {
		csrf = ensureCSRFCookie(w, r)
	}
	return session{claims: claims, page: web.Page{Title: title, CSRF: csrf,
		User: &web.User{ID: u.ID, Email: u.Email, Username: u.Username, Name: u.Name, Role: u.Role}}}, true
}

func isSafeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// toLogin sends the browser to the login page, to come back here after.
func toLogin(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if isSafeMethod(r.Method) {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func renderRefusal(d Deps, w http.ResponseWriter, r *http.Request, status int, message string) {
	d.Pages.Render(w, status, "error", web.Page{Title: http.StatusText(status), Error: message})
}

// wantsPage reports whether a request for a path that is both an API route
// and a page (/books) comes from a browser: an HTML navigation or form.
func wantsPage(r *http.Request) bool {
	if r.Method == http.MethodGet {
		return strings.Contains(r.Header.Get("Accept"), "text/html")
	}
	return httpjson.IsForm(r)
}

// pageOrAPI routes a browser to page and anyone else to api.
func pageOrAPI(page, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wantsPage(r) {
			page.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
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
func formError(d Deps, w http.ResponseWriter, r *http.Request, page *web.Page, err error, byCode map[string]string) int {
	httpjson.SetRetryAfter(w, err)
	status := httpjson.Status(auth.ErrorCode(err))
	if status == http.StatusInternalServerError {
		d.Log.ErrorContext(r.Context(), "internal error", "path", r.URL.Path, "err", err)
	}
	if page.FieldErrors = fieldOf(err, byCode); page.FieldErrors == nil {
		page.Error = auth.ErrorMessage(err)
	}
	return status
}

// handleDashboard serves GET /dashboard: the profile and the name form.
func handleDashboard(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Dashboard")
		if !ok {
			return
		}
		switch r.URL.Query().Get("done") {
		case "name":
			s.page.Notice = "Your name is saved."
		case "password":
			s.page.Notice = "Your password is changed, and every other session has ended."
		}
		d.Pages.Render(w, http.StatusOK, "dashboard", s.page)
	})
}

// handleNameForm serves POST /dashboard/name.
func handleNameForm(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Dashboard")
		if !ok {
			return
		}
		name := r.PostFormValue("name")
		if _, err := d.Auth.UpdateProfile(r.Context(), s.claims.Subject, &name); err != nil {
			status := formError(d, w, r, &s.page, err, map[string]string{auth.CodeInvalidRequest: "name"})
			d.Pages.Render(w, status, "dashboard", s.page)
			return
		}
		http.Redirect(w, r, "/dashboard?done=name", http.StatusSeeOther)
	})
}

// handleSessionsPage serves GET /sessions.
func handleSessionsPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Sessions")
		if !ok {
			return
		}
		list, _, err := d.Auth.Sessions(r.Context(), s.claims.Subject, auth.SessionPage{Limit: 200}) // the newest 200
		if err != nil {
			renderRefusal(d, w, r, http.StatusInternalServerError, auth.ErrorMessage(err))
			return
		}
		rows := make([]web.Session, len(list))
		for i, x := range list {
			rows[i] = web.Session{ID: x.ID, Created: when(x.CreatedAt), LastUsed: when(x.LastUsedAt), UserAgent: x.UserAgent,
				IP: x.IP, Current: x.ID == s.claims.SessionID}
		}
		switch r.URL.Query().Get("done") {
		case "one":
			s.page.Notice = "The session has ended."
		case "others":
			s.page.Notice = "Every other session has ended."
		}
		s.page.Data = rows
		d.Pages.Render(w, http.StatusOK, "sessions", s.page)
	})
}

func when(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }

// handleEndSessionForm serves POST /sessions/{id}/end and /sessions/end-others.
func handleEndSessionForm(d Deps, others bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Sessions")
		if !ok {
			return
		}
		var err error
		done := "one"
		if others {
			err, done = d.Auth.EndOtherSessions(r.Context(), s.claims.Subject, s.claims.SessionID), "others"
		} else {
			err = d.Auth.EndSession(r.Context(), s.claims.Subject, r.PathValue("id"))
		}
		if err != nil {
			renderRefusal(d, w, r, httpjson.Status(auth.ErrorCode(err)), auth.ErrorMessage(err))
			return
		}
		http.Redirect(w, r, "/sessions?done="+done, http.StatusSeeOther)
	})
}

// handlePasswordPage serves GET /password.
func handlePasswordPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := signedIn(d, w, r, "Change password"); ok {
			d.Pages.Render(w, http.StatusOK, "password", s.page)
		}
	})
}

// handlePasswordForm serves POST /password: on success the browser gets the
// cookies of its new session.
func handlePasswordForm(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Change password")
		if !ok {
			return
		}
		tokens, err := d.Auth.ChangePassword(r.Context(), s.claims.Subject, s.claims.SessionID,
			r.PostFormValue("current_password"), r.PostFormValue("new_password"))
		if err != nil {
			status := formError(d, w, r, &s.page, err, map[string]string{
				auth.CodeInvalidCredentials: "current_password", auth.CodeWeakPassword: "new_password"})
			if auth.ErrorCode(err) == auth.CodeInvalidCredentials {
				s.page.FieldErrors["current_password"] = "The current password is not right."
			}
			d.Pages.Render(w, status, "password", s.page)
			return
		}
		setSessionCookies(w, tokens, s.page.CSRF)
		http.Redirect(w, r, "/dashboard?done=password", http.StatusSeeOther)
	})
}

// handleBooksPage serves GET /books for browsers.
func handleBooksPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := signedIn(d, w, r, "Books"); ok {
			renderBooks(d, w, r, s, http.StatusOK)
		}
	})
}

func renderBooks(d Deps, w http.ResponseWriter, r *http.Request, s session, status int) {
	list, err := d.Books.Books(r.Context(), s.claims.Subject)
	if err != nil {
		renderRefusal(d, w, r, http.StatusInternalServerError, auth.ErrorMessage(err))
		return
	}
	rows := make([]web.Book, len(list))
	for i, b := range list {
		rows[i] = web.Book{ID: b.ID, Title: b.Title, Author: b.Author, Publisher: b.Publisher, Price: b.Price}
	}
	s.page.Data = rows
	d.Pages.Render(w, status, "books", s.page)
}

// bookForm reads a book form; an empty price means 0.
func bookForm(r *http.Request) (books.Input, error) {
	in := books.Input{}
	title, author, publisher := r.PostFormValue("title"), r.PostFormValue("author"), r.PostFormValue("publisher")
	in.Title, in.Author, in.Publisher = &title, &author, &publisher
	price := int64(0)
	if s := strings.TrimSpace(r.PostFormValue("price")); s != "" {
		p, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return in, auth.Errorf(auth.CodeInvalidRequest, "The price must be a whole number of at least 0.")
		}
		price = p
	}
	in.Price = &price
	return in, nil
}

// handleBookForm serves the books page's forms: POST /books (add), and
// POST /books/{id}/edit and /books/{id}/delete.
func handleBookForm(d Deps, action string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Books")
		if !ok {
			return
		}
		owner, id := s.claims.Subject, r.PathValue("id")
		var err error
		switch action {
		case "add":
			var in books.Input
			var b books.Book
			if in, err = bookForm(r); err == nil {
				if b, err = books.New(owner, in, d.Now()); err == nil {
					err = d.Books.CreateBook(r.Context(), b)
				}
			}
			if err != nil {
				s.page.Form = map[string]string{"title": r.PostFormValue("title"), "author": r.PostFormValue("author"),
					"publisher": r.PostFormValue("publisher"), "price": r.PostFormValue("price")}
				status := formError(d, w, r, &s.page, err, nil) // the message names the field
				renderBooks(d, w, r, s, status)
				return
			}
		case "edit":
			var in books.Input
			var b books.Book
			if in, err = bookForm(r); err == nil {
				if b, err = d.Books.Book(r.Context(), id, owner); err == nil {
					if err = in.Apply(&b); err == nil {
						b.UpdatedAt = d.Now().UTC().Truncate(time.Millisecond)
						err = d.Books.UpdateBook(r.Context(), b)
					}
				}
			}
		case "delete":
			err = d.Books.DeleteBook(r.Context(), id, owner)
		}
		if err != nil {
			if auth.ErrorCode(err) == auth.CodeInvalidRequest {
				s.page.Error = auth.ErrorMessage(err)
				renderBooks(d, w, r, s, http.StatusBadRequest)
				return
			}
			renderRefusal(d, w, r, httpjson.Status(auth.ErrorCode(err)), auth.ErrorMessage(err))
			return
		}
		http.Redirect(w, r, "/books", http.StatusSeeOther)
	})
}

// handleAdminUsersPage serves GET /admin/users: search and pages of users.
func handleAdminUsersPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Users")
		if !ok {
			return
		}
		if s.claims.Role != auth.RoleAdmin {
			renderRefusal(d, w, r, http.StatusForbidden, "This page is for administrators.")
			return
		}
		q := r.URL.Query()
		f := auth.UserFilter{Prefix: q.Get("q"), Limit: 50, After: q.Get("cursor")}
		users, next, err := d.Auth.ListUsers(r.Context(), f)
		if err != nil {
			renderRefusal(d, w, r, httpjson.Status(auth.ErrorCode(err)), auth.ErrorMessage(err))
			return
		}
		data := web.AdminUsers{Query: f.Prefix, Next: next}
		for _, u := range users {
			data.Users = append(data.Users, web.AdminUser{ID: u.ID, Email: u.Email, Username: u.Username, Name: u.Name,
				Role: u.Role, Created: when(u.CreatedAt), Disabled: u.Disabled, Self: u.ID == s.claims.Subject})
		}
		if q.Get("done") == "1" {
			s.page.Notice = "Saved; that user's sessions have ended."
		}
		s.page.Data = data
		d.Pages.Render(w, http.StatusOK, "admin_users", s.page)
	})
}

// handleAdminUserForm serves POST /admin/users/{id}: role or disabled.
func handleAdminUserForm(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Users")
		if !ok {
			return
		}
		if s.claims.Role != auth.RoleAdmin {
			renderRefusal(d, w, r, http.StatusForbidden, "This page is for administrators.")
			return
		}
		id := r.PathValue("id")
		var role *string
		var disabled *bool
		if v := r.PostFormValue("role"); v != "" {
			role = &v
		}
		if v := r.PostFormValue("disabled"); v != "" {
			b := v == "true"
			disabled = &b
		}
		if id == s.claims.Subject || (role == nil && disabled == nil) {
			renderRefusal(d, w, r, http.StatusForbidden, auth.ErrorMessage(errSelfAdmin))
			return
		}
		ctx := auth.WithActor(r.Context(), s.claims.Subject)
		if _, err := d.Auth.AdminUpdate(ctx, id, role, disabled); err != nil {
			renderRefusal(d, w, r, httpjson.Status(auth.ErrorCode(err)), auth.ErrorMessage(err))
			return
		}
		http.Redirect(w, r, "/admin/users?done=1", http.StatusSeeOther)
	})
}
