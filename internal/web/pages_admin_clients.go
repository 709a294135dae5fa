package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
)

// The administration pages of service clients, over oidc.Clients as the
// admin API (POST/PATCH/DELETE /clients) is; routes.go mounts them through
// adminPage.

// AdminClients is the service clients page's content.
type AdminClients struct {
	Clients []AdminClient
	// Created and Secret: the client just registered and its secret, shown
	// this once.
	Created, Secret string
}

// AdminClient is a row of the service clients page.
type AdminClient struct {
	ID, Name, Scopes, Audiences, Auth, Created string
	Disabled                                   bool
}

func (site *AdminPages) renderClients(w http.ResponseWriter, r *http.Request, s *Session, status int, data AdminClients, notice string) {
	list, err := site.Clients.List(r.Context())
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	for _, c := range list {
		if !c.Service() {
			continue
		}
		method := "client secret"
		if c.JWKS != "" || c.JWKSURI != "" {
			method = "private_key_jwt"
		}
		data.Clients = append(data.Clients, AdminClient{ID: c.ID, Name: c.Name, Scopes: strings.Join(c.Scopes, " "),
			Audiences: strings.Join(c.Audiences, " "), Auth: method, Created: when(c.CreatedAt), Disabled: c.Disabled})
	}
	p := s.page("Service clients")
	p.Notice, p.Data = notice, data
	site.Pages.Render(w, status, "admin_clients", p)
}

// ClientsPage serves GET /admin/clients: the service clients and a
// form to register one.
func (site *AdminPages) ClientsPage(w http.ResponseWriter, r *http.Request, s *Session) {
	notice := ""
	switch r.URL.Query().Get("done") {
	case "disabled":
		notice = "The client is disabled; its tokens have ended."
	case "enabled":
		notice = "The client is enabled."
	case "removed":
		notice = "The client is removed; its tokens have ended."
	}
	site.renderClients(w, r, s, http.StatusOK, AdminClients{}, notice)
}

// AddClientForm serves POST /admin/clients: registers a service client
// (name, scopes, audiences, as `client add --service`) and shows its secret
// once.
func (site *AdminPages) AddClientForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := httpjson.ParseForm(r); err != nil {
		site.renderError(w, r, err)
		return
	}
	split := func(v string) []string {
		return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	}
	c, secret, err := site.Clients.Add(auth.WithActor(r.Context(), s.Claims.Subject), oidc.ClientInput{Service: true,
		Name: r.PostFormValue("name"), Scopes: split(r.PostFormValue("scopes")), Audiences: split(r.PostFormValue("audiences"))})
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	site.renderClients(w, r, s, http.StatusCreated, AdminClients{Created: c.ID, Secret: secret}, "")
}

// ClientForm serves POST /admin/clients/{id}: disabled true or false,
// as PATCH /clients/{id} does.
func (site *AdminPages) ClientForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := httpjson.ParseForm(r); err != nil {
		site.renderError(w, r, err)
		return
	}
	disabled, err := strconv.ParseBool(r.PostFormValue("disabled"))
	if err != nil {
		site.renderError(w, r, auth.Errorf(auth.CodeInvalidRequest, "The disabled field must be true or false."))
		return
	}
	if _, err := site.Clients.Update(auth.WithActor(r.Context(), s.Claims.Subject), r.PathValue("id"), oidc.ClientPatch{Disabled: &disabled}); err != nil {
		site.renderError(w, r, err)
		return
	}
	done := "enabled"
	if disabled {
		done = "disabled"
	}
	http.Redirect(w, r, "/admin/clients?done="+done, http.StatusSeeOther)
}

// RemoveClientForm serves POST /admin/clients/{id}/remove, as DELETE
// /clients/{id} does.
func (site *AdminPages) RemoveClientForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := site.Clients.Remove(auth.WithActor(r.Context(), s.Claims.Subject), r.PathValue("id")); err != nil {
		site.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/clients?done=removed", http.StatusSeeOther)
}
