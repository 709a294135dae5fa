package httpapi

import (
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/upstream"
	"github.com/gatehouse-auth/gatehouse/internal/web"
)

// Upstream identity providers over JSON: the administrators' /providers,
// and a user's /me/identities. Thin adapters over upstream.Service.

type providerJSON struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	Name        string    `json:"name"`
	Issuer      string    `json:"issuer,omitempty"`
	ClientID    string    `json:"client_id"`
	Scopes      []string  `json:"scopes"`
	AuthURL     string    `json:"auth_url,omitempty"`
	TokenURL    string    `json:"token_url,omitempty"`
	APIURL      string    `json:"api_url,omitempty"`
	TrustEmail  bool      `json:"trust_email"`
	KeepTokens  bool      `json:"keep_tokens"`
	RedirectURI string    `json:"redirect_uri"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func providerView(d Deps, p upstream.Provider) providerJSON {
	scopes := p.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return providerJSON{ID: p.ID, Kind: p.Kind, Name: p.Name, Issuer: p.Issuer, ClientID: p.ClientID, Scopes: scopes,
		AuthURL: p.AuthURL, TokenURL: p.TokenURL, APIURL: p.APIURL, TrustEmail: p.TrustEmail, KeepTokens: p.KeepTokens,
		RedirectURI: d.Upstream.CallbackURL(p.ID), CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

type providerResponse struct {
	Provider providerJSON `json:"provider"`
}

type providersResponse struct {
	Providers []providerJSON `json:"providers"`
}

// providerRequest is POST /providers and PATCH /providers/{id}: absent
// fields are left (PATCH) or take the preset's default (POST).
type providerRequest struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"`
	Name         *string   `json:"name"`
	Issuer       *string   `json:"issuer"`
	ClientID     *string   `json:"client_id"`
	ClientSecret string    `json:"client_secret"`
	Scopes       *[]string `json:"scopes"`
	AuthURL      *string   `json:"auth_url"`
	TokenURL     *string   `json:"token_url"`
	APIURL       *string   `json:"api_url"`
	TrustEmail   *bool     `json:"trust_email"`
	KeepTokens   *bool     `json:"keep_tokens"`
}

func (in providerRequest) input() upstream.ProviderInput {
	return upstream.ProviderInput{ID: in.ID, Kind: in.Kind, Name: in.Name, Issuer: in.Issuer, ClientID: in.ClientID,
		ClientSecret: in.ClientSecret, Scopes: in.Scopes, AuthURL: in.AuthURL, TokenURL: in.TokenURL, APIURL: in.APIURL,
		TrustEmail: in.TrustEmail, KeepTokens: in.KeepTokens}
}

// handleListProviders serves GET /providers (secrets are never answered).
func handleListProviders(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := d.Upstream.Providers(r.Context())
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		out := providersResponse{Providers: []providerJSON{}}
		for _, p := range list {
			out.Providers = append(out.Providers, providerView(d, p))
		}
		httpjson.Write(w, http.StatusOK, out)
	})
}

// handleCreateProvider serves POST /providers: 201 {"provider"}.
func handleCreateProvider(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[providerRequest](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		p, err := d.Upstream.AddProvider(r.Context(), in.input())
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusCreated, providerResponse{providerView(d, p)})
	})
}

// handleUpdateProvider serves PATCH /providers/{id}.
func handleUpdateProvider(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[providerRequest](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		if in.ID != "" && in.ID != r.PathValue("id") {
			httpjson.Error(w, r, d.Log, auth.Errorf(auth.CodeInvalidRequest, "A provider's id cannot change."))
			return
		}
		in.ID = r.PathValue("id")
		p, err := d.Upstream.UpdateProvider(r.Context(), in.input())
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, providerResponse{providerView(d, p)})
	})
}

// handleDeleteProvider serves DELETE /providers/{id}: 204.
func handleDeleteProvider(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.Upstream.RemoveProvider(r.Context(), r.PathValue("id")); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

type identityJSON struct {
	ID        string    `json:"id"`
	Provider  string    `json:"provider"`
	Subject   string    `json:"subject"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

type identitiesResponse struct {
	Identities []identityJSON `json:"identities"`
}

// handleIdentities serves GET /me/identities.
func handleIdentities(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := d.Upstream.Identities(r.Context(), claimsOf(r).Subject)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		out := identitiesResponse{Identities: []identityJSON{}}
		for _, i := range list {
			out.Identities = append(out.Identities, identityJSON{ID: i.ID, Provider: i.Provider, Subject: i.Subject, Email: i.Email, CreatedAt: i.CreatedAt})
		}
		httpjson.Write(w, http.StatusOK, out)
	})
}

// handleUnlinkIdentity serves DELETE /me/identities/{id}: 204, or 409
// last_sign_in_method.
func handleUnlinkIdentity(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.Upstream.Unlink(r.Context(), claimsOf(r).Subject, r.PathValue("id")); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

type linkResponse struct {
	AuthorizationURL string `json:"authorization_url"`
}

// handleLinkIdentity serves POST /me/identities/{provider} (the route's
// {id} names the provider): the provider's
// URL to send this browser to, with the flow in its cookie; the callback
// links the identity to the caller (a recent sign-in required).
func handleLinkIdentity(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := claimsOf(r)
		target, flow, err := d.Upstream.Begin(r.Context(), upstream.BeginInput{ProviderID: r.PathValue("id"),
			LinkUserID: c.Subject, LinkSessionID: c.SessionID, Client: client(d, r)})
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		web.SetFlowCookie(w, flow)
		w.Header().Set("Cache-Control", "no-store")
		httpjson.Write(w, http.StatusOK, linkResponse{AuthorizationURL: target})
	})
}

type upstreamTokenResponse struct {
	AccessToken string     `json:"access_token"`
	TokenType   string     `json:"token_type"`
	ExpiresAt   *time.Time `json:"expires_at"`
}

// handleIdentityToken serves GET /me/identities/{id}/token: a fresh access
// token at the identity's provider (--keep-tokens providers only).
func handleIdentityToken(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := d.Upstream.Token(r.Context(), claimsOf(r).Subject, r.PathValue("id"))
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		out := upstreamTokenResponse{AccessToken: t.AccessToken, TokenType: t.TokenType}
		if !t.ExpiresAt.IsZero() {
			out.ExpiresAt = &t.ExpiresAt
		}
		w.Header().Set("Cache-Control", "no-store")
		httpjson.Write(w, http.StatusOK, out)
	})
}
