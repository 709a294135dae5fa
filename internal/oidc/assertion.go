package oidc

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/golang-jwt/jwt/v5"
)

// private_key_jwt (RFC 7523 2.2, 3; OpenID Connect Core 9): a client proves
// itself with a JWT it signed with a key of its registered JWK Set. Every
// failure is invalid_client (RFC 7523 3.2), audited.

// Client authentication methods.
const (
	MethodSecretBasic   = "client_secret_basic"
	MethodSecretPost    = "client_secret_post"
	MethodNone          = "none"
	MethodPrivateKeyJWT = "private_key_jwt"
)

// AssertionType is the client_assertion_type of private_key_jwt.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionMaxLifetime bounds how far ahead an assertion's exp may be:
// its jti is kept that long, so a far exp would be a free row for years.
const AssertionMaxLifetime = 5 * time.Minute

// AssertionAlgorithms are the signatures an assertion may carry: asymmetric
// only (none, and HS* under some shared value, are refused).
var AssertionAlgorithms = []string{"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

const assertionLeeway = 5 * time.Second

// authenticateAssertion authenticates a client by its assertion, through
// the guarded path (the address limit on failures, the audit).
func (s *Service) authenticateAssertion(ctx context.Context, ca ClientAuth, caller auth.Client) (Client, error) {
	if ca.Assertion == "" || len(ca.Assertion) > 8192 {
		return Client{}, errInvalidClient
	}
	id := ca.ID
	if id == "" { // the client is the assertion's subject, proved below
		var peek jwt.RegisteredClaims
		if _, _, err := jwt.NewParser().ParseUnverified(ca.Assertion, &peek); err == nil {
			id = peek.Subject
		}
	}
	if id == "" || len(id) > 64 {
		return Client{}, errInvalidClient
	}
	c, entry, err := s.cachedClient(ctx, id)
	known := err == nil
	if err != nil && auth.ErrorCode(err) != auth.CodeNotFound {
		return Client{}, err
	}
	check := auth.GuardedCheck{Kind: auth.CheckClientAssertion, Client: caller, Machine: true, Secret: ca.Assertion,
		Check: func(ctx context.Context) (bool, string, error) {
			switch {
			case !known:
				return false, "assertion for unknown client " + id, nil
			case c.JWKS == "" && c.JWKSURI == "":
				return false, "assertion from client " + c.ID + ", which has no JWK Set", nil
			}
			reason, err := s.verifyAssertion(ctx, c, entry.keys, ca.Assertion)
			if err != nil || reason != "" {
				return false, reason, err
			}
			if c.Disabled {
				return false, "disabled client " + c.ID, nil
			}
			return true, "", nil
		}}
	if known {
		check.Bucket, check.BucketLimit = "client:"+c.ID, s.cfg.ClientLimit
	}
	err = s.checks.Guarded(ctx, check)
	if auth.ErrorCode(err) == auth.CodeInvalidCredentials {
		return Client{}, errInvalidClient
	}
	return c, err
}

// verifyAssertion checks an assertion of client c: signed (asymmetric
// algorithm) by a key of its JWK Set; iss and sub the client; aud the
// token endpoint or the issuer; exp present and at most
// AssertionMaxLifetime ahead; a jti not used before while it lives, at any
// instance. It returns why it refused ("" for none).
func (s *Service) verifyAssertion(ctx context.Context, c Client, keys *clientKeys, raw string) (string, error) {
	parser := jwt.NewParser(jwt.WithValidMethods(AssertionAlgorithms), jwt.WithIssuer(c.ID), jwt.WithSubject(c.ID),
		jwt.WithExpirationRequired(), jwt.WithLeeway(assertionLeeway), jwt.WithTimeFunc(s.cfg.Now), jwt.WithStrictDecoding())
	var claims jwt.RegisteredClaims
	parse := func(refresh bool) error {
		kf, err := s.clientKeys(ctx, c, keys, refresh)
		if err != nil {
			return err
		}
		_, err = parser.ParseWithClaims(raw, &claims, kf.Keyfunc)
		return err
	}
	err := parse(false)
	if errors.Is(err, keyfunc.ErrKeyfunc) && c.JWKSURI != "" { // a key the client added since: fetch again
		err = parse(true)
	}
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired assertion", nil
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, keyfunc.ErrKeyfunc), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "assertion not signed by a registered key", nil
	case err != nil:
		return "assertion refused: " + err.Error(), nil
	}
	now := s.cfg.Now()
	endpoint := s.cfg.Issuer + "/oauth/token"
	switch {
	case !slices.Contains(claims.Audience, endpoint) && !slices.Contains(claims.Audience, s.cfg.Issuer):
		return "assertion for another audience", nil
	case claims.ExpiresAt.After(now.Add(AssertionMaxLifetime + assertionLeeway)):
		return "assertion expires too far ahead", nil
	case claims.ID == "" || len(claims.ID) > 200:
		return "assertion without jti", nil
	}
	fresh, err := s.store.SpendAssertion(ctx, c.ID, claims.ID, claims.ExpiresAt.Add(assertionLeeway), now)
	if err != nil {
		return "", err
	}
	if !fresh {
		return "assertion replayed", nil
	}
	return "", nil
}
