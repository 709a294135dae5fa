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
		if hint := r.URL.Query().Get("login_hint"); hint != "" && len(hint) <= 254 { // OpenID Connect's login_hint
			page.Form = map[string]string{"identifier": hint}
		}
		// Logging in on the way of an authorization request ends at the
		// application's redirect URI: the form may go there.
		page.FormTargets = authorizeFormTargets(d, r, page.Next)
		switch {
		case r.URL.Query().Get("registered") == "1":
			page.Notice = "Your account is ready. Log in to continue."
		case r.URL.Query().Get("reset") == "1":
			page.Notice = "Your password is set, and every session has ended. Log in with the new password."
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
	claims, csrf, err := pageClaims(d, w, r, true)
	if errors.Is(err, errFormExpired) {
		renderError(d, w, r, errFormExpired)
		return session{}, false
	}
	if err != nil {
		toLogin(w, r)
		return session{}, false
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
		User: &web.User{ID: u.ID, Email: u.Email, Username: u.Username, Name: u.Name, Role: u.Role, EmailVerified: u.EmailVerified}}}, true
}

var errNoPageSession = errors.New("no signed-in session")

// pageClaims finds the browser's session by its cookies, refreshing
// silently when only the refresh cookie is still good (new cookies are set
// on w). With checkCSRF, an unsafe method must pass the CSRF checks
// (errFormExpired); without, the cookies are only read, for a request that
// changes nothing of the session (an OpenID Connect authorization request
// posted by another site). It returns the claims and the CSRF token, or
// errNoPageSession.
func pageClaims(d Deps, w http.ResponseWriter, r *http.Request, checkCSRF bool) (*guard.Claims, string, error) {
	var claims *guard.Claims
	var err error
	if checkCSRF {
		claims, err = d.Guard.Authenticate(r)
	} else if c, cerr := r.Cookie(accessCookie); cerr == nil && c.Value != "" {
		claims, err = d.Guard.Verify(c.Value)
	} else {
		err = errNoPageSession
	}
	var ge *guard.Error
	if errors.As(err, &ge) && ge.Code == guard.CodeCSRFFailed {
		return nil, "", errFormExpired
	}
	csrf := ""
	if c, err := r.Cookie(csrfCookie); err == nil {
		csrf = c.Value
	}
	if err != nil {
		refresh, cerr := r.Cookie(refreshCookie)
		if cerr != nil || refresh.Value == "" {
			return nil, "", errNoPageSession
		}
		if checkCSRF && !guard.IsSafeMethod(r.Method) && d.Guard.CheckCSRF(r) != nil {
			return nil, "", errFormExpired
		}
		tokens, err := d.Auth.Refresh(r.Context(), refresh.Value)
		if err != nil {
			clearSessionCookies(w)
			return nil, "", errNoPageSession
		}
		csrf = setSessionCookies(w, tokens, csrf)
		if claims, err = d.Guard.Verify(tokens.AccessToken); err != nil {
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

// renderError answers err as the error page, with the status, headers and
// message that the JSON API gives the same error (httpjson.Prepare).
func renderError(d Deps, w http.ResponseWriter, r *http.Request, err error) {
	status, _, message := httpjson.Prepare(w, r, d.Log, err)
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
	status, _, message := httpjson.Prepare(w, r, d.Log, err)
	if page.FieldErrors = fieldOf(err, byCode); page.FieldErrors == nil {
		page.Error = message
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
		case "verify":
			s.page.Notice = "A verification link is on its way to " + s.page.User.Email + "."
		case "email":
			s.page.Notice = "A confirmation link is on its way to the new address; your current address keeps working until you open it."
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
			renderError(d, w, r, err)
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
			renderError(d, w, r, err)
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
		tokens, err := d.Auth.ChangePassword(r.Context(), auth.ChangePasswordInput{UserID: s.claims.Subject, SessionID: s.claims.SessionID,
			Current: r.PostFormValue("current_password"), New: r.PostFormValue("new_password"), Client: client(d, r)})
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

// handleBooksPage serves GET /books?cursor= for browsers: a page of the
// user's books, with a link to the next.
func handleBooksPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := signedIn(d, w, r, "Books"); ok {
			renderBooks(d, w, r, s, http.StatusOK)
		}
	})
}

func renderBooks(d Deps, w http.ResponseWriter, r *http.Request, s session, status int) {
	cursor := ""
	if r.Method == http.MethodGet {
		cursor = r.URL.Query().Get("cursor")
	}
	list, next, err := d.Books.List(r.Context(), bookCaller(s.claims), books.ListQuery{Cursor: cursor})
	if err != nil {
		renderError(d, w, r, err)
		return
	}
	data := booksPage{Next: next}
	for _, b := range list {
		data.Books = append(data.Books, web.Book{ID: b.ID, Title: b.Title, Author: b.Author, Publisher: b.Publisher, Price: b.Price})
	}
	s.page.Data = data
	d.Pages.Render(w, status, "books", s.page)
}

// bookForm reads a book form as the Service's partial Input: a field the form
// does not send is left as it is, and an empty price means 0.
func bookForm(r *http.Request) (books.Input, error) {
	var in books.Input
	if err := parseForm(r); err != nil {
		return in, err
	}
	field := func(name string) *string {
		if vs, ok := r.PostForm[name]; ok && len(vs) > 0 {
			return &vs[0]
		}
		return nil
	}
	in.Title, in.Author, in.Publisher = field("title"), field("author"), field("publisher")
	if p := field("price"); p != nil {
		price := int64(0)
		if s := strings.TrimSpace(*p); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return in, books.ErrPrice
			}
			price = n
		}
		in.Price = &price
	}
	return in, nil
}

// handleBookForm serves the books page's forms: POST /books (add), and
// POST /books/{id}/edit and /books/{id}/delete. The rules are the Service's,
// as for the JSON API; this only reads the form and shows the outcome.
func handleBookForm(d Deps, action string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Books")
		if !ok {
			return
		}
		owner, id := s.claims.Subject, r.PathValue("id")
		in, err := bookForm(r)
		if err == nil {
			switch action {
			case "add":
				_, err = d.Books.Create(r.Context(), owner, in)
			case "edit":
				_, err = d.Books.Update(r.Context(), owner, id, in)
			case "delete":
				err = d.Books.Delete(r.Context(), owner, id)
			}
		}
		if err == nil {
			http.Redirect(w, r, "/books", http.StatusSeeOther)
			return
		}
		if auth.ErrorCode(err) != auth.CodeInvalidRequest {
			renderError(d, w, r, err)
			return
		}
		if action == "add" {
			s.page.Form = map[string]string{"title": r.PostFormValue("title"), "author": r.PostFormValue("author"),
				"publisher": r.PostFormValue("publisher"), "price": r.PostFormValue("price")}
		}
		status := formError(d, w, r, &s.page, err, nil) // the message names the field
		renderBooks(d, w, r, s, status)
	})
}

// handleAdminUsersPage serves GET /admin/users: search and pages of users.
func handleAdminUsersPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Users")
		if !ok {
			return
		}
		if err := guard.CheckRole(s.claims, auth.RoleAdmin); err != nil {
			renderError(d, w, r, err)
			return
		}
		q := r.URL.Query()
		f := auth.UserFilter{Prefix: q.Get("q"), Limit: 50, After: q.Get("cursor")}
		users, next, err := d.Auth.ListUsers(r.Context(), f)
		if err != nil {
			renderError(d, w, r, err)
			return
		}
		data := web.AdminUsers{Query: f.Prefix, Next: next}
		for _, u := range users {
			data.Users = append(data.Users, web.AdminUser{ID: u.ID, Email: u.Email, Username: u.Username, Name: u.Name,
				Role: u.Role, Created: when(u.CreatedAt), Disabled: u.Disabled, Self: u.ID == s.claims.Subject, MFA: u.MFA.Enabled()})
		}
		switch q.Get("done") {
		case "1":
			s.page.Notice = "Saved; that user's sessions have ended."
		case "mfa":
			s.page.Notice = "That user's second factors are removed and their sessions ended; they were mailed."
		}
		s.page.Data = data
		d.Pages.Render(w, http.StatusOK, "admin_users", s.page)
	})
}

// handleAdminUserForm serves POST /admin/users/{id}: role or disabled, as
// PATCH /users/{id} does, through the same auth.Service.AdminUpdate.
func handleAdminUserForm(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Users")
		if !ok {
			return
		}
		if err := guard.CheckRole(s.claims, auth.RoleAdmin); err != nil {
			renderError(d, w, r, err)
			return
		}
		if err := parseForm(r); err != nil {
			renderError(d, w, r, err)
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
				renderError(d, w, r, auth.Errorf(auth.CodeInvalidRequest, "The disabled field must be true or false."))
				return
			}
			disabled = &b
		}
		if _, err := d.Auth.AdminUpdate(r.Context(), s.claims.Subject, r.PathValue("id"), role, disabled); err != nil {
			renderError(d, w, r, err)
			return
		}
		target := "/admin/users"
		if role != nil || disabled != nil {
			target += "?done=1"
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}
