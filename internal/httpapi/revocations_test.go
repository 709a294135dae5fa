package httpapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// endSessions gives user n extra sessions and ends them one by one.
func (h *harness) endSessions(t *testing.T, user string, n int) []string {
	t.Helper()
	ctx := context.Background()
	now := h.clock.Now().UTC()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-extra-%d", user, i)
		sess := auth.Session{ID: ids[i], UserID: h.users[user].ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := h.store.CreateSession(ctx, sess, auth.RefreshToken{Hash: ids[i], SessionID: ids[i], CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.store.RevokeSessions(ctx, auth.SessionFilter{SessionID: ids[i]}, now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// follow reads /revocations from since to its end, limit a page, and returns
// the session ids, the pages read and the final cursor.
func (h *harness) follow(t *testing.T, since string, limit int) (sids []string, pages int, cursor string) {
	t.Helper()
	cursor = since
	for {
		w := h.do(req{method: "GET", path: fmt.Sprintf("/revocations?since=%s&limit=%d", cursor, limit)})
		if w.Code != 200 {
			t.Fatalf("GET /revocations: %d %s", w.Code, w.Body)
		}
		m := decode(t, w)
		pages++
		for _, r := range m["revoked"].([]any) {
			sids = append(sids, r.(map[string]any)["sid"].(string))
		}
		cursor = m["cursor"].(string)
		if more, ok := m["has_more"].(bool); !ok {
			t.Fatalf("no has_more: %v", m)
		} else if !more {
			return sids, pages, cursor
		}
	}
}

func TestRevocationsPaged(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "limit 0", req: req{method: "GET", path: "/revocations?limit=0"}, status: 400, code: "invalid_request"},
		{name: "limit over 10000", req: req{method: "GET", path: "/revocations?limit=10001"}, status: 400, code: "invalid_request"},
		{name: "limit not a number", req: req{method: "GET", path: "/revocations?limit=many"}, status: 400, code: "invalid_request"},
		{name: "cursor not canonical", req: req{method: "GET", path: "/revocations?since=007"}, status: 400, code: "invalid_request"},
		{name: "limit 10000", req: req{method: "GET", path: "/revocations?limit=10000"}, status: 200},
	})
	t.Run("pages oldest first, then a late commit", func(t *testing.T) {
		h := newHarness(t)
		ids := h.endSessions(t, "ann", 25)
		got, pages, cursor := h.follow(t, "", 10)
		if fmt.Sprint(got) != fmt.Sprint(ids) || pages != 3 {
			t.Fatalf("read %v in %d pages; want %v in 3", got, pages, ids)
		}
		// A logout stamped before that read, whose transaction commits only
		// now (it queued for the writer), is in the next poll all the same.
		stamped := h.clock.Now().Add(-time.Minute)
		if _, err := h.store.RevokeSessions(context.Background(), auth.SessionFilter{SessionID: h.tokens["bob"].SessionID},
			stamped, stamped.Add(16*time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, _, _ = h.follow(t, cursor, 10)
		if len(got) != 1 || got[0] != h.tokens["bob"].SessionID {
			t.Fatalf("after the late commit the feed gave %v, want bob's session", got)
		}
	})
	t.Run("default page is 1000", func(t *testing.T) {
		h := newHarness(t)
		h.endSessions(t, "ann", 1001)
		m := decode(t, h.do(req{method: "GET", path: "/revocations"}))
		if n := len(m["revoked"].([]any)); n != 1000 || m["has_more"] != true {
			t.Fatalf("first page: %d entries, has_more %v", n, m["has_more"])
		}
	})
}
