package upstream

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/google/uuid"
	"golang.org/x/oauth2"
)

// The kinds: how a provider's endpoints are found and who it says the user
// is. oidc: discovery, and an ID token verified by go-oidc against the
// provider's keys (signature, iss, aud, exp) plus the nonce here. github:
// the OAuth2 app flow, then GET /user and GET /user/emails. Both: the
// callback's iss first (RFC 9207, checkResponseIssuer).

// discovered is an issuer's discovery document and key set, kept for
// discoveryTTL (the keys refetch themselves on an unknown kid).
type discovered struct {
	provider *oidc.Provider
	keys     oidc.KeySet
	// tenantIssuer is a multi-tenant issuer with its {tenantid}
	// placeholder ("" for an ordinary issuer): each token's iss must be it
	// with the token's tid.
	tenantIssuer string
	algs         []string // id_token_signing_alg_values_supported ("": go-oidc's default, RS256)
	// issInResponse: the provider names itself in every authorization
	// response (authorization_response_iss_parameter_supported, RFC 9207).
	issInResponse bool
	fetched       time.Time
}

const discoveryTTL = time.Hour

// tenantTemplate reports whether discovered, the issuer a discovery
// document at configured names, is a multi-tenant template: on the same
// host, with a {tenantid} placeholder that each ID token's tid fills
// (Microsoft's common, organizations and consumers endpoints).
func tenantTemplate(configured, discovered string) bool {
	c, err1 := url.Parse(configured)
	d, err2 := url.Parse(discovered)
	return err1 == nil && err2 == nil && strings.Contains(d.Path, "{tenantid}") && c.Scheme == d.Scheme && c.Host == d.Host
}

// discover reads (or recalls) p's discovery document.
func (s *Service) discover(ctx context.Context, p Provider) (*discovered, error) {
	s.mu.Lock()
	d := s.discovery[p.Issuer]
	s.mu.Unlock()
	if d != nil && s.cfg.Now().Sub(d.fetched) < discoveryTTL {
		return d, nil
	}
	client := s.client(p)
	dctx := oidc.ClientContext(ctx, client)
	tenant := ""
	prov, err := oidc.NewProvider(dctx, p.Issuer)
	var mismatch *oidc.IssuerMismatchError
	if errors.As(err, &mismatch) && tenantTemplate(p.Issuer, mismatch.Discovered) {
		tenant = mismatch.Discovered
		prov, err = oidc.NewProvider(oidc.InsecureIssuerURLContext(dctx, tenant), p.Issuer)
	}
	if err != nil {
		return nil, fmt.Errorf("discovery of %s: %w", p.Issuer, err)
	}
	var meta struct {
		JWKS          string   `json:"jwks_uri"`
		Algs          []string `json:"id_token_signing_alg_values_supported"`
		IssInResponse flexBool `json:"authorization_response_iss_parameter_supported"`
	}
	if err := prov.Claims(&meta); err != nil || meta.JWKS == "" {
		return nil, fmt.Errorf("discovery of %s: no jwks_uri", p.Issuer)
	}
	// The key set outlives this request: its context carries only the client.
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), client), meta.JWKS)
	var algs []string
	for _, a := range meta.Algs {
		if a != "none" && !strings.HasPrefix(a, "HS") { // a shared-secret or unsigned token is never an ID token here
			algs = append(algs, a)
		}
	}
	d = &discovered{provider: prov, keys: keys, tenantIssuer: tenant, algs: algs, issInResponse: bool(meta.IssInResponse), fetched: s.cfg.Now()}
	s.mu.Lock()
	s.discovery[p.Issuer] = d
	s.mu.Unlock()
	return d, nil
}

// checkResponseIssuer is the mix-up defence of RFC 9207, applied to the
// authorization response before anything in it is used: an iss must be
// the provider's issuer, compared as a string; a response without one is
// refused when the provider's discovery says it always sends one. The
// issuer is, for an oidc provider, the one its discovery document names
// (go-oidc checked that it is the configured issuer, byte for byte); for
// a multi-tenant one, that template with the user's tenant in place of
// {tenantid}, which the ID token's issuer must then be (returned, to
// check it there); for a github provider, githubIssuer.
func (s *Service) checkResponseIssuer(ctx context.Context, p Provider, q url.Values) (tenantIssuer string, err error) {
	got, present := q["iss"]
	if present && len(got) != 1 {
		return "", reject("authorization response with %d iss parameters (RFC 9207)", len(got))
	}
	switch p.Kind {
	case KindOIDC:
		d, err := s.discover(ctx, p)
		if err != nil {
			return "", err
		}
		switch {
		case !present && d.issInResponse:
			return "", reject("authorization response without iss, from a provider that sends it (RFC 9207)")
		case !present:
			return "", nil
		case d.tenantIssuer == "" && got[0] == p.Issuer:
			return "", nil
		case d.tenantIssuer != "" && tenantIssuerMatches(d.tenantIssuer, got[0]):
			return got[0], nil
		}
	case KindGitHub:
		// No discovery to say GitHub always sends iss (GitHub Enterprise
		// Server may not): an absent one passes, a present one must match.
		if !present || got[0] == githubIssuer(p) && got[0] != "" {
			return "", nil
		}
	default:
		return "", nil // identify refuses an unknown kind
	}
	return "", reject("authorization response from issuer %q, not the provider's (RFC 9207)", truncate(got[0], 100))
}

// tenantIssuerMatches reports whether iss is the multi-tenant template with
// a tenant in place of {tenantid}: one path segment of a tenant id (a GUID)
// or domain name.
func tenantIssuerMatches(template, iss string) bool {
	prefix, suffix, ok := strings.Cut(template, "{tenantid}")
	if !ok || !strings.HasPrefix(iss, prefix) || !strings.HasSuffix(iss, suffix) || len(iss) <= len(prefix)+len(suffix) {
		return false
	}
	tenant := iss[len(prefix) : len(iss)-len(suffix)]
	return strings.Trim(tenant, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == ""
}

// githubIssuer is the issuer a github provider names itself with in its
// callbacks (RFC 9207): its authorization URL without /authorize, as
// github.com's https://github.com/login/oauth/authorize answers with iss
// https://github.com/login/oauth (GitHub's documented issuer); GitHub
// Enterprise's URLs have the same shape. "" for an authorization URL of
// another shape: then any iss is refused.
func githubIssuer(p Provider) string {
	iss, ok := strings.CutSuffix(p.AuthURL, "/authorize")
	if !ok {
		return ""
	}
	return iss
}

// oauthConfig is p's OAuth2 client.
func (s *Service) oauthConfig(ctx context.Context, p Provider) (*oauth2.Config, error) {
	secret, err := s.openSecret(p)
	if err != nil {
		return nil, err
	}
	conf := &oauth2.Config{ClientID: p.ClientID, ClientSecret: secret, RedirectURL: s.CallbackURL(p.ID), Scopes: p.Scopes}
	switch p.Kind {
	case KindOIDC:
		d, err := s.discover(ctx, p)
		if err != nil {
			return nil, err
		}
		conf.Endpoint = d.provider.Endpoint()
	default:
		conf.Endpoint = oauth2.Endpoint{AuthURL: p.AuthURL, TokenURL: p.TokenURL}
	}
	return conf, nil
}

// identify exchanges the code and learns who the provider vouches for.
// tenantIssuer is the callback's iss from a multi-tenant provider ("" if
// none), which the ID token's issuer must be.
func (s *Service) identify(ctx context.Context, p Provider, f flow, code, tenantIssuer string) (who, *oauth2.Token, error) {
	if code == "" || len(code) > 2048 {
		return who{}, nil, reject("no authorization code in the callback")
	}
	conf, err := s.oauthConfig(ctx, p)
	if err != nil {
		return who{}, nil, err
	}
	client := s.client(p)
	octx := context.WithValue(ctx, oauth2.HTTPClient, client)
	tok, err := conf.Exchange(octx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return who{}, nil, reject("code exchange refused: %s", truncate(re.ErrorCode, 64))
		}
		return who{}, nil, fmt.Errorf("code exchange: %w", err)
	}
	var w who
	switch p.Kind {
	case KindOIDC:
		w, err = s.identifyOIDC(ctx, p, f, tok, tenantIssuer)
	case KindGitHub:
		w, err = s.identifyGitHub(ctx, p, client, tok)
	default:
		err = reject("unknown provider kind %q", p.Kind)
	}
	if err != nil {
		return who{}, nil, err
	}
	if w.Subject == "" || len(w.Subject) > 255 {
		return who{}, nil, reject("no usable subject")
	}
	if email, err := auth.CanonicalEmail(w.Email); err == nil {
		w.Email = email
	} else {
		w.Email, w.EmailVerified = "", false
	}
	return w, tok, nil
}

// flexBool is a boolean claim some providers send as a string ("true").
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch t := v.(type) {
	case bool:
		*b = flexBool(t)
	case string:
		*b = flexBool(t == "true")
	}
	return nil
}

func (s *Service) identifyOIDC(ctx context.Context, p Provider, f flow, tok *oauth2.Token, responseIssuer string) (who, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return who{}, reject("no ID token in the token response")
	}
	d, err := s.discover(ctx, p)
	if err != nil {
		return who{}, err
	}
	issuer := p.Issuer
	if d.tenantIssuer != "" {
		issuer = d.tenantIssuer
	}
	verifier := oidc.NewVerifier(issuer, d.keys, &oidc.Config{ClientID: p.ClientID, Now: s.cfg.Now,
		SupportedSigningAlgs: d.algs, SkipIssuerCheck: d.tenantIssuer != ""})
	idt, err := verifier.Verify(oidc.ClientContext(ctx, s.client(p)), raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return who{}, reject("ID token expired")
		}
		if ctx.Err() != nil {
			return who{}, err
		}
		return who{}, reject("ID token refused: %s", truncate(err.Error(), 160))
	}
	var c struct {
		Email         string   `json:"email"`
		EmailVerified flexBool `json:"email_verified"`
		Name          string   `json:"name"`
		TenantID      string   `json:"tid"`
		AuthTime      float64  `json:"auth_time"` // a NumericDate: a number, a fraction allowed
	}
	if err := idt.Claims(&c); err != nil {
		return who{}, reject("ID token claims unreadable")
	}
	if d.tenantIssuer != "" {
		if c.TenantID == "" || strings.ContainsAny(c.TenantID, "/?#") ||
			idt.Issuer != strings.ReplaceAll(d.tenantIssuer, "{tenantid}", c.TenantID) {
			return who{}, reject("ID token issuer %q does not match its tenant", truncate(idt.Issuer, 100))
		}
		if responseIssuer != "" && responseIssuer != idt.Issuer {
			return who{}, reject("the callback's iss %q is not the ID token's issuer %q (RFC 9207)", truncate(responseIssuer, 100), truncate(idt.Issuer, 100))
		}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return who{}, reject("ID token nonce differs from this login's")
	}
	w := who{Subject: idt.Subject, Email: c.Email, EmailVerified: bool(c.EmailVerified), Name: c.Name}
	if c.AuthTime > 0 {
		w.AuthTime = time.Unix(int64(c.AuthTime), 0)
	}
	return w, nil
}

// identifyGitHub reads GET /user (the id is the subject) and GET
// /user/emails (the primary address, verified as GitHub says).
func (s *Service) identifyGitHub(ctx context.Context, p Provider, client *http.Client, tok *oauth2.Token) (who, error) {
	var user struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
		Name  string `json:"name"`
	}
	if err := githubGet(ctx, client, p.APIURL+"/user", tok, &user); err != nil {
		return who{}, err
	}
	if user.ID <= 0 {
		return who{}, reject("GitHub user without an id")
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := githubGet(ctx, client, p.APIURL+"/user/emails", tok, &emails); err != nil {
		return who{}, err
	}
	w := who{Subject: strconv.FormatInt(user.ID, 10), Name: user.Name}
	if w.Name == "" {
		w.Name = user.Login
	}
	for _, e := range emails {
		if e.Primary {
			w.Email, w.EmailVerified = e.Email, e.Verified
		}
	}
	return w, nil
}

func githubGet(ctx context.Context, client *http.Client, url string, tok *oauth2.Token, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	tok.SetAuthHeader(req)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode >= 500 {
			return fmt.Errorf("GitHub API %s: %s", url, resp.Status)
		}
		return reject("GitHub API %s answered %s", req.URL.Path, resp.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return reject("GitHub API %s: unreadable answer", req.URL.Path)
	}
	return nil
}

func encodeCookie(sealed []byte) string { return base64.RawURLEncoding.EncodeToString(sealed) }

func decodeCookie(v string) ([]byte, error) {
	if v == "" || len(v) > 4096 {
		return nil, errors.New("no cookie")
	}
	return base64.RawURLEncoding.DecodeString(v)
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }
