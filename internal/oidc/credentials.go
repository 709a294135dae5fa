package oidc

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// The client_credentials grant (RFC 6749 4.4) of service clients: an RFC
// 9068 access token whose subject is the client, with the scopes and
// audiences (RFC 8707) an administrator allowed it, and no refresh token.
// The path does one SHA-256 (or one signature check and one insert, for
// private_key_jwt), one signature, and no database read while the client
// is cached.

// CodeInvalidTarget refuses a resource or audience the client may not
// have (RFC 8707 2).
const CodeInvalidTarget = "invalid_target"

// clientCacheTTL is how long this instance answers from a service client
// it read, at most. Every change of a client, wherever it is made (here,
// another instance, the command line), puts it in the change feed, and this
// instance forgets its copy (ForgetClient) when the change reaches it: at
// once when made here, through the Redis fan-out from another instance, or
// at the next read of the feed; the TTL is only a safety net. A service
// client disabled, rotated or removed is also dropped as soon as its
// revocation id reaches this instance's revocation set. Resource servers
// (clients registered to introspect) are cached the same way: introspection
// reads nothing else, so the client's row was a fifth of its cost. Other
// user-facing clients are not cached: their code exchanges and refreshes
// read the store anyway, and a secret rotated from the command line stops
// at once.
const clientCacheTTL = time.Second

// cachedClient is a client as this instance holds it, with its parsed keys.
type cachedClient struct {
	client Client
	loaded time.Time
	keys   *clientKeys
}

// cachedClient returns client id from the cache, or reads it (not_found).
func (s *Service) cachedClient(ctx context.Context, id string) (Client, *cachedClient, error) {
	now := s.cfg.Now()
	var old *cachedClient
	if v, ok := s.clients.Load(id); ok {
		old = v.(*cachedClient)
		if age := now.Sub(old.loaded); age >= 0 && age < clientCacheTTL && !s.tokensEnded(old.client) {
			return old.client, old, nil
		}
	}
	c, err := s.client(ctx, id)
	if err != nil {
		if auth.ErrorCode(err) == auth.CodeNotFound {
			s.clients.Delete(id)
		}
		return Client{}, nil, err
	}
	e := &cachedClient{client: c, loaded: now, keys: &clientKeys{}}
	if old != nil && old.client.JWKS == c.JWKS && old.client.JWKSURI == c.JWKSURI {
		e.keys = old.keys // the same registration: keep what was parsed or fetched
	}
	if c.Service() || c.Introspect { // other clients' requests read the store anyway
		s.clients.Store(id, e)
	}
	return c, e, nil
}

// tokensEnded reports whether a service client's tokens were ended since
// it was read (disabled, rotated or removed, here or elsewhere).
func (s *Service) tokensEnded(c Client) bool {
	return c.RevocationID != "" && s.revocations != nil && s.revocations.Revoked(c.RevocationID)
}

// grantAllowed refuses a grant the client is not registered for
// (unauthorized_client, audited): client_credentials from a user-facing or
// public client, a user's grant from a service client.
func (s *Service) grantAllowed(ctx context.Context, c Client, grant string) error {
	if (grant == GrantClientCredentials) == c.Service() {
		return nil
	}
	s.accounts.Audit(ctx, auth.EventOAuthCheckFailed, "", "client "+c.ID+" asked for the "+grant+" grant it is not registered for")
	if grant == GrantClientCredentials {
		return oauthErr(CodeUnauthorizedClient, "Only a service client may use the client_credentials grant.")
	}
	return oauthErr(CodeUnauthorizedClient, "A service client may use only the client_credentials grant.")
}

// serviceClaims are a service client's access token's claims (RFC 9068):
// the client is the subject, sid its revocation id. Plain fields (times in
// whole seconds): encoded on every grant, they cost no marshaler calls.
type serviceClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	ExpiresAt int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	ID        string   `json:"jti"`
	SessionID string   `json:"sid"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope"`
}

// withClaims is claims with the token hook's extra ones beside them (the
// hook dropped the reserved names; a name claims sets is never replaced).
func withClaims(claims serviceClaims, extra map[string]any) (any, error) {
	if len(extra) == 0 {
		return claims, nil
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	set := slices.Collect(maps.Keys(m))
	for k, v := range extra {
		// Equal up to case or Unicode folding is the same claim to a verifier.
		if !slices.ContainsFunc(set, func(s string) bool { return strings.EqualFold(s, k) }) {
			m[k] = v
		}
	}
	return m, nil
}

// clientCredentials issues a service client's access token.
func (s *Service) clientCredentials(ctx context.Context, c Client, in TokenRequest) (*TokenResponse, error) {
	if len(in.Scope) > 4096 || len(in.Resources)+len(in.Audiences) > maxAudiences {
		return nil, oauthErr(CodeInvalidRequest, "Too many scopes or resources.")
	}
	scopes := splitScope(in.Scope)
	if len(scopes) == 0 {
		scopes = c.Scopes
	} else if !subset(scopes, c.Scopes) {
		return nil, s.refuseGrant(ctx, c, CodeInvalidScope, "scope "+in.Scope+" beyond the client's",
			"The scope asked for is beyond what this client is allowed.")
	}
	aud, err := s.audiencesFor(ctx, c, in)
	if err != nil {
		return nil, err
	}
	now := s.now()
	claims := serviceClaims{Issuer: s.cfg.Issuer, Subject: c.ID, Audience: aud,
		ExpiresAt: now.Add(s.cfg.AccessTTL).Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix(), ID: randomToken()[:22],
		SessionID: c.RevocationID, ClientID: c.ID, Scope: strings.Join(scopes, " ")}
	var token any = claims
	if s.hook != nil {
		extra, err := s.hook.Claims(ctx, auth.TokenHookInput{ClientID: c.ID, Scope: claims.Scope})
		if err != nil {
			return nil, err // the hook failed and failures deny: nothing is issued
		}
		if token, err = withClaims(claims, extra); err != nil {
			return nil, err
		}
	}
	raw, err := s.keys.SignAccess(token)
	if err != nil {
		return nil, err
	}
	s.countGrant(c.ID)
	return &TokenResponse{AccessToken: raw, TokenType: "Bearer", ExpiresIn: int(s.cfg.AccessTTL / time.Second), Scope: claims.Scope}, nil
}

// audiencesFor is the token's audience: the resources (RFC 8707) and
// audiences asked for, each one the client is allowed (else
// invalid_target); none asked: every allowed one, or the client itself if
// it has none. Gatehouse's own API (the issuer, its audience) is never
// one: its tokens act as users.
func (s *Service) audiencesFor(ctx context.Context, c Client, in TokenRequest) ([]string, error) {
	var asked []string
	for _, a := range slices.Concat(in.Resources, in.Audiences) {
		if !slices.Contains(asked, a) {
			asked = append(asked, a)
		}
	}
	if len(asked) == 0 {
		asked = c.Audiences
		if len(asked) == 0 {
			return []string{c.ID}, nil
		}
	}
	for _, a := range asked {
		if !slices.Contains(c.Audiences, a) || a == s.cfg.Issuer || a == s.cfg.APIAudience {
			return nil, s.refuseGrant(ctx, c, CodeInvalidTarget, "audience "+a+" beyond the client's",
				"The resource or audience asked for is not one this client may have.")
		}
	}
	return asked, nil
}

// refuseGrant audits a refused grant and returns its error.
func (s *Service) refuseGrant(ctx context.Context, c Client, code, reason, message string) error {
	s.accounts.Audit(ctx, auth.EventOAuthCheckFailed, "", "client_credentials of client "+c.ID+": "+reason)
	return oauthErr(code, "%s", message)
}
