package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// The hourly job prunes audit events past --audit-retention (default 90
// days) and keeps the newer ones.
func TestPruneAuditRetention(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *app.Config) { c.AuditRetention = 30 * 24 * time.Hour })
	ctx := context.Background()
	before, err := h.store.AuditEvents(ctx, auth.AuditFilter{Limit: 100})
	if err != nil || len(before) == 0 {
		t.Fatalf("no audit events to prune: %v", err)
	}
	h.clock.Advance(29 * 24 * time.Hour)
	h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"` + annPassword + `"}`})
	if _, err := h.app.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if after, _ := h.store.AuditEvents(ctx, auth.AuditFilter{Limit: 100}); len(after) <= len(before) {
		t.Fatalf("events within the retention pruned: %d before, %d after a new login", len(before), len(after))
	}
	h.clock.Advance(2 * 24 * time.Hour) // the first events are now 31 days old, the login 2 days
	if _, err := h.app.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := h.store.AuditEvents(ctx, auth.AuditFilter{Limit: 100})
	if err != nil || len(after) == 0 || len(after) >= len(before)+1 {
		t.Fatalf("after the retention: %d events (%v), want only the recent login's", len(after), err)
	}
	for _, e := range after {
		if h.clock.Now().Sub(e.At) > 30*24*time.Hour {
			t.Fatalf("event %s of %s survived the retention", e.Event, e.At)
		}
	}
}
