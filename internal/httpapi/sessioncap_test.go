package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
)

func loginTokens(t *testing.T, h *harness) map[string]any {
	t.Helper()
	h.clock.Advance(time.Second) // each session used at its own time
	w := h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"` + annPassword + `"}`})
	if w.Code != 200 {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	return decode(t, w)
}

// liveSessions counts the caller's live sessions: one page of up to 200,
// more than any cap these tests set.
func liveSessions(t *testing.T, h *harness, access string) int {
	t.Helper()
	w := h.do(req{method: "GET", path: "/me/sessions?limit=200", headers: bearer(access)})
	if w.Code != 200 {
		t.Fatalf("sessions: %d %s", w.Code, w.Body)
	}
	return len(decode(t, w)["sessions"].([]any))
}

// A login beyond --max-sessions-per-user ends the user's least recently
// used session, revoked like any other (its tokens stop working at once).
func TestSessionCapEndsTheLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *app.Config) { c.MaxSessionsPerUser = 3 })
	first := h.tokens["ann"] // the harness's login: session 1
	second := loginTokens(t, h)
	third := loginTokens(t, h)
	// Session 1 is used again (a refresh), so session 2 becomes the least recent.
	h.clock.Advance(time.Second)
	w := h.do(req{method: "POST", path: "/token/refresh", body: `{"refresh_token":"` + first.RefreshToken + `"}`})
	if w.Code != 200 {
		t.Fatalf("refresh: %d %s", w.Code, w.Body)
	}
	refreshed := decode(t, w)
	fourth := loginTokens(t, h)
	if n := liveSessions(t, h, fourth["access_token"].(string)); n != 3 {
		t.Fatalf("%d live sessions, cap 3", n)
	}
	if w := h.do(req{method: "GET", path: "/me", headers: bearer(second["access_token"].(string))}); errorCode(w) != "token_revoked" {
		t.Fatalf("the least recently used session's token: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "POST", path: "/token/refresh", body: `{"refresh_token":"` + second["refresh_token"].(string) + `"}`}); w.Code != 401 {
		t.Fatalf("its refresh token: %d", w.Code)
	}
	for name, tok := range map[string]map[string]any{"refreshed first": refreshed, "third": third, "fourth": fourth} {
		if w := h.do(req{method: "GET", path: "/me", headers: bearer(tok["access_token"].(string))}); w.Code != 200 {
			t.Fatalf("%s session ended: %d %s", name, w.Code, w.Body)
		}
	}
	// The revocation is in the log other instances and remote guards read.
	w = h.do(req{method: "GET", path: "/revocations"})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"`+sidOf(t, second["access_token"].(string))+`"`) {
		t.Fatalf("/revocations: %d %s", w.Code, w.Body)
	}
	// Bob is not affected by ann's cap.
	if w := h.do(req{method: "GET", path: "/me", as: "bob"}); w.Code != 200 {
		t.Fatalf("bob: %d", w.Code)
	}
}

// An attacker (or a leaky client) logging in without end never holds more
// than the default 100 live sessions of one user.
func TestUnlimitedLoginsStayWithinTheDefaultCap(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var last map[string]any
	for range 130 {
		last = loginTokens(t, h)
	}
	if n := liveSessions(t, h, last["access_token"].(string)); n != 100 {
		t.Fatalf("%d live sessions after 131 logins, want the default cap 100", n)
	}
	if w := h.do(req{method: "GET", path: "/me", as: "ann"}); errorCode(w) != "token_revoked" {
		t.Fatalf("the oldest session survived: %d %s", w.Code, w.Body)
	}
}

// sidOf reads the session id claim of an access token (already verified by
// the server that issued it).
func sidOf(t *testing.T, access string) string {
	t.Helper()
	parts := strings.Split(access, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		SID string `json:"sid"`
	}
	if err != nil || json.Unmarshal(payload, &claims) != nil || claims.SID == "" {
		t.Fatalf("access token without sid: %v", err)
	}
	return claims.SID
}
