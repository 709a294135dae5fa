package httpapi_test

import (
	"fmt"
	"net/http/httptest"
	"testing"
)

func TestAdminUsers(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "non-admin list", req: req{method: "GET", path: "/users", as: "ann"}, status: 403, code: "forbidden"},
		{name: "anonymous list", req: req{method: "GET", path: "/users"}, status: 401, code: "unauthorized"},
		{name: "list", req: req{method: "GET", path: "/users", as: "admin"}, status: 200,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				m := decode(t, w)
				if users := m["users"].([]any); len(users) != 3 || m["next_cursor"] != nil {
					t.Fatalf("list = %v", m)
				}
			}},
		{name: "prefix search", req: req{method: "GET", path: "/users?q=BO", as: "admin"}, status: 200,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				users := decode(t, w)["users"].([]any)
				if len(users) != 1 || users[0].(map[string]any)["email"] != "bob@example.com" {
					t.Fatalf("q=BO gave %v", users)
				}
			}},
		{name: "LIKE wildcards are literal", req: req{method: "GET", path: "/users?q=%25", as: "admin"}, status: 200,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if users := decode(t, w)["users"].([]any); len(users) != 0 {
					t.Fatalf("q=%% matched %d users", len(users))
				}
			}},
		{name: "bad limit", req: req{method: "GET", path: "/users?limit=0", as: "admin"}, status: 400, code: "invalid_request"},
		{name: "limit too big", req: req{method: "GET", path: "/users?limit=201", as: "admin"}, status: 400, code: "invalid_request"},
		{name: "bad cursor", req: req{method: "GET", path: "/users?cursor=!!", as: "admin"}, status: 400, code: "invalid_request"},
		{name: "get", req: req{method: "GET", path: "/users/ID:bob", as: "admin"}, status: 200},
		{name: "get unknown", req: req{method: "GET", path: "/users/00000000-0000-7000-8000-000000000000", as: "admin"}, status: 404, code: "not_found"},
		{name: "bad role", req: req{method: "PATCH", path: "/users/ID:bob", as: "admin", body: `{"role":"root"}`}, status: 400, code: "invalid_request"},
		{name: "non-admin patch", req: req{method: "PATCH", path: "/users/ID:bob", as: "ann", body: `{"role":"admin"}`}, status: 403, code: "forbidden"},
		{name: "admin cannot demote itself", req: req{method: "PATCH", path: "/users/ID:admin", as: "admin", body: `{"role":"user"}`}, status: 403, code: "forbidden"},
		{name: "admin cannot delete itself", req: req{method: "DELETE", path: "/users/ID:admin", as: "admin"}, status: 403, code: "forbidden"},
		{name: "disable ends sessions at once", req: req{method: "PATCH", path: "/users/ID:bob", as: "admin", body: `{"disabled":true}`}, status: 200,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if field(decode(t, w), "user", "disabled") != true {
					t.Fatalf("user not shown disabled: %s", w.Body)
				}
				if w := h.do(req{method: "GET", path: "/me", as: "bob"}); w.Code != 401 || errorCode(w) != "token_revoked" {
					t.Fatalf("disabled user's token: %d %s", w.Code, w.Body)
				}
			}},
		{name: "role change ends sessions at once", req: req{method: "PATCH", path: "/users/ID:bob", as: "admin", body: `{"role":"admin"}`}, status: 200,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if w := h.do(req{method: "GET", path: "/me", as: "bob"}); w.Code != 401 {
					t.Fatalf("token with the old role still works: %d", w.Code)
				}
			}},
		{name: "delete removes user, sessions and books", req: req{method: "DELETE", path: "/users/ID:bob", as: "admin"}, status: 204,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if w := h.do(req{method: "GET", path: "/me", as: "bob"}); w.Code != 401 {
					t.Fatalf("deleted user's token: %d", w.Code)
				}
				if w := h.do(req{method: "GET", path: "/users/" + h.users["bob"].ID, as: "admin"}); w.Code != 404 {
					t.Fatalf("deleted user still found: %d", w.Code)
				}
			}},
	})
	t.Run("pagination", func(t *testing.T) {
		h := newHarness(t)
		seen := map[string]bool{}
		path := "/users?limit=2"
		for pages := 0; path != ""; pages++ {
			if pages > 3 {
				t.Fatal("pagination does not end")
			}
			m := decode(t, h.do(req{method: "GET", path: path, as: "admin"}))
			for _, u := range m["users"].([]any) {
				seen[u.(map[string]any)["id"].(string)] = true
			}
			path = ""
			if c, ok := m["next_cursor"].(string); ok {
				path = fmt.Sprintf("/users?limit=2&cursor=%s", c)
			}
		}
		if len(seen) != 3 {
			t.Fatalf("pages covered %d users, want 3", len(seen))
		}
	})
}
