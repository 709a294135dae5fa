package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Service clients: confidential clients of the client_credentials grant,
// machines acting as themselves. Their scopes are the application's own
// (e.g. books:read), their tokens' audiences the resources an
// administrator allows them, and they authenticate with a secret or, when
// a JWK Set is registered, with private_key_jwt only (assertion.go).

// ScopePattern is the grammar of a service client's scopes.
var ScopePattern = regexp.MustCompile(`^[a-z][a-z0-9_.:-]*$`)

// Limits of a service client's registration.
const (
	maxServiceScopes = 50
	maxScopeLen      = 100
	maxAudiences     = 20
	maxAudienceLen   = 200
	maxJWKSBytes     = 64 << 10
	maxJWKSKeys      = 20
)

// validService checks and normalises a service client's settings (its
// name is checked already).
func validService(c *Client) error {
	if c.Public {
		return auth.Errorf(auth.CodeInvalidRequest, "A service client is confidential: it cannot be public.")
	}
	if len(c.RedirectURIs) > 0 || len(c.PostLogoutRedirectURIs) > 0 {
		return auth.Errorf(auth.CodeInvalidRequest, "A service client has no redirect URIs: no user signs in through it.")
	}
	if len(c.Scopes) == 0 || len(c.Scopes) > maxServiceScopes {
		return auth.Errorf(auth.CodeInvalidRequest, "A service client needs 1 to %d scopes.", maxServiceScopes)
	}
	var scopes []string
	for _, sc := range c.Scopes {
		if len(sc) > maxScopeLen || !ScopePattern.MatchString(sc) {
			return auth.Errorf(auth.CodeInvalidRequest, "The scope %q is not valid: a scope is a lowercase letter, then lowercase letters, digits, and _ . : - (at most %d characters).", sc, maxScopeLen)
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	c.Scopes = scopes
	if len(c.Audiences) > maxAudiences {
		return auth.Errorf(auth.CodeInvalidRequest, "A service client has at most %d audiences.", maxAudiences)
	}
	var auds []string
	for _, a := range c.Audiences {
		if a == "" || len(a) > maxAudienceLen || strings.ContainsFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return auth.Errorf(auth.CodeInvalidRequest, "The audience %q is not valid: 1 to %d characters, no spaces.", a, maxAudienceLen)
		}
		if !slices.Contains(auds, a) {
			auds = append(auds, a)
		}
	}
	c.Audiences = auds
	if c.JWKS != "" && c.JWKSURI != "" {
		return auth.Errorf(auth.CodeInvalidRequest, "Register a JWK Set or a JWK Set URI, not both.")
	}
	if c.JWKS != "" {
		if _, err := parseJWKS([]byte(c.JWKS)); err != nil {
			return err
		}
	}
	if c.JWKSURI != "" {
		if err := validJWKSURI(c.JWKSURI); err != nil {
			return err
		}
	}
	c.RequireConsent = false
	return nil
}

// validJWKSURI accepts an absolute https URL (http to a loopback host, for
// development) without user info or fragment.
func validJWKSURI(raw string) error {
	u, err := url.Parse(raw)
	bad := auth.Errorf(auth.CodeInvalidRequest, "The JWK Set URI %q must be an absolute https URL.", raw)
	if err != nil || len(raw) > 1000 || u.Host == "" || u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") {
		return bad
	}
	if u.Scheme == "https" || u.Scheme == "http" && (u.Hostname() == "localhost" || isLoopbackIP(u.Hostname())) {
		return nil
	}
	return bad
}

// parseJWKS reads a client's public JWK Set: 1 to 20 asymmetric public
// keys (RSA, EC, OKP). A symmetric key or a private key is refused: the
// first would let HS256 in, the second means the client gave away its key.
func parseJWKS(raw []byte) (keyfunc.Keyfunc, error) {
	bad := func(why string) error {
		return auth.Errorf(auth.CodeInvalidRequest, "The JWK Set is not valid: %s.", why)
	}
	if len(raw) > maxJWKSBytes {
		return nil, bad(fmt.Sprintf("larger than %d KiB", maxJWKSBytes>>10))
	}
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, bad("not a JSON JWK Set ({\"keys\": [...]})")
	}
	if len(set.Keys) == 0 || len(set.Keys) > maxJWKSKeys {
		return nil, bad(fmt.Sprintf("it needs 1 to %d keys", maxJWKSKeys))
	}
	for _, k := range set.Keys {
		switch {
		case k.KTY != jwkset.KtyRSA && k.KTY != jwkset.KtyEC && k.KTY != jwkset.KtyOKP:
			return nil, bad(fmt.Sprintf("key type %q (want RSA, EC or OKP public keys)", k.KTY))
		case k.D != "" || k.P != "" || k.Q != "" || k.K != "":
			return nil, bad("it holds private key material; register only the public keys")
		case k.USE != "" && k.USE != jwkset.UseSig:
			return nil, bad(fmt.Sprintf("key use %q (want sig)", k.USE))
		}
	}
	kf, err := keyfunc.NewJWKSetJSON(raw)
	if err != nil {
		return nil, bad("a key does not parse")
	}
	return kf, nil
}

// jwksFetcher fetches JWK Sets by URI through the outbound client (SSRF-
// safe, bounded in time and size).
type jwksFetcher struct{ http *http.Client }

func (f *jwksFetcher) fetch(ctx context.Context, uri string) (keyfunc.Keyfunc, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := f.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWK Set: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWK Set: status %d", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch JWK Set: %w", err)
	}
	return parseJWKS(raw)
}

// checkJWKSURI fetches a service client's JWK Set URI, when one is set and
// the Clients can fetch: a URI that gives no usable key is refused at once.
func (s *Clients) checkJWKSURI(ctx context.Context, c Client) error {
	if s.jwks == nil || c.JWKSURI == "" {
		return nil
	}
	if _, err := s.jwks.fetch(ctx, c.JWKSURI); err != nil {
		return auth.Errorf(auth.CodeInvalidRequest, "The JWK Set URI gave no usable key set: %s", auth.ErrorMessage(err))
	}
	return nil
}

// patchService applies the service settings of a patch.
func patchService(c *Client, p ClientPatch) {
	if p.Audiences != nil {
		c.Audiences = *p.Audiences
	}
	if p.JWKS != nil {
		c.JWKS = strings.TrimSpace(*p.JWKS)
		if c.JWKS != "" && p.JWKSURI == nil {
			c.JWKSURI = "" // one replaces the other
		}
	}
	if p.JWKSURI != nil {
		c.JWKSURI = strings.TrimSpace(*p.JWKSURI)
		if c.JWKSURI != "" && p.JWKS == nil {
			c.JWKS = ""
		}
	}
	if p.Disabled != nil {
		c.Disabled = *p.Disabled
	}
}

// newRevocationID is a service client's next token revocation id.
func newRevocationID() string { return "cc-" + randomToken()[:22] }

// endTokens ends a service client's live access tokens with write, a store
// write that takes end (the client's revocation id, put in the change feed
// in its transaction, and the next one): at once here, and through the
// change feed at every instance and guard.
func (s *Clients) endTokens(ctx context.Context, c *Client, write func(end *TokensEnd) error) error {
	end := &TokensEnd{Old: c.RevocationID, New: newRevocationID()}
	_, err := s.feed.EndSessionsBy(ctx, func(_, liveUntil time.Time) ([]string, error) {
		end.LiveUntil = liveUntil
		if err := write(end); err != nil {
			return nil, err
		}
		if end.Old == "" {
			return nil, nil
		}
		return []string{end.Old}, nil
	})
	if err != nil {
		return err
	}
	c.RevocationID = end.New
	return nil
}

// clientKeys is a service client's public keys as this instance holds
// them: parsed once from the registered document, or fetched from its URI
// and fetched again when an assertion names a key it lacks (at most every
// keysRefetch) or when older than keysMaxAge.
type clientKeys struct {
	mu      sync.Mutex
	kf      keyfunc.Keyfunc
	fetched time.Time
}

const (
	keysRefetch = 10 * time.Second
	keysMaxAge  = 5 * time.Minute
)

// keys returns the client's key set; refresh asks for a fetch of a URI's
// set (an unknown kid) if the last is older than keysRefetch.
func (s *Service) clientKeys(ctx context.Context, c Client, k *clientKeys, refresh bool) (keyfunc.Keyfunc, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := s.cfg.Now()
	if c.JWKS != "" {
		if k.kf == nil {
			kf, err := parseJWKS([]byte(c.JWKS))
			if err != nil {
				return nil, err
			}
			k.kf = kf
		}
		return k.kf, nil
	}
	stale := k.kf == nil || now.Sub(k.fetched) > keysMaxAge || refresh && now.Sub(k.fetched) > keysRefetch
	if !stale {
		return k.kf, nil
	}
	if s.jwks == nil {
		return nil, auth.Errorf(CodeInvalidClient, "JWK Set URIs cannot be fetched here.")
	}
	kf, err := s.jwks.fetch(ctx, c.JWKSURI)
	k.fetched = now // a failing URI is not asked again at once either
	if err != nil {
		if k.kf != nil {
			s.log.Warn("refreshing a client's JWK Set failed; keeping the last", "client", c.ID, "err", err)
			return k.kf, nil
		}
		return nil, err
	}
	k.kf = kf
	return kf, nil
}
