package httpapi_test

import (
	"context"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// GET /me/sessions pages like /users: ?limit= (1-200, default 50),
// ?cursor=, next_cursor (null on the last page), newest first.
func TestSessionsPaged(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "limit 0", req: req{method: "GET", path: "/me/sessions?limit=0", as: "ann"}, status: 400, code: "invalid_request"},
		{name: "limit 201", req: req{method: "GET", path: "/me/sessions?limit=201", as: "ann"}, status: 400, code: "invalid_request"},
		{name: "bad cursor", req: req{method: "GET", path: "/me/sessions?cursor=x", as: "ann"}, status: 400, code: "invalid_request"},
	})
	t.Run("follow next_cursor", func(t *testing.T) {
		h := newHarness(t)
		want := []string{}
		for range 4 { // ann has 5 sessions: these and the harness's, which is the oldest
			tok, err := h.app.Services.Sessions.Login(context.Background(), auth.LoginInput{Identifier: "ann", Password: annPassword})
			if err != nil {
				t.Fatal(err)
			}
			want = append([]string{tok.SessionID}, want...)
		}
		want = append(want, h.tokens["ann"].SessionID)
		var got []string
		path, pages := "/me/sessions?limit=2", 0
		for {
			m := decode(t, h.do(req{method: "GET", path: path, as: "ann"}))
			pages++
			for _, s := range m["sessions"].([]any) {
				got = append(got, s.(map[string]any)["id"].(string))
			}
			next, ok := m["next_cursor"].(string)
			if !ok {
				if m["next_cursor"] != nil {
					t.Fatalf("next_cursor = %v", m["next_cursor"])
				}
				break
			}
			path = "/me/sessions?limit=2&cursor=" + next
		}
		if len(got) != len(want) || pages != 3 {
			t.Fatalf("read %v in %d pages, want %v in 3", got, pages, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("read %v, want newest first %v", got, want)
			}
		}
		m := decode(t, h.do(req{method: "GET", path: "/me/sessions", as: "ann"}))
		if len(m["sessions"].([]any)) != 5 || m["next_cursor"] != nil {
			t.Fatalf("default page: %v", m)
		}
	})
}
