package auth

import (
	"context"
	"errors"
	"fmt"
)

// Logins through an upstream identity provider (internal/upstream decides
// who the user is; this is where their session starts, like any other).

// FederatedLogin starts the session of u, whom the upstream provider idp
// vouched for: amr "fed", the tokens' idp claim. A user with a second
// factor gets *MFARequired instead, and passes it as after a password. A
// disabled account gets nothing.
func (s *Sessions) FederatedLogin(ctx context.Context, u User, idp string, c Client) (*Tokens, error) {
	if c != (Client{}) {
		ctx = WithClient(ctx, c)
	}
	u, err := s.store.User(ctx, u.ID) // as it is now, not as the caller read it
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		s.audit(ctx, EventLoginFailed, u.ID, "disabled account, through provider "+idp)
		return nil, errAccountUnavailable
	}
	hash, err := s.store.PasswordHash(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("federated login: %w", err)
	}
	amr := []string{AMRFed}
	if u.MFA.Enabled() {
		return nil, s.beginMFA(ctx, u, hash, c, amr, idp)
	}
	tokens, err := s.startSession(ctx, u, hash, c, amr, "", idp)
	if errors.Is(err, ErrCredentialsChanged) {
		s.audit(ctx, EventLoginFailed, u.ID, "account changed during the login")
		return nil, errAccountUnavailable
	}
	if err != nil {
		return nil, err
	}
	s.audit(ctx, EventLoginSucceeded, u.ID, "session "+tokens.SessionID+" through provider "+idp)
	return tokens, nil
}

var errAccountUnavailable = Errorf(CodeInvalidCredentials, "This account cannot sign in.")

// RequireRecentAuth is the re-authentication rule (requireRecentAuth) for
// other services: linking an upstream identity asks for it.
func (s *Sessions) RequireRecentAuth(ctx context.Context, sessionID string) error {
	return s.requireRecentAuth(ctx, sessionID)
}

// FederatedReauthenticate renews the sign-in time of the user's live
// session sessionID, after the upstream provider idp signed the user in
// afresh (internal/upstream checked the identity and the provider's
// auth_time): as Reauthenticate, amr gains "fed", auth_time is now, and the
// session goes on with new tokens.
func (s *Sessions) FederatedReauthenticate(ctx context.Context, userID, sessionID, idp string) (*Tokens, error) {
	sess, err := s.store.Session(ctx, sessionID, userID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) {
		return nil, Errorf(CodeNotFound, "The session was not found.")
	}
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		s.audit(ctx, EventLoginFailed, u.ID, "disabled account, re-authenticating through provider "+idp)
		return nil, errAccountUnavailable
	}
	sess.AMR, sess.AuthTime = addAMR(sess.AMR, AMRFed), now
	return s.reauthenticated(ctx, u, sess, now, "session "+sess.ID+" with "+AMRFed+" through provider "+idp)
}
