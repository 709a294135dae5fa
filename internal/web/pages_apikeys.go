package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
)

// APIKeyPages are the API keys page (under Security): the user's keys,
// made and revoked with a sign-in only. The rules are auth.APIKeys'.
type APIKeyPages struct{ *Site }

// APIKeys is the API keys page's content (under Security).
type APIKeys struct {
	Keys   []APIKeyRow
	NewKey string   // the key made just now, shown this once
	Scopes []string // the scopes the user may give a key
}

// APIKeyRow is a row of the API keys page.
type APIKeyRow struct {
	ID, Name, Prefix, Scopes, Created, Expires, LastUsed string
}

// keyLifetimes are the page's choices of expiry (the API takes any).
var keyLifetimes = map[string]time.Duration{"30": 30 * 24 * time.Hour, "90": 90 * 24 * time.Hour, "365": 365 * 24 * time.Hour, "never": 0}

// APIKeysPage serves GET /security/api-keys.
func (site *APIKeyPages) APIKeysPage(w http.ResponseWriter, r *http.Request, s *Session) {
	p := s.page("API keys")
	if r.URL.Query().Get("done") == "revoked" {
		p.Notice = "The key is revoked: it no longer works anywhere."
	}
	site.renderAPIKeys(w, r, s, p, http.StatusOK, "")
}

// CreateAPIKeyForm serves POST /security/api-keys: the new key is shown on
// the page this once.
func (site *APIKeyPages) CreateAPIKeyForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := httpjson.ParseForm(r); err != nil {
		site.renderError(w, r, err)
		return
	}
	lifetime, ok := keyLifetimes[r.PostFormValue("expires")]
	if !ok {
		lifetime = keyLifetimes["90"]
	}
	ctx := auth.WithClient(r.Context(), site.Client(r))
	_, raw, err := site.APIKeys.Create(ctx, s.Claims.Subject, auth.APIKeyInput{Name: r.PostFormValue("name"),
		Scopes: r.PostForm["scope"], ExpiresIn: lifetime})
	p := s.page("API keys")
	status := http.StatusOK
	if err != nil {
		switch auth.ErrorCode(err) {
		case auth.CodeInvalidRequest, auth.CodeForbidden, auth.CodeTooManyRequests:
		default:
			site.renderError(w, r, err)
			return
		}
		status = site.formError(w, r, &p, err, nil)
		p.Form = map[string]string{"name": r.PostFormValue("name")}
	}
	site.renderAPIKeys(w, r, s, p, status, raw)
}

// RevokeAPIKeyForm serves POST /security/api-keys/{id}/revoke.
func (site *APIKeyPages) RevokeAPIKeyForm(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := auth.WithClient(r.Context(), site.Client(r))
	if err := site.APIKeys.Revoke(ctx, s.Claims.Subject, r.PathValue("id")); err != nil {
		site.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/security/api-keys?done=revoked", http.StatusSeeOther)
}

func (site *APIKeyPages) renderAPIKeys(w http.ResponseWriter, r *http.Request, s *Session, p Page, status int, newKey string) {
	keys, err := site.APIKeys.List(r.Context(), s.Claims.Subject)
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	data := APIKeys{NewKey: newKey}
	for _, sc := range auth.KeyScopes {
		if s.Claims.Role == auth.RoleAdmin || !strings.HasPrefix(sc, "users:") {
			data.Scopes = append(data.Scopes, sc)
		}
	}
	for _, k := range keys {
		row := APIKeyRow{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: strings.Join(k.Scopes, " "), Created: when(k.CreatedAt),
			Expires: "never", LastUsed: "never"}
		if !k.ExpiresAt.IsZero() {
			row.Expires = when(k.ExpiresAt)
		}
		if !k.LastUsedAt.IsZero() {
			row.LastUsed = when(k.LastUsedAt)
		}
		data.Keys = append(data.Keys, row)
	}
	p.Data = data
	if newKey != "" {
		p.Notice = "Copy the key now: it is shown only this once (" + strconv.Itoa(len(newKey)) + " characters)."
	}
	site.Pages.Render(w, status, "api_keys", p)
}
