package upstream

import (
	"context"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Re-authentication through a provider: a signed-in user whose sign-in is
// too old for a sensitive action (auth's --reauth-max-age) confirms it by
// signing in afresh at an OpenID provider where the account has an
// identity. The authorization request asks for that sign-in (prompt=login,
// max_age=0, OIDC Core 3.1.2.1), and the ID token must say it happened
// (auth_time, at or after the flow began): a provider may ignore prompt, so
// the ID token's word is what counts. GitHub has neither prompt nor
// auth_time: its answer proves that someone holds a GitHub session, not
// that the user just signed in, so it is not offered.

// authTimeLeeway is the clock difference allowed between the provider's
// auth_time (whole seconds) and the flow's start here (guard's leeway).
const authTimeLeeway = 5 * time.Second

var (
	errReauthKind      = auth.Errorf(auth.CodeInvalidRequest, "This provider cannot confirm a fresh sign-in; confirm with your password or a code, or set a password through \"Forgot password\".")
	errReauthNotLinked = auth.Errorf(auth.CodeInvalidRequest, "No account at this provider is linked to yours; confirm another way.")
	errReauthOther     = auth.Errorf(auth.CodeInvalidCredentials, "That is not the provider account linked to yours; confirm with the one you linked.")
	errReauthNotFresh  = auth.Errorf(auth.CodeInvalidCredentials, "The provider did not confirm that you signed in just now; try again, or confirm another way.")
)

// ReauthProviders lists the providers the user can re-authenticate
// through: the OpenID ones where the account has an identity. A failure to
// read them offers none.
func (s *Service) ReauthProviders(ctx context.Context, userID string) []Button {
	ids, err := s.store.Identities(ctx, userID)
	if err != nil {
		s.log.Warn("identities unreadable", "err", err)
		return nil
	}
	var out []Button
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id.ProviderID] {
			continue
		}
		seen[id.ProviderID] = true
		if p, err := s.store.Provider(ctx, id.ProviderID); err == nil && p.Kind == KindOIDC {
			out = append(out, Button{ID: p.ID, Name: p.Name})
		}
	}
	return out
}

// mayReauthenticate is Begin's rule for a re-authentication: the user's
// live session, an OpenID provider, an identity of the account there.
func (s *Service) mayReauthenticate(ctx context.Context, p Provider, userID, sessionID string) error {
	if _, err := s.sessions.BrowserSession(ctx, sessionID, userID); auth.ErrorCode(err) == auth.CodeNotFound {
		s.failed(ctx, userID, p.ID, "re-authentication refused: not a live session of this user")
		return err
	} else if err != nil {
		return err
	}
	if p.Kind != KindOIDC {
		s.failed(ctx, userID, p.ID, "re-authentication refused: a "+p.Kind+" provider cannot prove a fresh sign-in")
		return errReauthKind
	}
	ids, err := s.store.Identities(ctx, userID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id.ProviderID == p.ID {
			return nil
		}
	}
	s.failed(ctx, userID, p.ID, "re-authentication refused: no identity of the account at this provider")
	return errReauthNotLinked
}

// reauthenticate applies a re-authentication's callback: the provider says
// the user signed in after the flow began, as an identity of this account;
// then the session's sign-in is renewed.
func (s *Service) reauthenticate(ctx context.Context, p Provider, w who, f flow, sealed []byte, res *Result) error {
	started := time.UnixMilli(f.StartedAt)
	switch {
	case w.AuthTime.IsZero():
		s.failed(ctx, f.LinkUser, p.ID, "re-authentication refused: ID token without auth_time")
		return errReauthNotFresh
	case w.AuthTime.After(s.now().Add(authTimeLeeway)):
		// No sign-in happens in the future: a made-up or broken auth_time
		// proves nothing, whatever the flow's start.
		s.failed(ctx, f.LinkUser, p.ID, "re-authentication refused: auth_time "+w.AuthTime.UTC().Format(time.RFC3339)+" is in the future")
		return errReauthNotFresh
	case w.AuthTime.Add(authTimeLeeway).Before(started):
		s.failed(ctx, f.LinkUser, p.ID, "re-authentication refused: auth_time "+w.AuthTime.UTC().Format(time.RFC3339)+
			" is before the re-authentication began ("+started.UTC().Format(time.RFC3339)+")")
		return errReauthNotFresh
	}
	ident, err := s.store.IdentityBySubject(ctx, p.ID, w.Subject)
	if err != nil && auth.ErrorCode(err) != auth.CodeNotFound {
		return err
	}
	if err != nil || ident.UserID != f.LinkUser {
		s.failed(ctx, f.LinkUser, p.ID, "re-authentication refused: subject "+w.Subject+" is not an identity of this account")
		return errReauthOther
	}
	tokens, err := s.sessions.FederatedReauthenticate(ctx, f.LinkUser, f.LinkSession, p.ID)
	if err != nil {
		s.failed(ctx, f.LinkUser, p.ID, "re-authentication refused: "+auth.ErrorMessage(err))
		return err
	}
	// The provider vouched for the person: its email now, and its tokens.
	if err := s.store.IdentityLogin(ctx, ident.ID, w.Email, sealed, s.now()); err != nil {
		return err
	}
	res.Tokens, res.Reauthenticated = tokens, true
	return nil
}

// FormOrigins are the origins where a form of this site that starts a flow
// at these providers is redirected (their authorization endpoints): a page
// with such forms (link, re-authenticate) lists them in its CSP
// form-action, which browsers apply to a form's redirects too. An oidc
// provider's is its discovery document's when this instance has read it,
// else its issuer's (the same origin at the usual providers): rendering a
// page never waits for a provider.
func (s *Service) FormOrigins(ctx context.Context, providerIDs ...string) []string {
	var out []string
	for _, id := range providerIDs {
		p, err := s.store.Provider(ctx, id)
		if err != nil {
			continue
		}
		endpoint := p.AuthURL
		if p.Kind == KindOIDC {
			endpoint = p.Issuer
			s.mu.Lock()
			if d := s.discovery[p.Issuer]; d != nil {
				endpoint = d.provider.Endpoint().AuthURL
			}
			s.mu.Unlock()
		}
		if o := origin(endpoint); o != "" && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// origin is a URL's scheme://host[:port], "" when it has none.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
