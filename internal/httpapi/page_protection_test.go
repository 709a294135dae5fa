package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
)

// protectedPages walks the route table's signed-in and admin pages, with
// their path parameters filled in (an {id} is bob's).
func protectedPages(t *testing.T, h *harness) (signedIn, admin [][2]string) {
	t.Helper()
	s, a := httpapi.PageRoutes(httpapi.Deps{Auth: h.app.Services, Guard: h.app.Guard, OIDC: h.app.OIDC,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	// The walk must not pass by walking nothing.
	for _, want := range []string{"GET /dashboard", "POST /password", "GET /books", "POST /books", "GET /security", "POST /apps/{client_id}/revoke"} {
		if !slices.Contains(s, want) {
			t.Fatalf("%s is not a signed-in page of the route table: %v", want, s)
		}
	}
	for _, want := range []string{"GET /admin/users", "POST /admin/users/{id}", "POST /admin/users/{id}/mfa-reset"} {
		if !slices.Contains(a, want) {
			t.Fatalf("%s is not an admin page of the route table: %v", want, a)
		}
	}
	fill := strings.NewReplacer("{id}", "ID:bob", "{client_id}", "some-app")
	split := func(patterns []string) (out [][2]string) {
		for _, p := range patterns {
			method, path, _ := strings.Cut(p, " ")
			out = append(out, [2]string{method, fill.Replace(path)})
		}
		return out
	}
	return split(s), split(a)
}

func TestProtectedPagesSendAnAnonymousBrowserToLogin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	signedIn, admin := protectedPages(t, h)
	for _, p := range append(signedIn, admin...) {
		method, path := p[0], p[1]
		r := req{method: method, path: path, headers: map[string]string{"Accept": "text/html"}}
		want := "/login"
		if method == "GET" {
			want += "?next=" + url.QueryEscape(strings.ReplaceAll(path, "ID:bob", h.users["bob"].ID))
		} else { // a form post, without session cookies
			r.contentType, r.body = "application/x-www-form-urlencoded", "csrf_token=x&role=admin&disabled=true&name=x"
		}
		w := h.do(r)
		if w.Code != 303 || w.Header().Get("Location") != want {
			t.Errorf("anonymous %s %s: %d to %q, want 303 to %q", method, path, w.Code, w.Header().Get("Location"), want)
		}
	}
}

func TestAdminPagesRefuseANonAdmin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, admin := protectedPages(t, h)
	for _, p := range admin {
		method, path := p[0], p[1]
		var w = page(h, "ann", path)
		if method == "POST" {
			w = form(h, "ann", path, url.Values{"role": {"admin"}, "disabled": {"true"}})
		}
		if w.Code != 403 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
			t.Errorf("ann %s %s: %d %s, want the 403 error page", method, path, w.Code, w.Header().Get("Content-Type"))
		}
	}
	bob, err := h.app.Services.Accounts.User(context.Background(), h.users["bob"].ID)
	if err != nil || bob.Role != "user" || bob.Disabled {
		t.Fatalf("bob after ann's admin forms: %+v, %v", bob, err)
	}
}
