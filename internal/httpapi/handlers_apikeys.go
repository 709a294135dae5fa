package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
)

// withAPIKeys is the protection of a route of the JSON API: a request whose
// bearer token is an API key (gh_pat_...) is answered by h after the key's
// checks, the others go to jwt (guard's middleware). keyScope is the scope a
// key needs for the route (routes.go names it beside the route); "" means
// keys are refused here with 403 forbidden, whatever their scopes: managing
// keys, factors, the password, the email or sessions. role, when set, is the
// role the key's user must have now. A key that does not authenticate gets
// 401 first.
func withAPIKeys(d Deps, keyScope, role string, h, jwt http.Handler) http.Handler {
	return &keyGate{d: d, scope: keyScope, role: role, h: h, jwt: jwt}
}

// keyGate is withAPIKeys' handler; the route table test reads its scope.
type keyGate struct {
	d           Deps
	scope, role string
	h, jwt      http.Handler
}

func (g *keyGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, carrier := guard.FindToken(r, "")
	if carrier != guard.CarrierBearer || !auth.LooksLikeAPIKey(token) {
		g.jwt.ServeHTTP(w, r)
		return
	}
	use, err := g.d.Auth.APIKeys.Authenticate(r.Context(), token, client(g.d, r))
	if err != nil {
		httpjson.Error(w, r, g.d.Log, err)
		return
	}
	claims := keyClaims(g.d.Issuer, use)
	switch {
	case g.scope == "":
		err = auth.Errorf(auth.CodeForbidden, "An API key cannot be used for this action; sign in instead.")
	case g.role != "":
		err = guard.CheckRole(claims, g.role)
	}
	if err == nil {
		err = guard.CheckScope(claims, g.scope)
	}
	if err != nil {
		httpjson.Error(w, r, g.d.Log, err)
		return
	}
	ctx := auth.WithAPIKey(guard.WithClaims(r.Context(), claims), use.Key.ID)
	g.h.ServeHTTP(w, r.WithContext(ctx))
}

// keyClaims are the claims a key acts with: its user and role, its scopes.
// It names no session: SessionID is empty, so nothing a key does reads as
// the current session's.
func keyClaims(issuer string, use auth.KeyUse) *guard.Claims {
	c := &guard.Claims{Role: use.User.Role, EmailVerified: use.User.EmailVerified, Scope: strings.Join(use.Key.Scopes, " ")}
	c.Issuer, c.Subject, c.ID = issuer, use.User.ID, use.Key.ID
	return c
}

type apiKeyJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func apiKeyView(k auth.APIKey) apiKeyJSON {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return apiKeyJSON{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: slices.Clone(k.Scopes), CreatedAt: k.CreatedAt,
		ExpiresAt: opt(k.ExpiresAt), LastUsedAt: opt(k.LastUsedAt)}
}

type createAPIKeyRequest struct {
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	ExpiresIn *int64   `json:"expires_in"` // seconds; absent or null: never expires
}

type createAPIKeyResponse struct {
	Key    string     `json:"key"`
	APIKey apiKeyJSON `json:"api_key"`
}

type apiKeysResponse struct {
	APIKeys []apiKeyJSON `json:"api_keys"`
}

// handleCreateAPIKey serves POST /me/api-keys {name, scopes, expires_in}:
// 201 with the key, shown this once.
func handleCreateAPIKey(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[createAPIKeyRequest](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		input := auth.APIKeyInput{Name: in.Name, Scopes: in.Scopes}
		if in.ExpiresIn != nil {
			if *in.ExpiresIn <= 0 || *in.ExpiresIn > int64(auth.MaxAPIKeyLifetime/time.Second) {
				httpjson.Error(w, r, d.Log, auth.Errorf(auth.CodeInvalidRequest, "expires_in must be from 60 seconds to ten years, or left out for a key that does not expire."))
				return
			}
			input.ExpiresIn = time.Duration(*in.ExpiresIn) * time.Second
		}
		k, raw, err := d.Auth.APIKeys.Create(auth.WithClient(r.Context(), client(d, r)), claimsOf(r).Subject, input)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		httpjson.Write(w, http.StatusCreated, createAPIKeyResponse{Key: raw, APIKey: apiKeyView(k)})
	})
}

// handleListAPIKeys serves GET /me/api-keys and, for administrators, GET
// /users/{id}/api-keys: the keys' descriptions, never the keys.
func handleListAPIKeys(d Deps, owner func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := d.Auth.APIKeys.List(r.Context(), owner(r))
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		out := apiKeysResponse{APIKeys: make([]apiKeyJSON, 0, len(list))}
		for _, k := range list {
			out.APIKeys = append(out.APIKeys, apiKeyView(k))
		}
		httpjson.Write(w, http.StatusOK, out)
	})
}

// handleRevokeAPIKey serves DELETE /me/api-keys/{id} and, for
// administrators, DELETE /users/{id}/api-keys/{key_id}: 204; a key of
// someone else, or none: 404.
func handleRevokeAPIKey(d Deps, owner func(*http.Request) string, keyParam string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := auth.WithClient(r.Context(), client(d, r))
		if err := d.Auth.APIKeys.Revoke(ctx, owner(r), r.PathValue(keyParam)); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// caller is the signed-in user; pathUser the user a route's {id} names.
func caller(r *http.Request) string   { return claimsOf(r).Subject }
func pathUser(r *http.Request) string { return r.PathValue("id") }
