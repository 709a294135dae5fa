package httpapi_test

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// withBook gives ann a book and returns its id.
func withBook(t *testing.T, h *harness) string {
	t.Helper()
	w := h.do(req{method: "POST", path: "/books", as: "ann", body: `{"title":"Dune","author":"Frank Herbert","publisher":"Chilton","price":12}`})
	if w.Code != 201 {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	return field(decode(t, w), "book", "id").(string)
}

func TestBooks(t *testing.T) {
	t.Parallel()
	type bookCase struct {
		name     string
		req      func(id string) req
		status   int
		code     string
		wantBook map[string]any
	}
	cases := []bookCase{
		{name: "create", req: func(string) req {
			return req{method: "POST", path: "/books", as: "bob", body: `{"title":" Emma ","author":"Austen","price":0,"owner_id":"x","id":"y"}`}
		}, status: 201, wantBook: map[string]any{"title": "Emma", "author": "Austen", "publisher": "", "price": 0.0}},
		{name: "seed 002 alias and fields", req: func(string) req {
			return req{method: "POST", path: "/book", as: "bob", carrier: "header", body: `{"name":"Emma","Author":"Austen","Publisher":"Murray","book_prize":7}`}
		}, status: 201, wantBook: map[string]any{"title": "Emma", "author": "Austen", "publisher": "Murray", "price": 7.0}},
		{name: "create with cookie needs CSRF", req: func(string) req {
			return req{method: "POST", path: "/books", as: "bob", carrier: "cookie", body: `{"title":"Emma"}`}
		}, status: 403, code: "csrf_failed"},
		{name: "anonymous create", req: func(string) req { return req{method: "POST", path: "/books", body: `{"title":"Emma"}`} }, status: 401, code: "unauthorized"},
		{name: "empty title", req: func(string) req { return req{method: "POST", path: "/books", as: "bob", body: `{"title":"  "}`} }, status: 400, code: "invalid_request"},
		{name: "negative price", req: func(string) req {
			return req{method: "POST", path: "/books", as: "bob", body: `{"title":"E","price":-1}`}
		}, status: 400, code: "invalid_request"},
		{name: "fractional price", req: func(string) req {
			return req{method: "POST", path: "/books", as: "bob", body: `{"title":"E","price":1.5}`}
		}, status: 400, code: "invalid_request"},
		{name: "huge price", req: func(string) req {
			return req{method: "POST", path: "/books", as: "bob", body: `{"title":"E","price":99999999999999999999}`}
		}, status: 400, code: "invalid_request"},
		{name: "get own", req: func(id string) req { return req{method: "GET", path: "/books/" + id, as: "ann"} }, status: 200,
			wantBook: map[string]any{"title": "Dune", "price": 12.0}},
		{name: "get another user's book is 404", req: func(id string) req { return req{method: "GET", path: "/books/" + id, as: "bob"} }, status: 404, code: "not_found"},
		{name: "patch another user's book is 404", req: func(id string) req {
			return req{method: "PATCH", path: "/books/" + id, as: "bob", body: `{"title":"Mine"}`}
		}, status: 404, code: "not_found"},
		{name: "delete another user's book is 404", req: func(id string) req { return req{method: "DELETE", path: "/books/" + id, as: "bob"} }, status: 404, code: "not_found"},
		{name: "patch own partially", req: func(id string) req {
			return req{method: "PATCH", path: "/books/" + id, as: "ann", body: `{"price":15}`}
		}, status: 200, wantBook: map[string]any{"title": "Dune", "author": "Frank Herbert", "price": 15.0}},
		{name: "patch invalid", req: func(id string) req {
			return req{method: "PATCH", path: "/books/" + id, as: "ann", body: `{"title":""}`}
		}, status: 400, code: "invalid_request"},
		{name: "delete own", req: func(id string) req { return req{method: "DELETE", path: "/books/" + id, as: "ann"} }, status: 204},
		{name: "unknown book", req: func(string) req { return req{method: "GET", path: "/books/nope", as: "ann"} }, status: 404, code: "not_found"},
		{name: "non-admin all", req: func(string) req { return req{method: "GET", path: "/books?all=true", as: "bob"} }, status: 403, code: "forbidden"},
		{name: "bad all", req: func(string) req { return req{method: "GET", path: "/books?all=yes", as: "admin"} }, status: 400, code: "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.t = t
			w := h.do(c.req(withBook(t, h)))
			if w.Code != c.status || (c.code != "" && errorCode(w) != c.code) {
				t.Fatalf("got %d %s, want %d %s", w.Code, w.Body, c.status, c.code)
			}
			for k, v := range c.wantBook {
				if got := field(decode(t, w), "book", k); got != v {
					t.Fatalf("book.%s = %v, want %v (%s)", k, got, v, w.Body)
				}
			}
		})
	}
	t.Run("lists are per owner; admin sees all", func(t *testing.T) {
		h := newHarness(t)
		withBook(t, h)
		h.do(req{method: "POST", path: "/books", as: "bob", body: `{"title":"Emma"}`})
		count := func(r req) int { return len(decode(t, h.do(r))["books"].([]any)) }
		if n := count(req{method: "GET", path: "/books", as: "ann"}); n != 1 {
			t.Fatalf("ann sees %d books", n)
		}
		if n := count(req{method: "GET", path: "/books", as: "admin"}); n != 0 {
			t.Fatalf("admin's own list has %d books", n)
		}
		if n := count(req{method: "GET", path: "/books?all=true", as: "admin"}); n != 2 {
			t.Fatalf("admin all=true sees %d books", n)
		}
	})
}

func TestDiscoveryAndOperations(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "jwks", req: req{method: "GET", path: "/.well-known/jwks.json"}, status: 200,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				keys := decode(t, w)["keys"].([]any)
				k := keys[0].(map[string]any)
				if len(keys) != 1 || k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["kid"] == "" || k["d"] != nil {
					t.Fatalf("jwks = %v", keys)
				}
				if w.Header().Get("Cache-Control") != "public, max-age=300" {
					t.Fatalf("jwks not cacheable: %q", w.Header().Get("Cache-Control"))
				}
			}},
		{name: "openid configuration", req: req{method: "GET", path: "/.well-known/openid-configuration"}, status: 200,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				m := decode(t, w)
				if m["issuer"] != testIssuer || m["jwks_uri"] != testIssuer+"/.well-known/jwks.json" ||
					m["id_token_signing_alg_values_supported"].([]any)[0] != "EdDSA" {
					t.Fatalf("configuration = %v", m)
				}
			}},
		{name: "healthz", req: req{method: "GET", path: "/healthz"}, status: 200},
		{name: "readyz", req: req{method: "GET", path: "/readyz"}, status: 200},
		{name: "readyz after the database closed", req: req{method: "GET", path: "/readyz"}, status: 200,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				h.store.Close()
				if w := h.do(req{method: "GET", path: "/readyz"}); w.Code != 503 || errorCode(w) != "unavailable" || w.Header().Get("Retry-After") == "" {
					t.Fatalf("readyz on a closed database: %d %s", w.Code, w.Body)
				}
			}},
		{name: "unknown path", req: req{method: "GET", path: "/nope"}, status: 404, code: "not_found"},
		{name: "HEAD healthz", req: req{method: "HEAD", path: "/healthz"}, status: 200},
	})
}

func TestPages(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "home is the login page", req: req{method: "GET", path: "/"}, status: 200,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if !hasCookie(w, "__Host-csrf", false) || w.Header().Get("Content-Security-Policy") == "" {
					t.Fatalf("page lacks CSRF cookie or CSP: %v", w.Header())
				}
			}},
		{name: "home of a signed-in browser is the dashboard", req: req{method: "GET", path: "/", as: "ann", carrier: "cookie"}, status: 303,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if w.Header().Get("Location") != "/dashboard" {
					t.Fatalf("redirected to %q", w.Header().Get("Location"))
				}
			}},
		{name: "login page", req: req{method: "GET", path: "/login?next=https://evil.example"}, status: 200,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if strings.Contains(w.Body.String(), "evil.example") {
					t.Fatal("an off-site next was put in the form")
				}
			}},
		{name: "signup page", req: req{method: "GET", path: "/signup"}, status: 200},
		{name: "dashboard without session", req: req{method: "GET", path: "/dashboard"}, status: 303,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if w.Header().Get("Location") != "/login?next=%2Fdashboard" {
					t.Fatalf("Location %q", w.Header().Get("Location"))
				}
			}},
		{name: "dashboard greets by name", req: req{method: "GET", path: "/dashboard", as: "ann", carrier: "cookie"}, status: 200,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if !strings.Contains(w.Body.String(), "Welcome Ann!") {
					t.Fatalf("dashboard: %s", w.Body)
				}
			}},
		{name: "static css", req: req{method: "GET", path: "/static/gatehouse.css"}, status: 200},
		{name: "unknown static file", req: req{method: "GET", path: "/static/nope.js"}, status: 404, code: "not_found"},
		{name: "no listing of the static files", req: req{method: "GET", path: "/static/"}, status: 404, code: "not_found"},
	})
}
