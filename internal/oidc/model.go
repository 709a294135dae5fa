// Package oidc is Gatehouse's OpenID Connect provider: registered clients,
// the authorization endpoint's rules (redirect URIs, PKCE, prompt, max_age,
// consent), authorization codes, the token, userinfo, revocation,
// introspection and end-session endpoints, and the grants users see and
// revoke. A client's tokens belong to a session of auth.Sessions (a child of
// the browser session that authorized them), so they rotate, and end, with
// the same machinery as Gatehouse's own.
//
// Built on golang-jwt rather than zitadel/oidc's op package: op's storage
// model splits a refresh into a read (TokenRequestByRefreshToken) and a
// separate write (CreateAccessAndRefreshTokens), where Gatehouse reads,
// decides and rotates in one transaction (auth.Store.Rotate) and hands the
// same successor to a replay inside the grace window; op signs access
// tokens itself (its own claims and "typ"), where Gatehouse's must carry
// "sid" and "typ": "at+jwt" so that guard and the change feed revoke them;
// and op accepts PKCE "plain". See the package README in docs/oidc.md.
package oidc

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Scopes the provider knows.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
	// ScopeOrganization shares the organization the user's browser session
	// acts in: ID tokens and userinfo carry org_id, org_role and permissions.
	ScopeOrganization = "organization"
)

// SupportedScopes are the scopes a client may be registered for.
var SupportedScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess, ScopeOrganization}

// DefaultScopes are a client's scopes when its registration names none:
// the organization scope is asked for only by clients registered with it.
var DefaultScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess}

// SupportedClaims are the claims ID tokens and userinfo may carry.
var SupportedClaims = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "sid",
	"name", "preferred_username", "email", "email_verified", "org_id", "org_role", "permissions"}

// IDTokenAlgorithms are the algorithms a client may ask its ID tokens in.
var IDTokenAlgorithms = []string{"EdDSA", "ES256", "RS256"}

// CodeTTL is how long an authorization code lives.
const CodeTTL = 60 * time.Second

// Client is a registered relying party.
type Client struct {
	ID                     string
	Name                   string
	SecretHash             string // hex SHA-256 of the secret; "" for public clients
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Public                 bool
	Scopes                 []string // what it may ask for
	IDTokenAlg             string
	RequireConsent         bool
	// RequirePKCE: confidential clients may be registered without PKCE
	// (--require-pkce=false); public clients always need it.
	RequirePKCE bool
	CreatedAt   time.Time
	// GrantTypes: GrantsUserFacing, or GrantsService for a service client
	// (client_credentials: no user, no redirect URI; service.go).
	GrantTypes []string
	// A service client's allowed token audiences (RFC 8707 resources), and
	// its public JWK Set for private_key_jwt: the document itself, or where
	// to fetch it (at most one of the two).
	Audiences []string
	JWKS      string
	JWKSURI   string
	// Disabled: a service client that may get no token for now.
	Disabled bool
	// RevocationID is the "sid" of a service client's access tokens: ending
	// them (disable, secret rotation, removal) puts it in the change feed
	// and gives the client a new one.
	RevocationID string
	// Introspect lets a confidential client ask /oauth/introspect about any
	// token of the server (API keys, service tokens, users' access tokens);
	// without it a client learns only about its own tokens.
	Introspect bool
}

// Grant types a client may be registered for.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// GrantsUserFacing and GrantsService are the two kinds of client: an
// application users sign in to, and a machine acting as itself.
var (
	GrantsUserFacing = []string{GrantAuthorizationCode, GrantRefreshToken}
	GrantsService    = []string{GrantClientCredentials}
)

// Service reports whether c is a service client (the client_credentials
// grant only).
func (c Client) Service() bool { return slices.Contains(c.GrantTypes, GrantClientCredentials) }

// Code is an authorization code as stored: only its SHA-256.
type Code struct {
	Hash            string
	ClientID        string
	UserID          string
	SessionID       string // the browser session that authorized
	RedirectURI     string
	CodeChallenge   string // S256 challenge; "" when none was sent (confidential clients only)
	Scope           string
	Nonce           string
	AuthTime        time.Time
	CreatedAt       time.Time
	ExpiresAt       time.Time
	UsedAt          time.Time // zero until exchanged
	IssuedSessionID string    // the client session its exchange created
}

// Grant is what a user consented to give a client.
type Grant struct {
	UserID     string
	ClientID   string
	ClientName string // filled in by Grants
	Scope      string
	CreatedAt  time.Time
}

// Store is the persistence the provider needs (internal/store).
type Store interface {
	ClientStore
	CreateCode(ctx context.Context, c Code) error
	Code(ctx context.Context, hash string) (Code, error) // not_found
	Grant(ctx context.Context, userID, clientID string) (Grant, error)
	// SaveGrant records a grant, widening an existing one to the union.
	SaveGrant(ctx context.Context, g Grant) error
	Grants(ctx context.Context, userID string) ([]Grant, error)
	// DeleteGrant deletes a user's grant to a client and ends the sessions
	// of that client for that user, in one transaction.
	DeleteGrant(ctx context.Context, userID, clientID string, now, liveUntil time.Time) (found bool, ended []string, err error)
}

// ClientStore keeps the registered clients.
type ClientStore interface {
	CreateClient(ctx context.Context, c Client) error
	Client(ctx context.Context, id string) (Client, error) // not_found
	Clients(ctx context.Context) ([]Client, error)
	// UpdateClient replaces a client's settings at now; end, when set,
	// ends its client_credentials tokens in the same transaction. It, like
	// SetClientSecret and DeleteClient, puts the client in the change feed
	// in its transaction, so every instance forgets its copy.
	UpdateClient(ctx context.Context, c Client, now time.Time, end *TokensEnd) error
	SetClientSecret(ctx context.Context, id, hash string, now time.Time, end *TokensEnd) error
	// DeleteClient deletes the client, its codes and grants, and ends its
	// sessions (and its client_credentials tokens), in one transaction; it
	// returns the session (revocation) ids it ended.
	DeleteClient(ctx context.Context, id string, now, liveUntil time.Time) ([]string, error)
	// SpendAssertion records the jti of a client's private_key_jwt
	// assertion until it expires; false if the client used it before and
	// it has not expired.
	SpendAssertion(ctx context.Context, clientID, jti string, expires, now time.Time) (bool, error)
}

// TokensEnd ends a service client's access tokens: Old, the revocation id
// they carry as "sid", goes into the change feed until LiveUntil, and the
// client takes New.
type TokensEnd struct {
	Old, New  string
	LiveUntil time.Time
}

// splitScope is a scope string's distinct values, in order.
func splitScope(s string) []string {
	var out []string
	for _, v := range strings.Fields(s) {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// subset reports whether every value of a is in b.
func subset(a, b []string) bool {
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	return true
}

func hasScope(scope, s string) bool { return slices.Contains(strings.Fields(scope), s) }
