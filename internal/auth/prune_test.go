package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// The hourly prune keeps what reuse detection needs: a spent refresh token
// of a live session, replayed after a prune, still ends the session.
func TestPruneKeepsReuseDetection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	first := e.login(t)
	next, err := e.svc.Sessions.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	now := e.clock.Now()
	if _, err := e.store.Prune(ctx, store.PruneOptions{Now: now, RevokedBefore: now.Add(-16 * time.Minute),
		IdleBefore: now.Add(-168 * time.Hour), SpentBefore: now.Add(-720 * time.Hour), AuditBefore: now.Add(-2160 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Sessions.Refresh(ctx, first.RefreshToken) // a thief's replay
	wantCode(t, err, auth.CodeInvalidGrant)
	_, err = e.svc.Sessions.Refresh(ctx, next.RefreshToken)
	wantCode(t, err, auth.CodeInvalidGrant) // the whole session ended
	if _, err := e.guard.Verify(next.AccessToken); err == nil {
		t.Fatal("the session's access token still verifies after the replay")
	}
}
