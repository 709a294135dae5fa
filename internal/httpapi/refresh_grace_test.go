package httpapi_test

import (
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
)

func refreshBody(raw string) string { return `{"refresh_token":"` + raw + `"}` }

// A refresh replayed in the grace window reports how long the successor
// really lives: never beyond the end of its session (the web UI sets the
// refresh cookie's Max-Age from it).
func TestGraceReplayReportsTheSessionsRealEnd(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *app.Config) { c.SessionMaxAge = time.Hour })
	h.clock.Advance(30 * time.Minute)
	raw := h.tokens["ann"].RefreshToken
	first := h.do(req{method: "POST", path: "/token/refresh", body: refreshBody(raw)})
	if first.Code != 200 {
		t.Fatalf("refresh: %d %s", first.Code, first.Body)
	}
	h.clock.Advance(2 * time.Second)
	replay := h.do(req{method: "POST", path: "/token/refresh", body: refreshBody(raw)})
	if replay.Code != 200 {
		t.Fatalf("replay in the grace window: %d %s", replay.Code, replay.Body)
	}
	m1, m2 := decode(t, first), decode(t, replay)
	if m1["refresh_token"] != m2["refresh_token"] {
		t.Fatal("the replay did not get the same successor")
	}
	left := 30*time.Minute - 2*time.Second // the session ends 1h after the login
	if got := time.Duration(m2["refresh_expires_in"].(float64)) * time.Second; got > left {
		t.Fatalf("replay reports refresh_expires_in %s, but the session ends in %s", got, left)
	}
	if got := time.Duration(m1["refresh_expires_in"].(float64)) * time.Second; got > 30*time.Minute {
		t.Fatalf("first refresh reports %s, more than the session's 30m left", got)
	}
}

// --refresh-reuse-grace 0s means no grace at all: a replay in the same
// millisecond as the rotation revokes the session instead of returning the
// successor.
func TestZeroGraceRefusesAReplayInTheSameMillisecond(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *app.Config) { c.ReuseGrace = 0 })
	raw := h.tokens["ann"].RefreshToken
	first := h.do(req{method: "POST", path: "/token/refresh", body: refreshBody(raw)})
	if first.Code != 200 {
		t.Fatalf("refresh: %d %s", first.Code, first.Body)
	}
	// The clock has not moved: now - spent_at is 0.
	replay := h.do(req{method: "POST", path: "/token/refresh", body: refreshBody(raw)})
	if replay.Code != 401 || errorCode(replay) != "invalid_grant" {
		t.Fatalf("replay with no grace: %d %s, want 401 invalid_grant", replay.Code, replay.Body)
	}
	successor := decode(t, first)["refresh_token"].(string)
	if w := h.do(req{method: "POST", path: "/token/refresh", body: refreshBody(successor)}); w.Code != 401 {
		t.Fatalf("the successor still works after the replay: %d", w.Code)
	}
}
