package httpapi_test

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// browser sends what a signed-in browser sends: the three cookies, and
// forms with the CSRF token.
func browser(h *harness, who string) map[string]string {
	t := h.tokens[who]
	return map[string]string{
		"Cookie": "__Host-access=" + t.AccessToken + "; __Host-refresh=" + t.RefreshToken + "; __Host-csrf=csrf-" + who,
		"Accept": "text/html,application/xhtml+xml",
	}
}

func form(h *harness, who, path string, values url.Values) *httptest.ResponseRecorder {
	values.Set("csrf_token", "csrf-"+who)
	return h.do(req{method: "POST", path: path, contentType: "application/x-www-form-urlencoded", body: values.Encode(), headers: browser(h, who)})
}

func page(h *harness, who, path string) *httptest.ResponseRecorder {
	return h.do(req{method: "GET", path: path, headers: browser(h, who)})
}

func TestPagesSignedIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, path := range []string{"/dashboard", "/sessions", "/password", "/books"} {
		w := page(h, "ann", path)
		if w.Code != 200 || !strings.Contains(w.Body.String(), `href="/sessions"`) || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d", path, w.Code)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "object-src 'none'") {
			t.Fatalf("%s: CSP %q", path, csp)
		}
	}
	if w := page(h, "ann", "/admin/users"); w.Code != 403 {
		t.Fatalf("admin page for a user: %d", w.Code)
	}
	if w := page(h, "admin", "/admin/users?q=bo"); w.Code != 200 || !strings.Contains(w.Body.String(), "bob@example.com") || strings.Contains(w.Body.String(), "ann@example.com") {
		t.Fatalf("admin page search: %d", w.Code)
	}
	if w := h.do(req{method: "GET", path: "/books", as: "ann"}); !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatal("an API client asking for /books got the page")
	}
}

func TestSilentRefresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.clock.Advance(16 * time.Minute) // the access token has expired; the refresh token has not
	w := page(h, "ann", "/dashboard")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Welcome Ann!") {
		t.Fatalf("expired access cookie: %d %s", w.Code, w.Header().Get("Location"))
	}
	if !hasCookie(w, "__Host-access", false) || !hasCookie(w, "__Host-refresh", false) {
		t.Fatal("no new cookies after the silent refresh")
	}
	if !strings.Contains(strings.Join(w.Header().Values("Set-Cookie"), ";"), "__Host-csrf=csrf-ann") {
		t.Fatal("the silent refresh changed the CSRF token under the open page's forms")
	}
	// With only the refresh cookie (the browser dropped the expired one).
	w = h.do(req{method: "GET", path: "/sessions", headers: map[string]string{"Cookie": "__Host-refresh=" + h.tokens["bob"].RefreshToken}})
	if w.Code != 200 {
		t.Fatalf("refresh cookie alone: %d", w.Code)
	}
	// A spent or unknown refresh token: back to the login page, cookies cleared.
	w = h.do(req{method: "GET", path: "/dashboard", headers: map[string]string{"Cookie": "__Host-refresh=nope"}})
	if w.Code != 303 || !strings.HasPrefix(w.Header().Get("Location"), "/login?next=") || !hasCookie(w, "__Host-refresh", true) {
		t.Fatalf("bad refresh cookie: %d %s", w.Code, w.Header().Get("Location"))
	}
	// An unsafe request with only a refresh cookie still needs the CSRF token.
	w = h.do(req{method: "POST", path: "/dashboard/name", contentType: "application/x-www-form-urlencoded", body: "name=X",
		headers: map[string]string{"Cookie": "__Host-refresh=" + h.tokens["admin"].RefreshToken + "; __Host-csrf=c"}})
	if w.Code != 403 {
		t.Fatalf("refresh-cookie form post without CSRF token: %d", w.Code)
	}
}

func TestPageForms(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if w := form(h, "ann", "/dashboard/name", url.Values{"name": {"<b>Ann</b> & co"}}); w.Code != 303 {
		t.Fatalf("name form: %d %s", w.Code, w.Body)
	}
	body := page(h, "ann", "/dashboard").Body.String()
	if strings.Contains(body, "<b>Ann</b>") || !strings.Contains(body, "&lt;b&gt;Ann&lt;/b&gt; &amp; co") {
		t.Fatal("a name with HTML is not rendered inert")
	}
	w := h.do(req{method: "POST", path: "/dashboard/name", contentType: "application/x-www-form-urlencoded", body: "name=X&csrf_token=wrong", headers: browser(h, "ann")})
	if w.Code != 403 {
		t.Fatalf("form with a wrong CSRF token: %d", w.Code)
	}
	if w := form(h, "ann", "/dashboard/name", url.Values{"name": {"a\x00b"}}); w.Code != 400 || !strings.Contains(w.Body.String(), `id="name-error"`) {
		t.Fatalf("invalid name: %d", w.Code)
	}

	// Books: add, edit, delete; another user's book is not found.
	if w := form(h, "ann", "/books", url.Values{"title": {"Dune"}, "author": {"Herbert"}, "price": {"12"}}); w.Code != 303 {
		t.Fatalf("add book: %d %s", w.Code, w.Body)
	}
	if w := form(h, "ann", "/books", url.Values{"title": {""}, "price": {"x"}}); w.Code != 400 || !strings.Contains(w.Body.String(), "role=\"alert\"") {
		t.Fatalf("invalid book: %d", w.Code)
	}
	id := field(decode(t, h.do(req{method: "GET", path: "/books", as: "ann"})), "books").([]any)[0].(map[string]any)["id"].(string)
	if w := form(h, "ann", "/books/"+id+"/edit", url.Values{"title": {"Dune Messiah"}, "price": {"15"}}); w.Code != 303 {
		t.Fatalf("edit book: %d", w.Code)
	}
	if !strings.Contains(page(h, "ann", "/books").Body.String(), "Dune Messiah") {
		t.Fatal("edited book not shown")
	}
	if w := form(h, "bob", "/books/"+id+"/delete", url.Values{}); w.Code != 404 {
		t.Fatalf("bob deletes ann's book: %d", w.Code)
	}
	if w := form(h, "ann", "/books/"+id+"/delete", url.Values{}); w.Code != 303 {
		t.Fatalf("delete book: %d", w.Code)
	}

	// Sessions: end all others.
	second := loginAgain(t, h, "ann@example.com", annPassword)
	if w := form(h, "ann", "/sessions/end-others", url.Values{}); w.Code != 303 {
		t.Fatalf("end others: %d", w.Code)
	}
	if w := h.do(req{method: "GET", path: "/me", headers: bearer(second)}); w.Code != 401 {
		t.Fatalf("the other session survived: %d", w.Code)
	}
	if w := page(h, "ann", "/dashboard"); w.Code != 200 {
		t.Fatalf("the current session died: %d", w.Code)
	}

	// Password: the wrong current password is shown beside its field.
	w = form(h, "ann", "/password", url.Values{"current_password": {"wrong wrong"}, "new_password": {"a brand new passphrase"}})
	if w.Header().Get("Retry-After") != "" {
		t.Fatal("Retry-After on a 401")
	}
	if w.Code != 401 || !strings.Contains(w.Body.String(), `id="current-error"`) {
		t.Fatalf("wrong current password: %d", w.Code)
	}
	w = form(h, "ann", "/password", url.Values{"current_password": {annPassword}, "new_password": {"a brand new passphrase"}})
	if w.Code != 303 || !hasCookie(w, "__Host-access", false) {
		t.Fatalf("password change: %d", w.Code)
	}

	// Admin: disabling bob ends his sessions.
	if w := form(h, "admin", "/admin/users/"+h.users["bob"].ID, url.Values{"disabled": {"true"}}); w.Code != 303 {
		t.Fatalf("admin disable: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "GET", path: "/me", as: "bob"}); w.Code != 401 {
		t.Fatalf("disabled user's token: %d", w.Code)
	}
	if w := form(h, "admin", "/admin/users/"+h.users["admin"].ID, url.Values{"role": {"user"}}); w.Code != 403 {
		t.Fatalf("admin demotes itself: %d", w.Code)
	}
}

func TestSignupFieldErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.do(req{method: "POST", path: "/signup", contentType: "application/x-www-form-urlencoded", body: "email=new%40example.com&password=password1"})
	if w.Code != 400 || !strings.Contains(w.Body.String(), `id="password-error"`) {
		t.Fatalf("weak password not shown beside the field: %d", w.Code)
	}
	w = h.do(req{method: "POST", path: "/signup", contentType: "application/x-www-form-urlencoded", body: "email=ann%40example.com&password=a+good+long+one"})
	if w.Code != 409 || !strings.Contains(w.Body.String(), `id="email-error"`) {
		t.Fatalf("taken email not shown beside the field: %d", w.Code)
	}
}
