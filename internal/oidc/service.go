package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/golang-jwt/jwt/v5"
)

// OAuth 2.0 error codes (RFC 6749 5.2, 4.1.2.1; RFC 6750; RFC 7009; OpenID
// Connect Core 3.1.2.6). The OAuth endpoints answer them in RFC 6749's own
// format (httpjson.OAuthError); invalid_request is the contract's code too.
const (
	CodeInvalidRequest          = auth.CodeInvalidRequest
	CodeInvalidClient           = "invalid_client"
	CodeInvalidGrant            = auth.CodeInvalidGrant
	CodeUnauthorizedClient      = "unauthorized_client"
	CodeUnsupportedGrantType    = "unsupported_grant_type"
	CodeUnsupportedResponseType = "unsupported_response_type"
	CodeInvalidScope            = auth.CodeInvalidScope
	CodeAccessDenied            = "access_denied"
	CodeInvalidToken            = "invalid_token"
	CodeInsufficientScope       = "insufficient_scope"
	CodeLoginRequired           = "login_required"
	CodeConsentRequired         = "consent_required"
	CodeRequestNotSupported     = "request_not_supported"
	CodeRequestURINotSupported  = "request_uri_not_supported"
)

// Keys signs ID tokens and finds verification keys (internal/token.KeyRing).
type Keys interface {
	SignAs(alg, typ string, claims jwt.Claims) (string, error)
	SignAccess(claims any) (string, error) // an access token (typ at+jwt) with the active key
	VerificationKey(kid string) (guard.Key, bool)
}

// Config is the provider's identity and lifetimes.
type Config struct {
	Issuer     string
	AccessTTL  time.Duration // ID tokens live as long as access tokens
	AccessAlgs []string      // what access tokens are signed with (the server's --signing-alg)
	// ClientLimit is a known client's own per-address bucket for its secret
	// checks (ratelimit.Policy.Client).
	ClientLimit ratelimit.Limit
	Now         func() time.Time
	// APIAudience is the audience of Gatehouse's own API (--audience; the
	// issuer when empty): a service client's token never names it, since
	// tokens there act as users.
	APIAudience string
}

// What the provider needs of the auth services: interfaces it owns, each
// as small as its use.
type (
	// Sessions are the client sessions the provider starts, refreshes and
	// ends (auth.Sessions).
	Sessions interface {
		StartClientSession(ctx context.Context, in auth.ClientSessionInput) (*auth.Tokens, error)
		RefreshFor(ctx context.Context, refreshToken, clientID, scope string) (*auth.Tokens, error)
		RefreshTokenState(ctx context.Context, refreshToken string) (auth.RefreshToken, auth.Session, error)
		EndSessions(ctx context.Context, f auth.SessionFilter) ([]string, error)
		Logout(ctx context.Context, in auth.LogoutInput) error
	}
	// Accounts reads users and records the provider's audit events
	// (auth.Accounts).
	Accounts interface {
		User(ctx context.Context, id string) (auth.User, error)
		Auditor
	}
	// Auditor records the provider's audit events (auth.Accounts).
	Auditor interface {
		Audit(ctx context.Context, event, userID, detail string)
	}
	// Checks runs a check of a client secret or an authorization code
	// through auth's one guarded path (auth.Checks).
	Checks interface {
		Guarded(ctx context.Context, c auth.GuardedCheck) error
	}
	// APIKeys checks an API key for the introspection endpoint
	// (auth.APIKeys).
	APIKeys interface {
		Introspect(ctx context.Context, raw string, caller auth.Client) (auth.KeyUse, error)
	}
	// Feed runs the store writes that end sessions (deleting a grant or a
	// client) at its time, and announces the sessions they ended, and the
	// clients changed, to every instance (auth.Feed).
	Feed interface {
		EndSessionsBy(ctx context.Context, end func(now, liveUntil time.Time) ([]string, error)) ([]string, error)
		ClientChanged(ctx context.Context, id string)
	}
	// Orgs is the organization a session acts in (orgs.Sessions), for the
	// organization scope.
	Orgs interface {
		SessionOrgClaims(ctx context.Context, sessionID, userID string) (auth.OrgClaims, error)
		EnterOrg(ctx context.Context, sessionID, userID, orgID string) error
		OrgName(ctx context.Context, orgID string) (string, error)
	}
)

var (
	_ Sessions = (*auth.Sessions)(nil)
	_ Accounts = (*auth.Accounts)(nil)
	_ Checks   = (*auth.Checks)(nil)
	_ Feed     = (*auth.Feed)(nil)
	_ APIKeys  = (*auth.APIKeys)(nil)
)

// Service is the provider's use cases; the HTTP handlers are thin adapters
// over it.
type Service struct {
	store       Store
	sessions    Sessions
	accounts    Accounts
	checks      Checks
	feed        Feed
	apiKeys     APIKeys
	keys        Keys
	revocations guard.RevocationSource
	sealer      auth.Sealer
	orgs        Orgs // nil: no organization claims
	cfg         Config
	log         *slog.Logger

	guards sync.Map // client id → *guard.Guard verifying that client's access tokens

	clients    sync.Map // client id → *cachedClient (credentials.go)
	jwks       *jwksFetcher
	countGrant func(clientID string)
	hook       auth.TokenHook // nil: none
	// anyAudience verifies every access token of the server, whatever its
	// audience, for clients allowed to introspect them all.
	anyAudience *guard.Guard
}

// Deps are the Service's collaborators.
type Deps struct {
	Store Store
	// The auth services the provider uses (auth.Sessions, auth.Accounts,
	// auth.Checks, auth.Feed).
	Sessions    Sessions
	Accounts    Accounts
	Checks      Checks
	Feed        Feed
	APIKeys     APIKeys // nil: API keys are never active at introspection
	Keys        Keys
	Revocations guard.RevocationSource
	// Sealer (the master key) seals the authorization endpoint's note that
	// a fresh sign-in was asked for; nil where nothing is authorized.
	Sealer auth.Sealer
	// Orgs serves the organization scope; nil: it shares nothing.
	Orgs Orgs
	Log  *slog.Logger
	// HTTP fetches service clients' JWK Set URIs (internal/events/outbound's
	// client); nil: such clients cannot authenticate here.
	HTTP *http.Client
	// CountGrant is told of each client_credentials grant by client id
	// (metrics: counted, not audited); optional.
	CountGrant func(clientID string)
	// TokenHook, when set, is asked before a service client's access token
	// is minted, as auth asks it for users' tokens (--hook-token-url).
	TokenHook auth.TokenHook
}

// NewService wires a Service.
func NewService(cfg Config, d Deps) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	s := &Service{store: d.Store, sessions: d.Sessions, accounts: d.Accounts, checks: d.Checks, feed: d.Feed, apiKeys: d.APIKeys, keys: d.Keys, revocations: d.Revocations, sealer: d.Sealer, orgs: d.Orgs, cfg: cfg, log: d.Log,
		countGrant: d.CountGrant, hook: d.TokenHook}
	if d.HTTP != nil {
		s.jwks = &jwksFetcher{http: d.HTTP}
	}
	if s.countGrant == nil {
		s.countGrant = func(string) {}
	}
	if d.Keys != nil {
		// Only fails on a configuration app.New has checked already.
		g, err := guard.New(guard.Config{Issuer: cfg.Issuer, AnyAudience: true, Algorithms: cfg.AccessAlgs,
			Keys: d.Keys, Revocations: d.Revocations, Now: cfg.Now})
		if err != nil {
			d.Log.Error("introspection of access tokens disabled", "err", err)
		}
		s.anyAudience = g
	}
	return s
}

// client reads the client id names (not_found).
func (s *Service) client(ctx context.Context, id string) (Client, error) {
	return findClient(ctx, s.store, id)
}

// ForgetClient drops what the provider keeps in memory of a client that
// was changed or removed, here or elsewhere (auth.Feed.OnClientChanged).
func (s *Service) ForgetClient(id string) {
	s.guards.Delete(id)
	s.clients.Delete(id)
}

// Issuer is the provider's issuer identifier.
func (s *Service) Issuer() string { return s.cfg.Issuer }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

func oauthErr(code, format string, args ...any) *auth.Error {
	return auth.Errorf(code, format, args...)
}

func hashSecret(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// randomToken is 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
