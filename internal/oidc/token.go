package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/golang-jwt/jwt/v5"
)

// ClientAuth is how a client authenticated at the token, revocation or
// introspection endpoint: client_secret_basic, client_secret_post,
// private_key_jwt (assertion.go), or none (a public client naming itself).
type ClientAuth struct {
	ID        string // "" with private_key_jwt: the assertion's subject
	Secret    string
	Assertion string // private_key_jwt's client_assertion
	Method    string // "client_secret_basic", "client_secret_post", "private_key_jwt" or "none"
}

// TokenRequest is a POST /oauth/token.
type TokenRequest struct {
	GrantType    string
	Code         string
	RedirectURI  string
	CodeVerifier string
	RefreshToken string
	Scope        string
	// Resources (RFC 8707, repeatable) and Audiences name the token's
	// audience in the client_credentials grant.
	Resources []string
	Audiences []string
	Client    ClientAuth
	Caller    auth.Client // address and user agent, for limits and the audit log
}

// TokenResponse is the token endpoint's answer (RFC 6749 5.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope"`
}

var (
	errInvalidClient = oauthErr(CodeInvalidClient, "Client authentication failed.")
	errInvalidCode   = auth.ErrInvalidAuthorizationCode
)

// clientAccount is the lockout key of a client's secret checks: per client
// and caller address, so that strangers (the client_id is public) cannot
// lock a client out; a 256-bit secret or code cannot be guessed anyway, and
// the per-address limit still bounds every caller.
func clientAccount(clientID string, c auth.Client) string {
	return "client:" + clientID + "@" + ratelimit.AddressKey(c.IP)
}

// authenticateClient checks a client's credentials through the guarded
// path. Every failure is invalid_client.
func (s *Service) authenticateClient(ctx context.Context, ca ClientAuth, caller auth.Client) (Client, error) {
	if ca.Method == MethodPrivateKeyJWT {
		return s.authenticateAssertion(ctx, ca, caller)
	}
	if ca.ID == "" || len(ca.ID) > 64 || len(ca.Secret) > 256 {
		return Client{}, errInvalidClient
	}
	presented := hashSecret(ca.Secret) // once: compared with the cached copy, then in the check
	c, _, err := s.cachedClient(ctx, ca.ID)
	if err == nil && !c.Public && subtle.ConstantTimeCompare([]byte(presented), []byte(c.SecretHash)) != 1 {
		// A secret rotated at another instance works here at once, before
		// the change feed has told this one.
		s.clients.Delete(ca.ID)
		c, _, err = s.cachedClient(ctx, ca.ID)
	}
	known := err == nil
	if err != nil && auth.ErrorCode(err) != auth.CodeNotFound {
		return Client{}, err
	}
	if known && c.Public {
		if ca.Method != "none" {
			return Client{}, oauthErr(CodeInvalidClient, "A public client authenticates with none (no secret).")
		}
		return c, nil
	}
	if known && ca.Method == "none" {
		return Client{}, oauthErr(CodeInvalidClient, "This client must authenticate with its secret.")
	}
	// A client secret is 256 random bits checked with one SHA-256: a
	// machine's secret (no lockout, no padding; only failures count against
	// the address).
	check := auth.GuardedCheck{Kind: auth.CheckClientSecret, Client: caller, Secret: ca.Secret, Machine: true,
		Check: func(context.Context) (bool, string, error) {
			if !known {
				return false, "unknown client " + ca.ID, nil
			}
			if subtle.ConstantTimeCompare([]byte(presented), []byte(c.SecretHash)) != 1 {
				return false, "wrong secret of client " + ca.ID, nil
			}
			switch {
			case c.JWKS != "" || c.JWKSURI != "":
				return false, "secret from client " + ca.ID + ", which authenticates with private_key_jwt", nil
			case c.Disabled:
				return false, "disabled client " + ca.ID, nil
			}
			return true, "", nil
		}}
	if known { // its backend speaks for all its users: a bucket of its own
		check.Bucket, check.BucketLimit = "client:"+c.ID, s.cfg.ClientLimit
	}
	err = s.checks.Guarded(ctx, check)
	if auth.ErrorCode(err) == auth.CodeInvalidCredentials {
		return Client{}, errInvalidClient
	}
	return c, err
}

// Token serves the token endpoint's grants.
func (s *Service) Token(ctx context.Context, in TokenRequest) (*TokenResponse, error) {
	switch in.GrantType {
	case GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials:
	case "":
		return nil, oauthErr(CodeInvalidRequest, "grant_type is required.")
	default:
		return nil, oauthErr(CodeUnsupportedGrantType, "Only the authorization_code, refresh_token and client_credentials grants are supported.")
	}
	c, err := s.authenticateClient(ctx, in.Client, in.Caller)
	if err != nil {
		return nil, err
	}
	if err := s.grantAllowed(ctx, c, in.GrantType); err != nil {
		return nil, err
	}
	if in.GrantType == GrantClientCredentials {
		return s.clientCredentials(ctx, c, in)
	}
	if in.GrantType == "refresh_token" {
		return s.refresh(ctx, c, in)
	}
	return s.exchangeCode(ctx, c, in)
}

// exchangeCode redeems an authorization code (RFC 6749 4.1.3, RFC 7636 4.6).
func (s *Service) exchangeCode(ctx context.Context, c Client, in TokenRequest) (*TokenResponse, error) {
	if in.Code == "" || len(in.Code) > 256 {
		return nil, oauthErr(CodeInvalidRequest, "code is required.")
	}
	if in.CodeVerifier != "" && !verifierPattern.MatchString(in.CodeVerifier) {
		return nil, oauthErr(CodeInvalidRequest, "code_verifier must be 43 to 128 unreserved characters.")
	}
	hash := hashSecret(in.Code)
	var code Code
	replayed := false
	now := s.now()
	err := s.checks.Guarded(ctx, auth.GuardedCheck{Kind: auth.CheckAuthorizationCode, Client: in.Caller,
		Account: clientAccount(c.ID, in.Caller), Secret: in.Code, Authenticated: !c.Public,
		// A confidential client has just proved itself, and a code is 256
		// random bits: junk codes sent to its callback lock nothing.
		Machine: !c.Public,
		Check: func(ctx context.Context) (bool, string, error) {
			found, err := s.store.Code(ctx, hash)
			if auth.ErrorCode(err) == auth.CodeNotFound {
				return false, "unknown code", nil
			} else if err != nil {
				return false, "", err
			}
			// The look-up was by this hash; comparing it again costs nothing
			// and holds should a store ever match loosely.
			if subtle.ConstantTimeCompare([]byte(found.Hash), []byte(hash)) != 1 {
				return false, "unknown code", nil
			}
			code = found
			switch {
			case found.ClientID != c.ID:
				return false, "code of another client presented by " + c.ID, nil
			case !found.UsedAt.IsZero():
				replayed = true
				return false, "code replayed", nil
			case !now.Before(found.ExpiresAt):
				return false, "expired code", nil
			case found.RedirectURI != in.RedirectURI:
				return false, "redirect_uri differs from the authorization request's", nil
			case found.CodeChallenge == "" && in.CodeVerifier != "":
				// RFC 9700 4.8.2: a verifier without a challenge is a downgrade.
				return false, "code_verifier without code_challenge", nil
			case found.CodeChallenge != "" && !pkceMatches(found.CodeChallenge, in.CodeVerifier):
				return false, "wrong code_verifier", nil
			}
			return true, "", nil
		}})
	if replayed {
		s.codeReplayed(ctx, code)
	}
	if auth.ErrorCode(err) == auth.CodeInvalidCredentials {
		return nil, errInvalidCode
	} else if err != nil {
		return nil, err
	}
	tokens, err := s.sessions.StartClientSession(ctx, auth.ClientSessionInput{UserID: code.UserID, ParentID: code.SessionID,
		ClientID: c.ID, Scope: code.Scope, AuthTime: code.AuthTime, Offline: hasScope(code.Scope, ScopeOfflineAccess),
		CodeHash: hash, Client: in.Caller})
	if errors.Is(err, auth.ErrCodeSpent) { // a replay racing the first exchange
		if again, rerr := s.store.Code(ctx, hash); rerr == nil {
			s.codeReplayed(ctx, again)
		}
		return nil, errInvalidCode
	}
	if err != nil {
		return nil, err
	}
	if err := s.shareOrg(ctx, code, tokens.Session); err != nil {
		return nil, err
	}
	return s.tokenResponse(ctx, c, tokens, code.Nonce)
}

// codeReplayed ends what the code's first exchange issued (RFC 6749 4.1.2).
func (s *Service) codeReplayed(ctx context.Context, code Code) {
	detail := "client " + code.ClientID
	if code.IssuedSessionID != "" {
		if _, err := s.sessions.EndSessions(ctx, auth.SessionFilter{SessionID: code.IssuedSessionID}); err != nil {
			s.log.Error("ending the session of a replayed code failed", "err", err)
		}
		detail += "; session " + code.IssuedSessionID + " revoked"
	}
	s.log.Warn("security: authorization code replayed", "client", code.ClientID, "session", code.IssuedSessionID)
	s.accounts.Audit(ctx, auth.EventCodeReplayed, code.UserID, detail)
}

// refresh rotates a client's refresh token (RFC 6749 6) with auth's reuse
// detection; a token of another client is invalid_grant.
func (s *Service) refresh(ctx context.Context, c Client, in TokenRequest) (*TokenResponse, error) {
	if in.RefreshToken == "" {
		return nil, oauthErr(CodeInvalidRequest, "refresh_token is required.")
	}
	// A narrower scope may be asked, never a wider one (invalid_scope,
	// refused before the token is spent); the session keeps what was
	// granted.
	tokens, err := s.sessions.RefreshFor(ctx, in.RefreshToken, c.ID, in.Scope)
	if err != nil {
		if auth.ErrorCode(err) == auth.CodeInvalidGrant {
			return nil, oauthErr(CodeInvalidGrant, "The refresh token is not valid.")
		}
		return nil, err
	}
	return s.tokenResponse(ctx, c, tokens, "")
}

func (s *Service) tokenResponse(ctx context.Context, c Client, t *auth.Tokens, nonce string) (*TokenResponse, error) {
	out := &TokenResponse{AccessToken: t.AccessToken, TokenType: "Bearer", ExpiresIn: int(t.ExpiresIn / time.Second),
		RefreshToken: t.RefreshToken, Scope: t.Scope}
	if hasScope(t.Scope, ScopeOpenID) {
		org, err := s.orgClaims(ctx, t.Session.ID, t.User.ID, t.Scope)
		if err != nil {
			return nil, err
		}
		id, err := s.idToken(c, t, nonce, org)
		if err != nil {
			return nil, err
		}
		out.IDToken = id
	}
	return out, nil
}

// amrOf is how the user signed in to the session (RFC 8176), "pwd" for
// sessions older than the record.
func amrOf(sess auth.Session) []string {
	if len(sess.AMR) == 0 {
		return []string{auth.AMRPassword}
	}
	return sess.AMR
}

// idToken signs an ID token (OpenID Connect Core 2) for a client session.
func (s *Service) idToken(c Client, t *auth.Tokens, nonce string, org map[string]any) (string, error) {
	now := s.now()
	sess := t.Session
	claims := jwt.MapClaims{
		"iss": s.cfg.Issuer, "sub": t.User.ID, "aud": c.ID, "azp": c.ID,
		"iat": now.Unix(), "exp": now.Add(s.cfg.AccessTTL).Unix(),
		"auth_time": sess.AuthTime.Unix(), "sid": sess.ParentID,
		"amr": amrOf(sess),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if sess.IDP != "" {
		claims["idp"] = sess.IDP
	}
	for k, v := range userClaims(t.User, t.Scope) {
		claims[k] = v
	}
	for k, v := range org {
		claims[k] = v
	}
	id, err := s.keys.SignAs(c.IDTokenAlg, "JWT", claims)
	if err != nil {
		return "", fmt.Errorf("sign ID token: %w", err)
	}
	return id, nil
}

// userClaims are a user's claims for a scope: sub always, name and
// preferred_username with profile, email and email_verified with email.
func userClaims(u auth.User, scope string) map[string]any {
	out := map[string]any{"sub": u.ID}
	if hasScope(scope, ScopeProfile) {
		if u.Name != "" {
			out["name"] = u.Name
		}
		if u.Username != "" {
			out["preferred_username"] = u.Username
		}
	}
	if hasScope(scope, ScopeEmail) && u.Email != "" {
		out["email"] = u.Email
		out["email_verified"] = u.EmailVerified
	}
	return out
}

func pkceMatches(challenge, verifier string) bool {
	if verifier == "" {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

// verifyAccess verifies an access token issued to a client: through a
// guard whose audience is that client (signature, typ at+jwt, issuer, times,
// the session's revocation).
func (s *Service) verifyAccess(raw string) (*guard.Claims, error) {
	var peek guard.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &peek); err != nil || peek.ClientID == "" || len(peek.ClientID) > 64 {
		return nil, oauthErr(CodeInvalidToken, "The access token is not valid.")
	}
	g, err := s.guardFor(peek.ClientID)
	if err != nil {
		return nil, err
	}
	claims, err := g.Verify(raw)
	if err != nil {
		var ge *guard.Error
		if errors.As(err, &ge) {
			return nil, oauthErr(CodeInvalidToken, "%s", ge.Message)
		}
		return nil, err
	}
	if claims.ClientID != peek.ClientID {
		return nil, oauthErr(CodeInvalidToken, "The access token is not valid.")
	}
	return claims, nil
}

func (s *Service) guardFor(clientID string) (*guard.Guard, error) {
	if g, ok := s.guards.Load(clientID); ok {
		return g.(*guard.Guard), nil
	}
	g, err := guard.New(guard.Config{Issuer: s.cfg.Issuer, Audience: clientID, Algorithms: s.cfg.AccessAlgs,
		Keys: s.keys, Revocations: s.revocations, Now: s.cfg.Now, CacheSize: 1000})
	if err != nil {
		return nil, err
	}
	actual, _ := s.guards.LoadOrStore(clientID, g)
	return actual.(*guard.Guard), nil
}

// UserInfo answers the userinfo endpoint for an access token: the claims of
// its scopes. It needs scope openid (else insufficient_scope).
func (s *Service) UserInfo(ctx context.Context, accessToken string) (map[string]any, error) {
	if accessToken == "" {
		return nil, oauthErr(CodeInvalidToken, "An access token is required.")
	}
	claims, err := s.verifyAccess(accessToken)
	if err != nil {
		return nil, err
	}
	if !claims.HasScope(ScopeOpenID) {
		return nil, oauthErr(CodeInsufficientScope, "The access token lacks the openid scope.")
	}
	u, err := s.accounts.User(ctx, claims.Subject)
	if auth.ErrorCode(err) == auth.CodeNotFound || (err == nil && u.Disabled) {
		return nil, oauthErr(CodeInvalidToken, "The access token is not valid.")
	} else if err != nil {
		return nil, err
	}
	out := userClaims(u, claims.Scope)
	org, err := s.orgClaims(ctx, claims.SessionID, u.ID, claims.Scope)
	if err != nil {
		return nil, err
	}
	for k, v := range org {
		out[k] = v
	}
	return out, nil
}

// shareOrg has a new client session act in the organization of the browser
// session that authorized it, when the organization scope was granted: the
// organization shared is the one the user acted in when allowing it.
func (s *Service) shareOrg(ctx context.Context, code Code, sess auth.Session) error {
	if s.orgs == nil || !hasScope(code.Scope, ScopeOrganization) {
		return nil
	}
	oc, err := s.orgs.SessionOrgClaims(ctx, code.SessionID, code.UserID)
	if err != nil || oc.OrgID == "" {
		return err
	}
	err = s.orgs.EnterOrg(ctx, sess.ID, code.UserID, oc.OrgID)
	if auth.ErrorCode(err) == auth.CodeNotFound { // the membership ended meanwhile: nothing to share
		return nil
	}
	return err
}

// orgClaims are the claims of the organization scope: the organization the
// client session sessionID acts in, with the user's role and permissions
// there as they are now (none when it acts in none, or the membership
// ended).
func (s *Service) orgClaims(ctx context.Context, sessionID, userID, scope string) (map[string]any, error) {
	if s.orgs == nil || !hasScope(scope, ScopeOrganization) {
		return nil, nil
	}
	oc, err := s.orgs.SessionOrgClaims(ctx, sessionID, userID)
	if err != nil || oc.OrgID == "" {
		return nil, err
	}
	return map[string]any{"org_id": oc.OrgID, "org_role": oc.Role, "permissions": oc.Permissions}, nil
}

// Revoke serves RFC 7009: a refresh or access token of the calling client
// ends its session (and so every token of that grant). Unknown tokens, and
// tokens of other clients (left alone, not disclosed), answer the same.
func (s *Service) Revoke(ctx context.Context, ca ClientAuth, caller auth.Client, token string) error {
	c, err := s.authenticateClient(ctx, ca, caller)
	if err != nil {
		return err
	}
	if token == "" || len(token) > 8192 {
		return oauthErr(CodeInvalidRequest, "token is required.")
	}
	if _, sess, err := s.sessions.RefreshTokenState(ctx, token); err == nil {
		if sess.ClientID == c.ID {
			_, err := s.sessions.EndSessions(ctx, auth.SessionFilter{SessionID: sess.ID})
			s.accounts.Audit(ctx, auth.EventClientSessionEnded, sess.UserID, "refresh token revoked by client "+c.ID)
			return err
		}
		return nil
	} else if auth.ErrorCode(err) != auth.CodeNotFound {
		return err
	}
	claims, err := s.verifyAccess(token)
	if err != nil || claims.ClientID != c.ID {
		return nil
	}
	_, err = s.sessions.EndSessions(ctx, auth.SessionFilter{SessionID: claims.SessionID, UserID: claims.Subject})
	s.accounts.Audit(ctx, auth.EventClientSessionEnded, claims.Subject, "access token revoked by client "+c.ID)
	return err
}

// Grants lists the apps a user has allowed.
func (s *Service) Grants(ctx context.Context, userID string) ([]Grant, error) {
	return s.store.Grants(ctx, userID)
}

// RevokeGrant forgets a user's consent to a client and ends every session
// (every token) that client holds for the user.
func (s *Service) RevokeGrant(ctx context.Context, userID, clientID string) error {
	if len(clientID) > 64 || strings.TrimSpace(clientID) == "" {
		return auth.Errorf(auth.CodeNotFound, "No such app is connected.")
	}
	var found bool
	ended, err := s.feed.EndSessionsBy(ctx, func(now, liveUntil time.Time) (ended []string, err error) {
		found, ended, err = s.store.DeleteGrant(ctx, userID, clientID, now, liveUntil)
		return ended, err
	})
	if err != nil {
		return err
	}
	if !found && len(ended) == 0 {
		return auth.Errorf(auth.CodeNotFound, "No such app is connected.")
	}
	s.accounts.Audit(ctx, auth.EventGrantRevoked, userID, fmt.Sprintf("client %s; %d sessions ended", clientID, len(ended)))
	return nil
}
