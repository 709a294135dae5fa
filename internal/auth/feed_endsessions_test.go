package auth_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
)

// announced records what this instance told the others.
type announced struct {
	until   time.Time
	ids     []string
	clients []string
}

func (a *announced) SessionsEnded(_ context.Context, until time.Time, ids []string) {
	a.until, a.ids = until, append(a.ids, ids...)
}

func (*announced) UsersChanged(context.Context, []string) {}

func (a *announced) ClientsChanged(_ context.Context, ids []string) {
	a.clients = append(a.clients, ids...)
}

// Sessions that another service's store write ends (deleting an OpenID
// client or grant) are written at auth's time, kept as long as an access
// token issued then lives, revoked here and announced to every instance; a
// write that fails announces nothing.
func TestSessionsEndedByAnotherServiceAreAnnouncedEverywhere(t *testing.T) {
	ctx := context.Background()
	for _, fails := range []bool{false, true} {
		fan := &announced{}
		a := authtest.New(t, authtest.WithDeps(func(d *auth.Deps) { d.Fanout = fan }))
		tok := envOf(t, a).login(t)
		a.Clock.Advance(1500 * time.Microsecond) // not a whole millisecond
		var gotNow, gotUntil time.Time
		ids, err := a.Feed.EndSessionsBy(ctx, func(now, liveUntil time.Time) ([]string, error) {
			gotNow, gotUntil = now, liveUntil
			if fails {
				return []string{tok.SessionID}, errors.New("write failed")
			}
			return a.Store.RevokeSessions(ctx, auth.SessionFilter{SessionID: tok.SessionID}, now, liveUntil)
		})
		wantNow := a.Clock.Now().UTC().Truncate(time.Millisecond)
		if !gotNow.Equal(wantNow) || !gotUntil.Equal(wantNow.Add(a.Config.AccessTTL+time.Minute)) {
			t.Fatalf("the write ran at %s until %s, want %s until access TTL + a minute later", gotNow, gotUntil, wantNow)
		}
		if fails {
			if err == nil || ids != nil || a.Revocations.Revoked(tok.SessionID) || fan.ids != nil {
				t.Fatalf("a failed write: err %v, ids %v, revoked %t, announced %v", err, ids, a.Revocations.Revoked(tok.SessionID), fan.ids)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, []string{tok.SessionID}) || !a.Revocations.Revoked(tok.SessionID) {
			t.Fatalf("ended %v, revoked here %t; want the session, revoked", ids, a.Revocations.Revoked(tok.SessionID))
		}
		if !slices.Equal(fan.ids, ids) || !fan.until.Equal(gotUntil) {
			t.Fatalf("announced %v until %s, want %v until %s", fan.ids, fan.until, ids, gotUntil)
		}
	}
}
