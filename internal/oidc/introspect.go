package oidc

import (
	"context"
	"strings"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Introspect serves RFC 7662 to confidential clients. A client registered
// with Introspect (--introspect: a resource server) learns about every
// token of the server: API keys, access tokens whatever their audience
// (users' first-party tokens, client and service tokens: signature, expiry
// and revocation checked, never the database), and its own refresh tokens.
// Any other confidential client learns only about its own access and
// refresh tokens. Everything else is {"active": false}.
//
// An active answer carries "sid", the token's revocation id (a session's,
// or an API key's own id): GET /revocations lists it when it is revoked, so
// a resource server that holds the answer drops it then.
func (s *Service) Introspect(ctx context.Context, ca ClientAuth, caller auth.Client, token string) (map[string]any, error) {
	c, err := s.authenticateClient(ctx, ca, caller)
	if err != nil {
		return nil, err
	}
	if c.Public {
		return nil, oauthErr(CodeInvalidClient, "Only confidential clients may introspect tokens.")
	}
	if token == "" || len(token) > 8192 {
		return nil, oauthErr(CodeInvalidRequest, "token is required.")
	}
	inactive := map[string]any{"active": false}
	if auth.LooksLikeAPIKey(token) {
		if !c.Introspect || s.apiKeys == nil {
			return inactive, nil
		}
		use, err := s.apiKeys.Introspect(auth.WithClient(ctx, caller), token, caller)
		if auth.ErrorCode(err) == auth.CodeInvalidToken {
			return inactive, nil
		} else if err != nil {
			return nil, err
		}
		return keyIntrospection(s.cfg.Issuer, use), nil
	}
	if out, found, err := s.introspectRefresh(ctx, c, token); found || err != nil {
		return out, err
	}
	// Every access token is checked whatever its audience (a service
	// token names its resource servers, not the client); a client not
	// registered to introspect then learns only about its own.
	var claims *guard.Claims
	if s.anyAudience != nil {
		claims, err = s.anyAudience.Verify(token)
	} else {
		claims, err = s.verifyAccess(token)
	}
	if err != nil || (!c.Introspect && claims.ClientID != c.ID) {
		return inactive, nil
	}
	out := map[string]any{"active": true, "token_type": "Bearer", "scope": claims.Scope,
		"sub": claims.Subject, "aud": []string(claims.Audience), "iss": claims.Issuer, "jti": claims.ID, "sid": claims.SessionID,
		"exp": claims.ExpiresAt.Unix()}
	if claims.ClientID != "" { // first-party tokens belong to no client
		out["client_id"] = claims.ClientID
	}
	if claims.IssuedAt != nil {
		out["iat"] = claims.IssuedAt.Unix()
	}
	if claims.NotBefore != nil {
		out["nbf"] = claims.NotBefore.Unix()
	}
	if claims.Role != "" {
		out["role"] = claims.Role
	}
	return out, nil
}

// introspectRefresh answers for a refresh token of client c (found), as
// before introspection answered for more.
func (s *Service) introspectRefresh(ctx context.Context, c Client, token string) (map[string]any, bool, error) {
	rt, sess, err := s.sessions.RefreshTokenState(ctx, token)
	if auth.ErrorCode(err) == auth.CodeNotFound {
		return nil, false, nil
	} else if err != nil {
		return nil, true, err
	}
	inactive := map[string]any{"active": false}
	now := s.now()
	if sess.ClientID != c.ID || !rt.SpentAt.IsZero() || !sess.RevokedAt.IsZero() || !now.Before(rt.ExpiresAt) || !now.Before(sess.ExpiresAt) {
		return inactive, true, nil
	}
	if u, err := s.accounts.User(ctx, sess.UserID); err != nil || u.Disabled {
		return inactive, true, nil
	}
	// No token_type: RFC 7662 means the type of token for use at a
	// resource (RFC 6749 7.1), which a refresh token is not.
	return map[string]any{"active": true, "client_id": c.ID, "scope": sess.Scope,
		"sub": sess.UserID, "iss": s.cfg.Issuer, "exp": rt.ExpiresAt.Unix(), "iat": rt.CreatedAt.Unix(), "sid": sess.ID}, true, nil
}

// keyIntrospection is an active API key's answer: its user, scopes, expiry
// (none for a key that does not expire) and its id as revocation id. It
// names no client: the key belongs to its user.
func keyIntrospection(issuer string, use auth.KeyUse) map[string]any {
	out := map[string]any{"active": true, "token_type": "Bearer", "scope": strings.Join(use.Key.Scopes, " "),
		"sub": use.User.ID, "iss": issuer, "iat": use.Key.CreatedAt.Unix(), "jti": use.Key.ID, "sid": use.Key.ID,
		"role": use.User.Role}
	if !use.Key.ExpiresAt.IsZero() {
		out["exp"] = use.Key.ExpiresAt.Unix()
	}
	return out
}
