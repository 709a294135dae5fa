package httpapi_test

import (
	"encoding/json"
	"html"
	"net/url"
	"strings"
	"testing"
)

// frontEndCase is one action taken through the JSON API and through the page
// form: both front ends are adapters over the same service method, so they
// must agree on the outcome (success, or the same status and message) and
// leave the same state behind.
type frontEndCase struct {
	name   string
	as     string
	path   string                  // ID:<user> and BOOK are replaced
	api    string                  // the JSON body of the API request (PATCH path)
	form   url.Values              // the fields of the page form (POST formPath)
	status int                     // the API's status; the page answers 303 for 200
	state  func(h *harness) string // what the action left behind, compared across front ends
}

func TestFrontEndsAgree(t *testing.T) {
	t.Parallel()
	user := func(name string) func(h *harness) string {
		return func(h *harness) string {
			u, err := h.app.Services.Accounts.User(t.Context(), h.users[name].ID)
			if err != nil {
				return "error " + err.Error()
			}
			return u.Role + " disabled=" + map[bool]string{true: "yes", false: "no"}[u.Disabled]
		}
	}
	book := func(h *harness) string {
		w := h.do(req{method: "GET", path: "/books", as: "ann"})
		var m struct {
			Books []struct {
				Title, Author, Publisher string
				Price                    int64
			}
		}
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		b, _ := json.Marshal(m.Books)
		return string(b)
	}
	admin := []frontEndCase{
		{name: "admin demotes itself", as: "admin", path: "/users/ID:admin", api: `{"role":"user"}`,
			form: url.Values{"role": {"user"}}, status: 403, state: user("admin")},
		{name: "admin disables itself", as: "admin", path: "/users/ID:admin", api: `{"disabled":true}`,
			form: url.Values{"disabled": {"true"}}, status: 403, state: user("admin")},
		{name: "empty change for another user", as: "admin", path: "/users/ID:bob", api: `{}`,
			form: url.Values{}, status: 200, state: user("bob")},
		{name: "empty change for itself", as: "admin", path: "/users/ID:admin", api: `{}`,
			form: url.Values{}, status: 200, state: user("admin")},
		{name: "disable another user", as: "admin", path: "/users/ID:bob", api: `{"disabled":true}`,
			form: url.Values{"disabled": {"true"}}, status: 200, state: user("bob")},
		{name: "promote another user", as: "admin", path: "/users/ID:bob", api: `{"role":"admin"}`,
			form: url.Values{"role": {"admin"}}, status: 200, state: user("bob")},
		{name: "unknown role", as: "admin", path: "/users/ID:bob", api: `{"role":"root"}`,
			form: url.Values{"role": {"root"}}, status: 400, state: user("bob")},
		{name: "unknown user", as: "admin", path: "/users/00000000-0000-7000-8000-000000000000", api: `{"disabled":true}`,
			form: url.Values{"disabled": {"true"}}, status: 404, state: user("bob")},
		{name: "not an admin", as: "ann", path: "/users/ID:bob", api: `{"disabled":true}`,
			form: url.Values{"disabled": {"true"}}, status: 403, state: user("bob")},
	}
	books := []frontEndCase{
		{name: "edit every field", as: "ann", path: "/books/BOOK", api: `{"title":" Emma ","author":"Austen","publisher":"Murray","price":7}`,
			form: url.Values{"title": {" Emma "}, "author": {"Austen"}, "publisher": {"Murray"}, "price": {"7"}}, status: 200, state: book},
		{name: "edit some fields", as: "ann", path: "/books/BOOK", api: `{"price":15}`,
			form: url.Values{"price": {"15"}}, status: 200, state: book},
		{name: "empty title", as: "ann", path: "/books/BOOK", api: `{"title":"  "}`,
			form: url.Values{"title": {"  "}}, status: 400, state: book},
		{name: "title too long", as: "ann", path: "/books/BOOK", api: `{"title":"` + strings.Repeat("é", 201) + `"}`,
			form: url.Values{"title": {strings.Repeat("é", 201)}}, status: 400, state: book},
		{name: "negative price", as: "ann", path: "/books/BOOK", api: `{"price":-1}`,
			form: url.Values{"price": {"-1"}}, status: 400, state: book},
		{name: "another user's book", as: "bob", path: "/books/BOOK", api: `{"title":"Mine"}`,
			form: url.Values{"title": {"Mine"}}, status: 404, state: book},
		{name: "unknown book", as: "ann", path: "/books/00000000-0000-7000-8000-000000000000", api: `{"title":"X"}`,
			form: url.Values{"title": {"X"}}, status: 404, state: book},
	}
	run := func(t *testing.T, c frontEndCase, formPath func(string) string) {
		type outcome struct {
			status         int
			message, state string
		}
		try := func(viaPage bool) outcome {
			h := newHarness(t)
			h.t = t
			path := strings.ReplaceAll(c.path, "BOOK", withBook(t, h))
			var o outcome
			if viaPage {
				w := form(h, c.as, formPath(path), c.form)
				o.status = w.Code
				if w.Code == 303 {
					o.status = 200
				} else if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
					t.Fatalf("page form answered %d %s, not a page", w.Code, w.Header().Get("Content-Type"))
				}
				o.message = w.Body.String()
			} else {
				w := h.do(req{method: "PATCH", path: path, as: c.as, body: c.api})
				o.status = w.Code
				var e struct{ Message string }
				_ = json.Unmarshal(w.Body.Bytes(), &e)
				o.message = html.EscapeString(e.Message)
			}
			o.state = c.state(h)
			return o
		}
		api, page := try(false), try(true)
		if api.status != c.status {
			t.Fatalf("API answered %d, want %d (%s)", api.status, c.status, api.message)
		}
		if page.status != api.status {
			t.Fatalf("page answered %d, API %d\npage: %s\nAPI message: %s", page.status, api.status, page.message, api.message)
		}
		if api.status != 200 && !strings.Contains(page.message, api.message) {
			t.Fatalf("the page does not say what the API says, %q:\n%s", api.message, page.message)
		}
		if page.state != api.state {
			t.Fatalf("state after the page %q, after the API %q", page.state, api.state)
		}
	}
	for _, c := range admin {
		t.Run("admin/"+c.name, func(t *testing.T) {
			run(t, c, func(p string) string { return "/admin" + p })
		})
	}
	for _, c := range books {
		t.Run("books/"+c.name, func(t *testing.T) {
			run(t, c, func(p string) string { return p + "/edit" })
		})
	}
}
