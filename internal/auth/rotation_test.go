package auth

import (
	"testing"
	"time"
)

// Every branch of the refresh decision, without a database.
func TestRotationDecision(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rules := rotationRules{IdleTimeout: 7 * 24 * time.Hour, ReuseGrace: 10 * time.Second, RefreshTTL: 30 * 24 * time.Hour}
	live := func() RefreshState { // a client session's unspent token, used a minute ago
		return RefreshState{
			Token:   RefreshToken{ExpiresAt: now.Add(time.Hour)},
			Session: Session{ClientID: "app", Scope: "openid email profile", LastUsedAt: now.Add(-time.Minute), ExpiresAt: now.Add(60 * 24 * time.Hour)},
		}
	}
	spent := func(ago time.Duration) RefreshState {
		st := live()
		st.Token.SpentAt = now.Add(-ago)
		return st
	}
	with := func(st RefreshState, f func(*RefreshState)) RefreshState { f(&st); return st }
	ask := refreshAsk{ClientID: "app"}
	replay := refreshAsk{ClientID: "app", OpensSuccessor: true}

	for _, tc := range []struct {
		name  string
		st    RefreshState
		ask   refreshAsk
		rules rotationRules
		want  rotationDecision
	}{
		{"a live token rotates with the whole grant", live(), ask, rules,
			rotationDecision{Outcome: rotateToken, Scope: "openid email profile"}},
		{"an asked scope narrows the access token, values once each", live(), refreshAsk{ClientID: "app", Scope: "email openid email"}, rules,
			rotationDecision{Outcome: rotateToken, Scope: "email openid"}},
		{"a scope beyond the grant is invalid_scope", live(), refreshAsk{ClientID: "app", Scope: "openid admin"}, rules,
			rotationDecision{Outcome: refuseRefresh, Err: errInvalidScope}},
		{"another client's token is invalid_grant", live(), refreshAsk{ClientID: "other"}, rules,
			rotationDecision{Outcome: refuseRefresh, Err: errInvalidGrant}},
		{"a client's token is not Gatehouse's own", live(), refreshAsk{}, rules,
			rotationDecision{Outcome: refuseRefresh, Err: errInvalidGrant}},
		{"a revoked session", with(live(), func(s *RefreshState) { s.Session.RevokedAt = now.Add(-time.Second) }), ask, rules,
			rotationDecision{Outcome: refuseRefresh, Err: errInvalidGrant}},
		{"a disabled user", with(live(), func(s *RefreshState) { s.User.Disabled = true }), ask, rules,
			rotationDecision{Outcome: refuseRefresh, Err: errInvalidGrant}},
		{"a session at its absolute end", with(live(), func(s *RefreshState) { s.Session.ExpiresAt = now }), ask, rules,
			rotationDecision{Outcome: refuseRefresh, Err: errInvalidGrant}},
		{"a session idle for the whole idle timeout", with(live(), func(s *RefreshState) { s.Session.LastUsedAt = now.Add(-rules.IdleTimeout) }), ask, rules,
			rotationDecision{Outcome: refuseRefresh, Err: errInvalidGrant}},
		{"an expired token", with(live(), func(s *RefreshState) { s.Token.ExpiresAt = now }), ask, rules,
			rotationDecision{Outcome: refuseRefresh, Err: errInvalidGrant}},
		{"a revoked session's spent token is refused, not treated as reuse",
			with(spent(time.Hour), func(s *RefreshState) { s.Session.RevokedAt = now.Add(-time.Second) }), replay, rules,
			rotationDecision{Outcome: refuseRefresh, Err: errInvalidGrant}},
		{"a replay within the grace gets the same successor, with its expiry", spent(5 * time.Second), replay, rules,
			rotationDecision{Outcome: replaySuccessor, Scope: "openid email profile", ReplayExpiresAt: now.Add(-5 * time.Second).Add(rules.RefreshTTL)}},
		{"the replayed successor's expiry is cut at the session's end",
			with(spent(5*time.Second), func(s *RefreshState) { s.Session.ExpiresAt = now.Add(time.Hour) }), replay, rules,
			rotationDecision{Outcome: replaySuccessor, Scope: "openid email profile", ReplayExpiresAt: now.Add(time.Hour)}},
		{"a replay within the grace may narrow too", spent(5 * time.Second), refreshAsk{ClientID: "app", Scope: "openid", OpensSuccessor: true}, rules,
			rotationDecision{Outcome: replaySuccessor, Scope: "openid", ReplayExpiresAt: now.Add(-5 * time.Second).Add(rules.RefreshTTL)}},
		{"a replay within the grace beyond the grant is invalid_scope", spent(5 * time.Second), refreshAsk{ClientID: "app", Scope: "admin", OpensSuccessor: true}, rules,
			rotationDecision{Outcome: refuseRefresh, Err: errInvalidScope}},
		{"a replay after the grace is reuse", spent(11 * time.Second), replay, rules,
			rotationDecision{Outcome: revokeForReuse}},
		{"a replay at the grace's edge is still a replay", spent(10 * time.Second), replay, rules,
			rotationDecision{Outcome: replaySuccessor, Scope: "openid email profile", ReplayExpiresAt: now.Add(-10 * time.Second).Add(rules.RefreshTTL)}},
		{"a replay whose token does not open the successor is reuse", spent(time.Second), ask, rules,
			rotationDecision{Outcome: revokeForReuse}},
		{"reuse comes before the scope check", spent(time.Minute), refreshAsk{ClientID: "app", Scope: "admin", OpensSuccessor: true}, rules,
			rotationDecision{Outcome: revokeForReuse}},
		{"with no grace, a replay in the rotation's own millisecond is reuse", spent(0), replay,
			rotationRules{IdleTimeout: rules.IdleTimeout, RefreshTTL: rules.RefreshTTL},
			rotationDecision{Outcome: revokeForReuse}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decideRotation(tc.st, tc.ask, now, tc.rules); got != tc.want {
				t.Errorf("decideRotation = %+v, want %+v", got, tc.want)
			}
		})
	}
}
