// Package guard is net/http middleware that protects routes with Gatehouse
// access tokens. It verifies tokens offline against keys it holds (a
// KeySource), refuses tokens of ended sessions (a RevocationSource) and puts
// the verified Claims in the request context.
//
// guard imports no internal Gatehouse package, so any Go service can use it:
//
//	g, err := guard.New(guard.Config{Issuer: iss, Audience: aud, Keys: keys})
//	mux.Handle("GET /books", g.Require()(listBooks))
//	mux.Handle("GET /admin", g.Require(guard.Role("admin"))(admin))
//	mux.Handle("DELETE /books/{id}", g.Require(guard.RequireMFA(), guard.MaxAuthAge(10*time.Minute))(del))
//
// Inside a handler, guard.ClaimsFrom(r.Context()) returns the caller's claims.
package guard

import (
	"context"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenType is the JWT "typ" header of access tokens (RFC 9068).
const TokenType = "at+jwt"

// Claims are the claims of a Gatehouse access token.
type Claims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
	Role      string `json:"role,omitempty"`
	// EmailVerified says the user's address was verified when the token was
	// issued (Gatehouse v2).
	EmailVerified bool `json:"email_verified"`
	// AMR says how the user authenticated (RFC 8176): "pwd", "otp", "hwk",
	// "user", and "mfa" when two kinds of factor were proved.
	AMR []string `json:"amr,omitempty"`
	// IDP names the upstream identity provider the user signed in through
	// ("google", "github"; amr then has "fed"); empty for a local login.
	IDP string `json:"idp,omitempty"`
	// AuthTime is when the user last proved who they are: the login, or a
	// later re-authentication (OpenID Connect's auth_time).
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
	// ClientID and Scope are set in tokens issued to an OpenID Connect
	// client (RFC 9068): the client, and the space-separated scopes the user
	// granted it. Gatehouse's own tokens carry neither.
	ClientID string `json:"client_id,omitempty"`
	Scope    string `json:"scope,omitempty"`
	// OrgID, OrgRole and Permissions are set when the session acts in an
	// organization (Gatehouse v3): the organization, the user's role there
	// ("owner", "admin", "member" or a custom role) and the permission
	// strings that role holds ("books:write"), as they were when the token
	// was issued. OrgGrant names those claims: when the membership is
	// removed or its role changes, Gatehouse revokes it as it revokes an
	// ended session, and guard refuses the token (token_revoked) so that
	// the client refreshes and gets the claims of the membership as it is.
	OrgID       string   `json:"org_id,omitempty"`
	OrgRole     string   `json:"org_role,omitempty"`
	Permissions []string `json:"permissions,omitempty"`
	OrgGrant    string   `json:"org_grant,omitempty"`
	// Extra holds claims beyond these when a token is signed (Gatehouse's
	// token hook adds them); a name one of the fields above already
	// writes is never replaced. Verification does not fill it.
	Extra map[string]any `json:"-"`
}

// HasPermission reports whether the token's organization role holds p.
func (c *Claims) HasPermission(p string) bool {
	return c != nil && c.OrgID != "" && p != "" && slices.Contains(c.Permissions, p)
}

// MarshalJSON writes the claims, Extra merged in.
func (c Claims) MarshalJSON() ([]byte, error) {
	type plain Claims // the same fields, without this method
	b, err := json.Marshal(plain(c))
	if err != nil || len(c.Extra) == 0 {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range c.Extra {
		// A name equal to a set claim up to case (or Unicode folding, as
		// "ſub" to "sub") is one claim to JSON decoding: never add it.
		if slices.ContainsFunc(slices.Collect(maps.Keys(m)), func(set string) bool { return strings.EqualFold(set, k) }) {
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("claim %q: %w", k, err)
		}
		m[k] = raw
	}
	return json.Marshal(m)
}

// HasScope reports whether the token was granted scope s.
func (c *Claims) HasScope(s string) bool {
	return s != "" && slices.Contains(strings.Fields(c.Scope), s)
}

// Key is a public verification key bound to exactly one algorithm: a token
// whose header names another algorithm is refused, whatever its signature.
type Key struct {
	Algorithm string // "EdDSA", "ES256", "RS256" or "HS256"
	Public    any    // ed25519.PublicKey, *ecdsa.PublicKey, *rsa.PublicKey, or []byte for HS256
}

// KeySource finds the verification key for a key id ("kid").
type KeySource interface {
	VerificationKey(kid string) (Key, bool)
}

// RevocationSource reports whether a session has been ended (or, for an
// id that is a token's org_grant, whether those organization claims were
// revoked: both come through the same feed). It is consulted on every
// request, so it must answer from memory.
type RevocationSource interface {
	Revoked(sessionID string) bool
}

// Config configures a Guard. Issuer, Audience, Algorithms and Keys are required.
type Config struct {
	Issuer      string
	Audience    string
	Algorithms  []string         // accepted "alg" values; nothing else verifies
	Keys        KeySource        // where verification keys come from
	Revocations RevocationSource // optional: nil means no session is revoked
	Leeway      time.Duration    // clock skew allowed on exp/nbf/iat; default 5 s
	Now         func() time.Time // default time.Now

	AccessCookie string // cookie holding the access token; default "__Host-access"
	CSRFCookie   string // double-submit cookie; default "__Host-csrf"

	// CacheSize bounds the cache of verified tokens (see Verify); default
	// 10000 entries. Negative disables the cache.
	CacheSize int

	// AnyAudience accepts tokens whatever their audience, and then Audience
	// must be empty. It is for a token introspection endpoint, which answers
	// about every token its server issued; a resource server must never set
	// it (it would accept tokens meant for other services).
	AnyAudience bool

	// Introspection, when set, makes the Guard accept Gatehouse API keys
	// ("gh_pat_..."), checked at Gatehouse's introspection endpoint and then
	// held in memory (apikeys.go). Without it a key is refused as an
	// invalid token.
	Introspection *Introspection
}

// Guard verifies access tokens and makes middleware that requires them.
type Guard struct {
	cfg    Config
	parser *jwt.Parser
	cache  *verifiedCache // nil when disabled
	keys   *keyChecker    // nil: API keys are refused
}

// New validates cfg and returns a Guard.
func New(cfg Config) (*Guard, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("guard: Config.Issuer is required")
	case cfg.Audience == "" && !cfg.AnyAudience:
		return nil, errors.New("guard: Config.Audience is required")
	case cfg.Audience != "" && cfg.AnyAudience:
		return nil, errors.New("guard: Config.Audience and AnyAudience exclude each other")
	case cfg.Keys == nil:
		return nil, errors.New("guard: Config.Keys is required")
	case len(cfg.Algorithms) == 0:
		return nil, errors.New("guard: Config.Algorithms is required")
	}
	for _, alg := range cfg.Algorithms {
		if !slices.Contains([]string{"EdDSA", "ES256", "RS256", "HS256"}, alg) {
			return nil, errors.New("guard: unsupported algorithm " + alg)
		}
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AccessCookie == "" {
		cfg.AccessCookie = "__Host-access"
	}
	if cfg.CSRFCookie == "" {
		cfg.CSRFCookie = "__Host-csrf"
	}
	audience := jwt.WithAudience(cfg.Audience)
	if cfg.AnyAudience {
		audience = func(*jwt.Parser) {}
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods(cfg.Algorithms),
		jwt.WithIssuer(cfg.Issuer),
		audience,
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
		// One spelling per token: without it the unused low bits of the last
		// base64 character are ignored, and 16 spellings of one signature
		// verify (and miss the cache keyed by the token).
		jwt.WithStrictDecoding(),
	)
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10000
	}
	g := &Guard{cfg: cfg, parser: parser}
	if cfg.CacheSize > 0 {
		g.cache = newVerifiedCache(cfg.CacheSize)
	}
	if cfg.Introspection != nil {
		keys, err := newKeyChecker(*cfg.Introspection, cfg.Now)
		if err != nil {
			return nil, err
		}
		g.keys = keys
	}
	return g, nil
}

// Error is a refused request. Code is one of the Code constants (error.go).
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return "guard: " + e.Code + ": " + e.Message }

var (
	errNoToken      = &Error{CodeUnauthorized, "An access token is required."}
	errInvalidToken = &Error{CodeInvalidToken, "The access token is not valid."}
	errExpiredToken = &Error{CodeTokenExpired, "The access token has expired."}
	errRevokedToken = &Error{CodeTokenRevoked, "The session of this access token has ended."}
	// errRevokedOrgClaims: the membership the token's organization claims
	// describe was removed or changed; a refresh gets the current claims.
	errRevokedOrgClaims = &Error{CodeTokenRevoked, "The organization role of this access token has changed; refresh it."}
)

// Verify checks a token's signature, algorithm, type, issuer, audience and
// times, then its session's revocation. Errors are *Error. An API key
// (gh_pat_...) is checked by introspection when Config.Introspection is
// set (apikeys.go), else refused.
//
// A token that verified before is found in a cache until its exp, as long
// as its key is still held; the revocation check is made every time. The
// returned Claims may be shared between requests: treat them as read-only.
func (g *Guard) Verify(token string) (*Claims, error) {
	return g.verify(context.Background(), token)
}

// verify is Verify, with ctx bounding an API key's introspection.
func (g *Guard) verify(ctx context.Context, token string) (*Claims, error) {
	if strings.HasPrefix(token, APIKeyPrefix) {
		if g.keys == nil {
			return nil, errNoKeys
		}
		claims, err := g.keys.check(ctx, token)
		if err != nil {
			return nil, err
		}
		return g.checkRevoked(claims)
	}
	if g.cache != nil {
		if e, ok := g.cache.get(token, g.cfg.Now()); ok {
			if _, held := g.cfg.Keys.VerificationKey(e.kid); held {
				return g.checkRevoked(e.claims)
			}
			g.cache.drop(token) // its key retired: verify afresh, and fail
		}
	}
	claims := new(Claims)
	parsed, err := g.parser.ParseWithClaims(token, claims, g.keyFor)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		// Only a token whose signature verified reaches the time checks.
		return nil, errExpiredToken
	case err != nil:
		return nil, errInvalidToken
	case claims.Subject == "" || claims.SessionID == "" || claims.ID == "":
		return nil, errInvalidToken
	}
	if g.cache != nil {
		kid, _ := parsed.Header["kid"].(string)
		g.cache.put(token, cachedToken{claims: claims, kid: kid, exp: claims.ExpiresAt.Time}, g.cfg.Now())
	}
	return g.checkRevoked(claims)
}

func (g *Guard) checkRevoked(c *Claims) (*Claims, error) {
	if g.cfg.Revocations == nil {
		return c, nil
	}
	if g.cfg.Revocations.Revoked(c.SessionID) {
		return nil, errRevokedToken
	}
	if c.OrgGrant != "" && g.cfg.Revocations.Revoked(c.OrgGrant) {
		return nil, errRevokedOrgClaims
	}
	return c, nil
}

// keyFor picks the verification key named by the header's kid. Keys carried
// in the token itself (jwk, jku, x5u, x5c) are refused, never used.
func (g *Guard) keyFor(t *jwt.Token) (any, error) {
	if typ, _ := t.Header["typ"].(string); typ != TokenType {
		return nil, errors.New("wrong typ")
	}
	for _, h := range []string{"jwk", "jku", "x5u", "x5c"} {
		if _, ok := t.Header[h]; ok {
			return nil, errors.New("header-supplied key")
		}
	}
	kid, _ := t.Header["kid"].(string)
	key, ok := g.cfg.Keys.VerificationKey(kid)
	if !ok || kid == "" {
		return nil, errors.New("unknown kid")
	}
	if t.Method.Alg() != key.Algorithm {
		return nil, errors.New("algorithm does not match the key")
	}
	if key.Algorithm == "ES256" && highS(t.Signature) {
		return nil, errors.New("ES256 signature with a high s")
	}
	return key.Public, nil
}

// p256HalfOrder is n/2 for P-256's group order n.
var p256HalfOrder = new(big.Int).Rsh(elliptic.P256().Params().N, 1)

// highS reports whether an ES256 signature r||s has s > n/2. (r, s) and
// (r, n-s) both verify, so one token would have two spellings (two cache
// entries, two deny-list keys); Gatehouse signs only with s <= n/2, and
// guard accepts only that spelling. A signature of the wrong length is
// left to the signature check, which refuses it.
func highS(sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	return new(big.Int).SetBytes(sig[32:]).Cmp(p256HalfOrder) > 0
}

type claimsKey struct{}

// WithClaims returns a copy of ctx carrying c.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFrom returns the verified claims that the middleware stored in ctx.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}
