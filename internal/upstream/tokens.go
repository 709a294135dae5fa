package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"golang.org/x/oauth2"
)

// Kept tokens: a provider configured with KeepTokens keeps the tokens of
// each login, sealed with the master key and bound to the identity's
// provider and subject; others keep none beyond the login.

func tokensAAD(providerID, subject string) []byte {
	return []byte("gatehouse upstream tokens\x00" + providerID + "\x00" + subject)
}

// keptToken is what is sealed: the provider's tokens without the ID token.
type keptToken struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

// sealFor seals tok for the identity (p, subject) when p keeps tokens.
func (s *Service) sealFor(p Provider, subject string, tok *oauth2.Token) ([]byte, error) {
	if !p.KeepTokens || tok == nil {
		return nil, nil
	}
	expiry := tok.Expiry
	if tok.ExpiresIn > 0 { // on the service's clock, as Token reads it
		expiry = s.cfg.Now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	plain, _ := json.Marshal(keptToken{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, Expiry: expiry})
	return s.sealer.Seal(plain, tokensAAD(p.ID, subject))
}

// AccessToken is a fresh upstream access token (GET /me/identities/{id}/token).
type AccessToken struct {
	AccessToken string
	TokenType   string
	ExpiresAt   time.Time // zero when the provider gave no expiry
}

var errNoTokens = auth.Errorf(auth.CodeNotFound, "No provider token is kept for this identity; its provider does not keep tokens, or no login has happened since.")

// Token returns a fresh access token of the user's identity id at its
// provider, refreshing it (and keeping the new tokens) when it expired.
func (s *Service) Token(ctx context.Context, userID, id string) (AccessToken, error) {
	ident, err := s.store.Identity(ctx, userID, id)
	if err != nil {
		return AccessToken{}, err
	}
	p, err := s.store.Provider(ctx, ident.ProviderID)
	if err != nil {
		return AccessToken{}, err
	}
	if !p.KeepTokens || len(ident.SealedTokens) == 0 {
		return AccessToken{}, errNoTokens
	}
	plain, err := s.sealer.Open(ident.SealedTokens, tokensAAD(p.ID, ident.Subject))
	if err != nil {
		return AccessToken{}, fmt.Errorf("open kept tokens: %w", err)
	}
	var kt keptToken
	if err := json.Unmarshal(plain, &kt); err != nil {
		return AccessToken{}, err
	}
	tok := &oauth2.Token{AccessToken: kt.AccessToken, TokenType: kt.TokenType, RefreshToken: kt.RefreshToken, Expiry: kt.Expiry}
	if kt.Expiry.IsZero() || s.cfg.Now().Add(30*time.Second).Before(kt.Expiry) {
		return AccessToken{AccessToken: tok.AccessToken, TokenType: tok.Type(), ExpiresAt: kt.Expiry}, nil
	}
	if tok.RefreshToken == "" {
		return AccessToken{}, auth.Errorf(auth.CodeNotFound, "The provider token has expired and cannot be refreshed; sign in with the provider again.")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	conf, err := s.oauthConfig(ctx, p)
	if err != nil {
		return AccessToken{}, errProviderDown
	}
	tok.Expiry = time.Unix(1, 0) // expired for the token source, whatever the local clock
	fresh, err := conf.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, s.client(p)), tok).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return AccessToken{}, auth.Errorf(auth.CodeNotFound, "The provider refused to refresh its token; sign in with the provider again.")
		}
		return AccessToken{}, errProviderDown
	}
	if fresh.RefreshToken == "" {
		fresh.RefreshToken = tok.RefreshToken
	}
	sealed, err := s.sealFor(p, ident.Subject, fresh)
	if err != nil {
		return AccessToken{}, err
	}
	if err := s.store.IdentityLogin(ctx, ident.ID, ident.Email, sealed, ident.LastLoginAt); err != nil {
		return AccessToken{}, err
	}
	if fresh.ExpiresIn > 0 {
		fresh.Expiry = s.cfg.Now().Add(time.Duration(fresh.ExpiresIn) * time.Second)
	}
	return AccessToken{AccessToken: fresh.AccessToken, TokenType: fresh.Type(), ExpiresAt: fresh.Expiry}, nil
}
