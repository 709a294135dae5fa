package oidc

import (
	"context"
	"net/url"
	"slices"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/golang-jwt/jwt/v5"
)

// EndSessionRequest is an RP-initiated logout (OpenID Connect RP-Initiated
// Logout 1.0).
type EndSessionRequest struct {
	IDTokenHint           string
	ClientID              string
	PostLogoutRedirectURI string
	State                 string
	Confirmed             bool // the user pressed "Log out" on the confirmation page
}

// EndSessionOutcome says what the end-session endpoint does.
type EndSessionOutcome struct {
	// Confirm: show a page asking the user to confirm (the request did not
	// prove it came from an app of this browser session).
	Confirm bool
	// Ended: the browser session was ended (clear its cookies).
	Ended bool
	// Redirect: where to send the browser ("" to show the logged-out page).
	Redirect string
}

// EndSession ends the browser session when the request proves it comes from
// one of its apps (an ID token of this session as id_token_hint) or the
// user confirmed; it redirects only to a post_logout_redirect_uri
// registered for the client, with state.
func (s *Service) EndSession(ctx context.Context, in EndSessionRequest, browser *Browser) (EndSessionOutcome, error) {
	var hint jwt.MapClaims
	if in.IDTokenHint != "" {
		var err error
		if hint, err = s.parseIDTokenHint(in.IDTokenHint); err != nil {
			return EndSessionOutcome{}, err
		}
	}
	clientID := in.ClientID
	if hint != nil {
		aud, _ := hint.GetAudience()
		if len(aud) != 1 || (clientID != "" && clientID != aud[0]) {
			return EndSessionOutcome{}, auth.Errorf(auth.CodeInvalidRequest, "The id_token_hint was not issued to this client_id.")
		}
		clientID = aud[0]
	}
	redirect := ""
	if in.PostLogoutRedirectURI != "" {
		c, err := s.client(ctx, clientID)
		if err != nil || !slices.Contains(c.PostLogoutRedirectURIs, in.PostLogoutRedirectURI) {
			return EndSessionOutcome{}, auth.Errorf(auth.CodeInvalidRequest, "The post_logout_redirect_uri is not registered for this application.")
		}
		q := url.Values{}
		if in.State != "" {
			q.Set("state", in.State)
		}
		redirect = withQuery(in.PostLogoutRedirectURI, q)
	}
	out := EndSessionOutcome{Redirect: redirect}
	if browser == nil {
		return out, nil
	}
	proven := false
	if hint != nil {
		sub, _ := hint.GetSubject()
		sid, _ := hint["sid"].(string)
		proven = sub == browser.UserID && sid == browser.SessionID
	}
	if !proven && !in.Confirmed {
		return EndSessionOutcome{Confirm: true}, nil
	}
	if err := s.sessions.Logout(ctx, auth.LogoutInput{SessionID: browser.SessionID, UserID: browser.UserID}); err != nil {
		return EndSessionOutcome{}, err
	}
	out.Ended = true
	return out, nil
}

// parseIDTokenHint verifies an ID token this provider signed (it may have
// expired: a hint only names the session).
func (s *Service) parseIDTokenHint(raw string) (jwt.MapClaims, error) {
	bad := auth.Errorf(auth.CodeInvalidRequest, "The id_token_hint is not an ID token of this provider.")
	if len(raw) > 8192 {
		return nil, bad
	}
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods(IDTokenAlgorithms), jwt.WithIssuer(s.cfg.Issuer), jwt.WithoutClaimsValidation()).
		ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
			if typ, _ := t.Header["typ"].(string); typ == "at+jwt" {
				return nil, bad // an access token is no ID token
			}
			for _, h := range []string{"jwk", "jku", "x5u", "x5c"} {
				if _, ok := t.Header[h]; ok {
					return nil, bad
				}
			}
			kid, _ := t.Header["kid"].(string)
			k, ok := s.keys.VerificationKey(kid)
			if !ok || k.Algorithm != t.Method.Alg() {
				return nil, bad
			}
			return k.Public, nil
		})
	if err != nil {
		return nil, bad
	}
	if iss, _ := claims.GetIssuer(); iss != s.cfg.Issuer {
		return nil, bad
	}
	return claims, nil
}
