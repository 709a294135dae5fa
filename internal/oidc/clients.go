package oidc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/google/uuid"
)

// ClientInput registers a client. Zero values take the defaults: every
// supported scope, ID tokens in the server's algorithm (RS256 when that is
// HS256, a secret no client can verify), consent required.
type ClientInput struct {
	Name                   string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Public                 bool
	Scopes                 []string
	IDTokenAlg             string
	RequireConsent         *bool
	RequirePKCE            *bool // confidential clients only; public ones always need PKCE
	// Service registers a service client (GrantsService): Scopes are then
	// its own API scopes (ScopePattern), Audiences the resources its tokens
	// may name, and JWKS (a JWK Set document) or JWKSURI its public keys for
	// private_key_jwt.
	Service    bool
	Audiences  []string
	JWKS       string
	JWKSURI    string
	Introspect bool // confidential clients only: may introspect every token
}

// ClientPatch changes the non-nil settings of a client.
type ClientPatch struct {
	Name                   *string
	RedirectURIs           *[]string
	PostLogoutRedirectURIs *[]string
	Scopes                 *[]string
	IDTokenAlg             *string
	RequireConsent         *bool
	RequirePKCE            *bool
	// A service client's (ignored for others: validClient refuses them).
	Audiences *[]string
	JWKS      *string
	JWKSURI   *string
	// Disabled stops a service client: its live tokens end (every instance,
	// every guard) and it gets none until enabled again.
	Disabled   *bool
	Introspect *bool
}

// Clients registers and administers the provider's clients (the admin API
// and the command line); it needs no more than the client store, and the
// provider's flows (Service) are not built for it.
type Clients struct {
	store    ClientStore
	accounts Auditor
	feed     Feed
	keys     ClientKeys
	now      func() time.Time // in whole milliseconds, as the store keeps times
	jwks     *jwksFetcher
}

// ClientKeys makes sure a key signs ID tokens in a client's algorithm
// (internal/token.KeyRing).
type ClientKeys interface {
	EnsureKey(ctx context.Context, alg string) error
	Algorithm() string
}

// ClientsDeps are the Clients' collaborators. Keys may be nil: then no key
// is made. Feed is told of each client changed or removed, to forget it at
// every instance (the store's write put it in the change feed). Now is the
// clock (time.Now when nil).
type ClientsDeps struct {
	Store    ClientStore
	Accounts Auditor
	Feed     Feed
	Keys     ClientKeys
	Now      func() time.Time
	// HTTP fetches a service client's JWK Set URI when it is registered,
	// to check it (internal/events/outbound's client); nil: not checked then.
	HTTP *http.Client
}

// NewClients wires Clients.
func NewClients(d ClientsDeps) *Clients {
	clock := d.Now
	if clock == nil {
		clock = time.Now
	}
	now := func() time.Time { return clock().UTC().Truncate(time.Millisecond) }
	c := &Clients{store: d.Store, accounts: d.Accounts, feed: d.Feed, keys: d.Keys, now: now}
	if d.HTTP != nil {
		c.jwks = &jwksFetcher{http: d.HTTP}
	}
	return c
}

// defaultIDTokenAlg is the algorithm of ID tokens when a client names none.
func (s *Clients) defaultIDTokenAlg() string {
	if s.keys == nil || s.keys.Algorithm() == "HS256" || s.keys.Algorithm() == "" {
		return "RS256"
	}
	return s.keys.Algorithm()
}

// Add registers a client and returns it with its secret (confidential
// clients; shown once, stored as its SHA-256).
func (s *Clients) Add(ctx context.Context, in ClientInput) (Client, string, error) {
	c := Client{ID: uuid.Must(uuid.NewV7()).String(), Public: in.Public, RequireConsent: true, CreatedAt: s.now(),
		Scopes: slices.Clone(DefaultScopes), IDTokenAlg: s.defaultIDTokenAlg()}
	if in.RequireConsent != nil {
		c.RequireConsent = *in.RequireConsent
	}
	c.RequirePKCE = true
	if in.RequirePKCE != nil {
		c.RequirePKCE = *in.RequirePKCE
	}
	if len(in.Scopes) > 0 {
		c.Scopes = in.Scopes
	}
	if in.IDTokenAlg != "" {
		c.IDTokenAlg = in.IDTokenAlg
	}
	c.Name, c.RedirectURIs, c.PostLogoutRedirectURIs = in.Name, in.RedirectURIs, in.PostLogoutRedirectURIs
	c.GrantTypes = GrantsUserFacing
	if in.Service {
		c.GrantTypes, c.Scopes, c.Audiences, c.JWKS, c.JWKSURI = GrantsService, in.Scopes, in.Audiences, in.JWKS, in.JWKSURI
		c.RequireConsent, c.RevocationID = false, newRevocationID()
	}
	c.Introspect = in.Introspect
	if err := validClient(&c); err != nil {
		return Client{}, "", err
	}
	if err := s.checkJWKSURI(ctx, c); err != nil {
		return Client{}, "", err
	}
	secret := ""
	if !c.Public && c.JWKS == "" && c.JWKSURI == "" { // a client with keys needs no shared secret
		secret = randomToken()
		c.SecretHash = hashSecret(secret)
	}
	if !c.Service() {
		if err := s.ensureKey(ctx, c.IDTokenAlg); err != nil {
			return Client{}, "", err
		}
	}
	if err := s.store.CreateClient(ctx, c); err != nil {
		return Client{}, "", err
	}
	kind := "confidential"
	switch {
	case c.Public:
		kind = "public"
	case c.Service():
		kind = "service"
	}
	s.accounts.Audit(ctx, auth.EventClientCreated, "", fmt.Sprintf("client %s (%s, %s)", c.ID, c.Name, kind))
	return c, secret, nil
}

// ensureKey makes sure a key signs ID tokens in alg (an RSA key for RS256
// clients, kept beside the active key and published in the JWKS).
func (s *Clients) ensureKey(ctx context.Context, alg string) error {
	if s.keys == nil {
		return nil
	}
	return s.keys.EnsureKey(ctx, alg)
}

// List lists every client.
func (s *Clients) List(ctx context.Context) ([]Client, error) { return s.store.Clients(ctx) }

// Get returns one client.
func (s *Clients) Get(ctx context.Context, id string) (Client, error) {
	return findClient(ctx, s.store, id)
}

// findClient reads the client id names: not_found for an id that is no
// client's (one that is not even a UUID asks the store nothing).
func findClient(ctx context.Context, st ClientStore, id string) (Client, error) {
	if uuid.Validate(id) != nil {
		return Client{}, auth.Errorf(auth.CodeNotFound, "The client was not found.")
	}
	return st.Client(ctx, id)
}

// Update changes a client's settings.
func (s *Clients) Update(ctx context.Context, id string, p ClientPatch) (Client, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return Client{}, err
	}
	if p.Name != nil {
		c.Name = *p.Name
	}
	if p.RedirectURIs != nil {
		c.RedirectURIs = *p.RedirectURIs
	}
	if p.PostLogoutRedirectURIs != nil {
		c.PostLogoutRedirectURIs = *p.PostLogoutRedirectURIs
	}
	if p.Scopes != nil {
		c.Scopes = *p.Scopes
	}
	if p.IDTokenAlg != nil {
		c.IDTokenAlg = *p.IDTokenAlg
	}
	if p.RequireConsent != nil {
		c.RequireConsent = *p.RequireConsent
	}
	if p.RequirePKCE != nil {
		c.RequirePKCE = *p.RequirePKCE
	}
	wasDisabled := c.Disabled
	patchService(&c, p)
	if p.Introspect != nil {
		c.Introspect = *p.Introspect
	}
	if err := validClient(&c); err != nil {
		return Client{}, err
	}
	if p.JWKSURI != nil {
		if err := s.checkJWKSURI(ctx, c); err != nil {
			return Client{}, err
		}
	}
	if !c.Service() {
		if err := s.ensureKey(ctx, c.IDTokenAlg); err != nil {
			return Client{}, err
		}
	}
	detail := "client " + c.ID
	if c.Disabled && !wasDisabled { // its tokens end with it
		if err := s.endTokens(ctx, &c, func(end *TokensEnd) error { return s.store.UpdateClient(ctx, c, s.now(), end) }); err != nil {
			return Client{}, err
		}
		detail += "; disabled, its tokens revoked"
	} else if err := s.store.UpdateClient(ctx, c, s.now(), nil); err != nil {
		return Client{}, err
	} else if wasDisabled && !c.Disabled {
		detail += "; enabled"
	}
	s.feed.ClientChanged(ctx, c.ID)
	s.accounts.Audit(ctx, auth.EventClientUpdated, "", detail)
	return c, nil
}

// Remove deletes a client; every session (and so every token) it
// holds ends at once.
func (s *Clients) Remove(ctx context.Context, id string) error {
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	ended, err := s.feed.EndSessionsBy(ctx, func(now, liveUntil time.Time) ([]string, error) {
		return s.store.DeleteClient(ctx, id, now, liveUntil)
	})
	if err != nil {
		return err
	}
	s.feed.ClientChanged(ctx, id)
	s.accounts.Audit(ctx, auth.EventClientDeleted, "", fmt.Sprintf("client %s; %d sessions ended", id, len(ended)))
	return nil
}

// RotateSecret gives a confidential client a new secret (returned once);
// the old one stops working at once here, and at the other instances as
// soon as the change reaches them (the fan-out, or their next read of the
// change feed).
func (s *Clients) RotateSecret(ctx context.Context, id string) (string, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return "", err
	}
	if c.Public {
		return "", auth.Errorf(auth.CodeInvalidRequest, "A public client has no secret.")
	}
	if c.JWKS != "" || c.JWKSURI != "" {
		return "", auth.Errorf(auth.CodeInvalidRequest, "This client authenticates with private_key_jwt: it has no secret.")
	}
	secret := randomToken()
	set := func(end *TokensEnd) error { return s.store.SetClientSecret(ctx, id, hashSecret(secret), s.now(), end) }
	detail := "client " + id
	if c.Service() { // a secret rotated because it leaked: what it obtained ends too
		err = s.endTokens(ctx, &c, set)
		detail += "; its tokens revoked"
	} else {
		err = set(nil)
	}
	if err != nil {
		return "", err
	}
	s.feed.ClientChanged(ctx, id)
	s.accounts.Audit(ctx, auth.EventClientSecretRotated, "", detail)
	return secret, nil
}

// validClient checks and normalises a client's settings.
func validClient(c *Client) error {
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" || utf8.RuneCountInString(c.Name) > 100 || !utf8.ValidString(c.Name) || strings.ContainsFunc(c.Name, unicode.IsControl) {
		return auth.Errorf(auth.CodeInvalidRequest, "The client name must be 1 to 100 printable characters.")
	}
	if c.Service() {
		return validService(c)
	}
	if len(c.Audiences) > 0 || c.JWKS != "" || c.JWKSURI != "" || c.Disabled {
		return auth.Errorf(auth.CodeInvalidRequest, "Audiences, a JWK Set and disabling are for service clients.")
	}
	if len(c.RedirectURIs) == 0 || len(c.RedirectURIs) > 20 {
		return auth.Errorf(auth.CodeInvalidRequest, "A client needs 1 to 20 redirect URIs.")
	}
	for _, u := range c.RedirectURIs {
		if err := validRedirectURI(u); err != nil {
			return err
		}
	}
	if len(c.PostLogoutRedirectURIs) > 20 {
		return auth.Errorf(auth.CodeInvalidRequest, "A client has at most 20 post-logout redirect URIs.")
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := validRedirectURI(u); err != nil {
			return err
		}
	}
	var scopes []string
	for _, sc := range c.Scopes {
		if !slices.Contains(SupportedScopes, sc) {
			return auth.Errorf(auth.CodeInvalidRequest, "The scope %q is not supported (supported: %s).", sc, strings.Join(SupportedScopes, " "))
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	if !slices.Contains(scopes, ScopeOpenID) {
		return auth.Errorf(auth.CodeInvalidRequest, "A client's scopes must include openid.")
	}
	c.Scopes = scopes
	if c.Public && c.Introspect {
		return auth.Errorf(auth.CodeInvalidRequest, "A public client cannot introspect tokens: it has no secret.")
	}
	if c.Public && !c.RequirePKCE {
		return auth.Errorf(auth.CodeInvalidRequest, "A public client always needs PKCE.")
	}
	if !slices.Contains(IDTokenAlgorithms, c.IDTokenAlg) {
		return auth.Errorf(auth.CodeInvalidRequest, "The ID token algorithm must be one of %s.", strings.Join(IDTokenAlgorithms, ", "))
	}
	return nil
}

// validRedirectURI accepts an absolute URI without fragment or user info:
// https, or http to a loopback host (127.0.0.1, [::1], localhost) for
// development and native apps (RFC 8252).
func validRedirectURI(raw string) error {
	bad := auth.Errorf(auth.CodeInvalidRequest, "The redirect URI %q must be an absolute https URL (http only to 127.0.0.1, [::1] or localhost), without fragment.", raw)
	if len(raw) > 1000 || strings.ContainsAny(raw, " \t\r\n\\") {
		return bad
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Fragment != "" || strings.Contains(raw, "#") || u.User != nil || u.Opaque != "" {
		return bad
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if u.Hostname() == "localhost" || isLoopbackIP(u.Hostname()) {
			return nil
		}
	}
	return bad
}

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && (ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv6loopback))
}

// matchRedirectURI finds the registered redirect URI that got matches:
// exactly, or, for a registered http loopback IP URI (127.0.0.1, [::1]),
// the same URI on any port (RFC 8252 7.3). Nothing is normalised: case,
// trailing slashes, dot segments and escapes must be as registered.
func matchRedirectURI(registered []string, got string) (string, bool) {
	if got == "" {
		return "", false
	}
	for _, r := range registered {
		if r == got {
			return r, true
		}
	}
	g, err := url.Parse(got)
	if err != nil || g.Scheme != "http" || !isLoopbackIP(g.Hostname()) || g.Fragment != "" || strings.Contains(got, "#") || g.User != nil {
		return "", false
	}
	for _, r := range registered {
		ru, err := url.Parse(r)
		if err != nil || ru.Scheme != "http" || !isLoopbackIP(ru.Hostname()) || ru.Hostname() != g.Hostname() {
			continue
		}
		// A port as a port is written: 1 to 65535, no leading zero.
		if port, err := strconv.Atoi(g.Port()); err != nil || port < 1 || port > 65535 || strconv.Itoa(port) != g.Port() {
			continue
		}
		if g.EscapedPath() == ru.EscapedPath() && g.RawQuery == ru.RawQuery && g.ForceQuery == ru.ForceQuery {
			return got, true
		}
	}
	return "", false
}
