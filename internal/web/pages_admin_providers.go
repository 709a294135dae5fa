package web

import (
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/upstream"
)

// The administrators' page of upstream identity providers (sign in with
// Google, GitHub or any OpenID provider). The rules are upstream.Service's.

// AdminProviders is the providers page's content.
type AdminProviders struct {
	Providers []AdminProvider
	Callback  string // the redirect URI pattern to register at a provider
}

// AdminProvider is a row of the providers page.
type AdminProvider struct {
	ID, Kind, Name, Issuer, ClientID, Scopes, Callback string
	TrustEmail, KeepTokens                             bool
}

// ProvidersPage serves GET /admin/providers.
func (site *AdminPages) ProvidersPage(w http.ResponseWriter, r *http.Request, s *Session) {
	site.renderProviders(w, r, s, http.StatusOK, nil, nil)
}

func (site *AdminPages) renderProviders(w http.ResponseWriter, r *http.Request, s *Session, status int, formErr error, form map[string]string) {
	p := s.page("Sign-in providers")
	list, err := site.Upstream.Providers(r.Context())
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	data := AdminProviders{Callback: site.Upstream.CallbackURL("{id}")}
	for _, pr := range list {
		data.Providers = append(data.Providers, AdminProvider{ID: pr.ID, Kind: pr.Kind, Name: pr.Name, Issuer: firstOf(pr.Issuer, pr.APIURL),
			ClientID: pr.ClientID, Scopes: strings.Join(pr.Scopes, " "), Callback: site.Upstream.CallbackURL(pr.ID),
			TrustEmail: pr.TrustEmail, KeepTokens: pr.KeepTokens})
	}
	p.Data, p.Form = data, form
	if formErr != nil {
		status = site.formError(w, r, &p, formErr, nil)
	}
	site.Pages.Render(w, status, "admin_providers", p)
}

// ProviderAddForm serves POST /admin/providers: a provider to add.
func (site *AdminPages) ProviderAddForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := httpjson.ParseForm(r); err != nil {
		site.renderError(w, r, err)
		return
	}
	str := func(k string) *string {
		v := r.PostFormValue(k)
		if v == "" {
			return nil
		}
		return &v
	}
	in := upstream.ProviderInput{ID: r.PostFormValue("id"), Kind: r.PostFormValue("kind"), Name: str("name"), Issuer: str("issuer"),
		ClientID: str("client_id"), ClientSecret: r.PostFormValue("client_secret")}
	if v := r.PostFormValue("scopes"); v != "" {
		scopes := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
		in.Scopes = &scopes
	}
	trust, keep := r.PostFormValue("trust_email") == "1", r.PostFormValue("keep_tokens") == "1"
	in.TrustEmail, in.KeepTokens = &trust, &keep
	if _, err := site.Upstream.AddProvider(r.Context(), in); err != nil {
		site.renderProviders(w, r, s, http.StatusOK, err, map[string]string{"id": in.ID, "kind": in.Kind,
			"name": r.PostFormValue("name"), "issuer": r.PostFormValue("issuer"), "client_id": r.PostFormValue("client_id")})
		return
	}
	http.Redirect(w, r, "/admin/providers", http.StatusSeeOther)
}

// ProviderRemoveForm serves POST /admin/providers/{id}/remove.
func (site *AdminPages) ProviderRemoveForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := site.Upstream.RemoveProvider(r.Context(), r.PathValue("id")); err != nil {
		site.renderProviders(w, r, s, http.StatusOK, err, nil)
		return
	}
	http.Redirect(w, r, "/admin/providers", http.StatusSeeOther)
}
