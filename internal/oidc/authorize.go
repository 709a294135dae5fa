package oidc

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Browser is the signed-in browser session of an authorization request.
type Browser struct {
	UserID    string
	SessionID string
	AuthTime  time.Time
}

// OutcomeKind says how the authorization endpoint answers.
type OutcomeKind int

// Outcomes of the authorization endpoint.
const (
	// ErrorPage: the client or redirect URI cannot be trusted, so the error
	// is shown here and never sent anywhere (Outcome.Err).
	ErrorPage OutcomeKind = iota
	// Redirect: back to the client's redirect URI with a code or an error
	// (Outcome.URL).
	Redirect
	// Login: to the login page, to come back to Outcome.URL after.
	Login
	// Consent: ask the user (Outcome.Consent).
	Consent
)

// Outcome is the authorization endpoint's answer.
type Outcome struct {
	Kind    OutcomeKind
	Err     error
	URL     string
	Consent *ConsentView
	// Origin is the origin of the client's validated redirect URI ("" when
	// none): pages on the way to it (login, consent) allow their forms to
	// end there (Content-Security-Policy form-action).
	Origin string
}

// ConsentView is what the consent page shows and posts back.
type ConsentView struct {
	ClientID   string
	ClientName string
	Scopes     []string
	// OrgName is the organization the organization scope would share: the
	// one the browser session acts in ("" for none).
	OrgName string
	Params  url.Values // the authorization request, as the form's hidden fields
}

// Parameters an authorization request may carry (others are ignored).
var authorizeParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
	"code_challenge_method", "prompt", "max_age", "login_hint", "response_mode", "request", "request_uri", "login_after", "idp_hint"}

// AuthorizeParams keeps the known parameters of an authorization request,
// for its consent form and its return from the login page.
func AuthorizeParams(v url.Values) url.Values {
	out := url.Values{}
	for _, k := range authorizeParams {
		if vs, ok := v[k]; ok {
			out[k] = vs
		}
	}
	return out
}

var challengePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// Authorize decides an authorization request (RFC 6749 4.1, OpenID Connect
// Core 3.1.2, RFC 7636, RFC 9207). browser is nil without a signed-in
// session. decision is nil for a request, or the user's answer on the
// consent page.
func (s *Service) Authorize(ctx context.Context, params url.Values, browser *Browser, decision *bool) Outcome {
	// The client and its redirect URI first: until both are known, nothing
	// may be sent anywhere.
	if len(params["client_id"]) > 1 || len(params["redirect_uri"]) > 1 {
		return Outcome{Kind: ErrorPage, Err: auth.Errorf(auth.CodeInvalidRequest, "The client_id and redirect_uri parameters may be given once.")}
	}
	c, err := s.client(ctx, params.Get("client_id"))
	if auth.ErrorCode(err) == auth.CodeNotFound {
		return Outcome{Kind: ErrorPage, Err: auth.Errorf(auth.CodeInvalidRequest, "The application is not registered with Gatehouse (unknown client_id).")}
	} else if err != nil {
		return Outcome{Kind: ErrorPage, Err: err}
	}
	redirect, ok := matchRedirectURI(c.RedirectURIs, params.Get("redirect_uri"))
	if !ok {
		return Outcome{Kind: ErrorPage, Err: auth.Errorf(auth.CodeInvalidRequest, "The redirect_uri is not registered for this application.")}
	}
	ru, _ := url.Parse(redirect)
	origin := ru.Scheme + "://" + ru.Host
	state := params.Get("state")
	fail := func(code, desc string) Outcome {
		q := url.Values{"error": {code}, "error_description": {desc}, "iss": {s.cfg.Issuer}}
		if state != "" {
			q.Set("state", state)
		}
		return Outcome{Kind: Redirect, URL: withQuery(redirect, q), Origin: origin}
	}
	for k, vs := range params {
		if len(vs) > 1 && slices.Contains(authorizeParams, k) {
			return fail(CodeInvalidRequest, "The "+k+" parameter may be given once.")
		}
	}
	if len(state) > 2048 || len(params.Get("nonce")) > 512 || len(params.Get("login_hint")) > 254 {
		return fail(CodeInvalidRequest, "The state, nonce or login_hint parameter is too long.")
	}
	if params.Get("request") != "" {
		return fail(CodeRequestNotSupported, "Request objects are not supported.")
	}
	if params.Get("request_uri") != "" {
		return fail(CodeRequestURINotSupported, "request_uri is not supported.")
	}
	if m := params.Get("response_mode"); m != "" && m != "query" {
		return fail(CodeInvalidRequest, "Only response_mode=query is supported.")
	}
	if params.Get("response_type") != "code" {
		return fail(CodeUnsupportedResponseType, "Only response_type=code is supported.")
	}
	scopes := splitScope(params.Get("scope"))
	if len(scopes) == 0 {
		return fail(CodeInvalidScope, "A scope is required (openid for OpenID Connect).")
	}
	if !subset(scopes, c.Scopes) {
		return fail(CodeInvalidScope, "The application may not ask for some of these scopes.")
	}
	scope := strings.Join(scopes, " ")
	challenge, method := params.Get("code_challenge"), params.Get("code_challenge_method")
	switch {
	case method == "plain":
		return fail(CodeInvalidRequest, "PKCE method plain is refused; use S256.")
	case challenge != "" && method != "S256":
		// RFC 7636 makes a missing method mean plain.
		return fail(CodeInvalidRequest, "code_challenge_method must be S256.")
	case challenge == "" && method != "":
		return fail(CodeInvalidRequest, "code_challenge_method without code_challenge.")
	case challenge == "" && c.Public:
		return fail(CodeInvalidRequest, "PKCE (code_challenge with S256) is required.")
	case challenge == "" && c.RequirePKCE:
		return fail(CodeInvalidRequest, "PKCE (code_challenge with S256) is required for this application.")
	case challenge != "" && !challengePattern.MatchString(challenge):
		return fail(CodeInvalidRequest, "The code_challenge is not a base64url SHA-256.")
	}
	prompts := strings.Fields(params.Get("prompt"))
	for _, p := range prompts {
		if p != "none" && p != "login" && p != "consent" {
			return fail(CodeInvalidRequest, "prompt may be none, login or consent.")
		}
	}
	none := slices.Contains(prompts, "none")
	if none && len(prompts) > 1 {
		return fail(CodeInvalidRequest, "prompt=none cannot be combined with other values.")
	}
	maxAge := -1
	if v := params.Get("max_age"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || strconv.Itoa(n) != v {
			return fail(CodeInvalidRequest, "max_age must be a whole number of seconds.")
		}
		maxAge = n
	}

	// Authentication: the browser's Gatehouse session, or the login page.
	now := s.now()
	toLogin := func(next url.Values) Outcome {
		if none {
			return fail(CodeLoginRequired, "The user is not signed in.")
		}
		q := url.Values{"next": {"/authorize?" + next.Encode()}}
		// idp_hint names an upstream provider: straight to it, and back here.
		if h := params.Get("idp_hint"); h != "" && len(h) <= 64 {
			return Outcome{Kind: Login, URL: "/login/" + url.PathEscape(h) + "?" + q.Encode(), Origin: origin}
		}
		if h := params.Get("login_hint"); h != "" {
			q.Set("login_hint", h)
		}
		return Outcome{Kind: Login, URL: "/login?" + q.Encode(), Origin: origin}
	}
	if browser == nil {
		return toLogin(AuthorizeParams(params))
	}
	// prompt=login, or a sign-in older than max_age, asks for a fresh
	// sign-in: to the login page, coming back with the server's note of when
	// it was asked (login_after), which a sign-in made after then meets
	// however long the way back took (max_age=0 included). Only the server
	// writes that note, so no request can say a fresh sign-in was already
	// asked for.
	stale := slices.Contains(prompts, "login") || maxAge >= 0 && now.Sub(browser.AuthTime) > time.Duration(maxAge)*time.Second
	if stale {
		asked := s.freshLoginAsked(params.Get("login_after"), browser.UserID, c.ID, redirect, state, now)
		if asked.IsZero() || browser.AuthTime.Before(asked) {
			note, err := s.freshLoginNote(browser.UserID, c.ID, redirect, state, now)
			if err != nil {
				return Outcome{Kind: ErrorPage, Err: err}
			}
			next := AuthorizeParams(params)
			next.Set("login_after", note)
			return toLogin(next)
		}
	}

	// Consent, remembered per client and scope set.
	grant, err := s.store.Grant(ctx, browser.UserID, c.ID)
	hasGrant := err == nil
	if err != nil && auth.ErrorCode(err) != auth.CodeNotFound {
		return Outcome{Kind: ErrorPage, Err: err}
	}
	covered := hasGrant && subset(scopes, splitScope(grant.Scope))
	ask := c.RequireConsent && !covered || slices.Contains(prompts, "consent")
	switch {
	case decision != nil && !*decision:
		return fail(CodeAccessDenied, "The user did not allow the application.")
	case decision == nil && ask && none:
		return fail(CodeConsentRequired, "The user has not allowed the application yet.")
	case decision == nil && ask:
		view := &ConsentView{ClientID: c.ID, ClientName: c.Name, Scopes: scopes, Params: AuthorizeParams(params)}
		if slices.Contains(scopes, ScopeOrganization) && s.orgs != nil {
			if oc, err := s.orgs.SessionOrgClaims(ctx, browser.SessionID, browser.UserID); err == nil && oc.OrgID != "" {
				view.OrgName, _ = s.orgs.OrgName(ctx, oc.OrgID)
			}
		}
		return Outcome{Kind: Consent, Origin: origin, Consent: view}
	}
	if !covered {
		if err := s.store.SaveGrant(ctx, Grant{UserID: browser.UserID, ClientID: c.ID, Scope: scope, CreatedAt: now}); err != nil {
			return Outcome{Kind: ErrorPage, Err: err}
		}
		s.accounts.Audit(ctx, auth.EventGrantCreated, browser.UserID, fmt.Sprintf("client %s: %s", c.ID, scope))
	}

	raw := randomToken()
	code := Code{Hash: hashSecret(raw), ClientID: c.ID, UserID: browser.UserID, SessionID: browser.SessionID,
		RedirectURI: redirect, CodeChallenge: challenge, Scope: scope, Nonce: params.Get("nonce"),
		AuthTime: browser.AuthTime, CreatedAt: now, ExpiresAt: now.Add(CodeTTL)}
	if err := s.store.CreateCode(ctx, code); err != nil {
		return Outcome{Kind: ErrorPage, Err: err}
	}
	q := url.Values{"code": {raw}, "iss": {s.cfg.Issuer}}
	if state != "" {
		q.Set("state", state)
	}
	return Outcome{Kind: Redirect, URL: withQuery(redirect, q), Origin: origin}
}

// withQuery adds q to uri's own query.
func withQuery(uri string, q url.Values) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	merged := u.Query()
	for k, vs := range q {
		merged[k] = vs
	}
	u.RawQuery = merged.Encode()
	return u.String()
}

// RedirectOrigin is the origin of an authorization request's redirect URI
// when its client and redirect URI are valid ("" otherwise): the login page
// on the way allows its form to end there.
func (s *Service) RedirectOrigin(ctx context.Context, params url.Values) string {
	c, err := s.client(ctx, params.Get("client_id"))
	if err != nil {
		return ""
	}
	redirect, ok := matchRedirectURI(c.RedirectURIs, params.Get("redirect_uri"))
	if !ok {
		return ""
	}
	u, _ := url.Parse(redirect)
	return u.Scheme + "://" + u.Host
}

// verifierPattern is RFC 7636 4.1's code_verifier.
var verifierPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
