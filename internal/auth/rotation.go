package auth

import "time"

// What a refresh decides, inside the store's transaction, about the
// presented token: a pure function of what the store read, what was asked
// and the time, so that every branch is a row of a table test
// (rotation_test.go).

// refreshAsk is what a refresh presents besides the token.
type refreshAsk struct {
	ClientID string // the client refreshing; "" for Gatehouse's own sessions
	Scope    string // the scope asked for; "" for the whole grant
	// OpensSuccessor says the presented token opens the successor sealed
	// when it was spent (only a spent token's replay asks).
	OpensSuccessor bool
}

// rotationRules are the lifetimes a refresh is judged by (Config's).
type rotationRules struct {
	IdleTimeout time.Duration
	ReuseGrace  time.Duration
	RefreshTTL  time.Duration
}

type rotationOutcome int

const (
	rotateToken     rotationOutcome = iota // spend the token, issue its successor
	replaySuccessor                        // a replay within the grace: the same successor again
	revokeForReuse                         // a spent token replayed: end the session
	refuseRefresh                          // invalid_grant or invalid_scope; nothing written
)

// rotationDecision is decideRotation's answer.
type rotationDecision struct {
	Outcome rotationOutcome
	Err     error  // with refuseRefresh: errInvalidGrant or errInvalidScope
	Scope   string // the scope the access token carries
	// ReplayExpiresAt is, with replaySuccessor, the successor's expiry as
	// given when the token was spent: its lifetime, cut at the session's end.
	ReplayExpiresAt time.Time
}

// decideRotation judges the refresh of st's token at now.
func decideRotation(st RefreshState, ask refreshAsk, now time.Time, r rotationRules) rotationDecision {
	sess, tok := st.Session, st.Token
	scope, granted := narrowScope(sess.Scope, ask.Scope)
	refuse := func(err error) rotationDecision { return rotationDecision{Outcome: refuseRefresh, Err: err} }
	switch {
	case sess.ClientID != ask.ClientID:
		return refuse(errInvalidGrant)
	case !sess.RevokedAt.IsZero(), st.User.Disabled,
		!now.Before(sess.ExpiresAt), !now.Before(sess.LastUsedAt.Add(r.IdleTimeout)):
		return refuse(errInvalidGrant)
	case !tok.SpentAt.IsZero():
		// Times are whole milliseconds: a replay in the rotation's own
		// millisecond is 0 after it, so a zero grace must refuse that too.
		if !ask.OpensSuccessor || r.ReuseGrace <= 0 || now.Sub(tok.SpentAt) > r.ReuseGrace {
			return rotationDecision{Outcome: revokeForReuse}
		}
		if !granted {
			return refuse(errInvalidScope)
		}
		// A racing tab or a lost response: the same successor, with the
		// expiry it was given when the token was spent.
		exp := tok.SpentAt.Add(r.RefreshTTL)
		if sess.ExpiresAt.Before(exp) {
			exp = sess.ExpiresAt
		}
		return rotationDecision{Outcome: replaySuccessor, Scope: scope, ReplayExpiresAt: exp}
	case !now.Before(tok.ExpiresAt):
		return refuse(errInvalidGrant)
	case !granted:
		return refuse(errInvalidScope)
	}
	return rotationDecision{Outcome: rotateToken, Scope: scope}
}
