package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
)

// OrganizationPages are the organizations' pages and an invitation's:
// thin adapters over orgs.Service, which holds every rule and the policy;
// a refusal is the error page with the status the JSON API gives the same
// error.
type OrganizationPages struct{ *Site }

// Organizations is the organizations page's content.
type Organizations struct {
	Orgs   []OrgRow
	Active string // the organization the session acts in, if any
}

// OrgRow is an organization as the pages show it, with the user's role.
type OrgRow struct {
	ID, Name, Slug, Role string
}

// Organization is an organization's page: its members and roles.
type Organization struct {
	OrgRow
	Members    []MemberRow
	Roles      []RoleRow
	RoleNames  []string // every role, for the selects
	Active     bool     // the session acts in it
	CanManage  bool     // the user is an owner or admin: show the forms (the service decides)
	IsOwner    bool
	SelfUserID string
}

// MemberRow is a member on an organization's page.
type MemberRow struct {
	UserID, Email, Name, Role, Joined string
}

// RoleRow is a role on an organization's page.
type RoleRow struct {
	Name, Permissions string
	Builtin           bool
}

// OrgInvitations is an organization's invitations page.
type OrgInvitations struct {
	OrgRow
	Invitations []InvitationRow
	RoleNames   []string
}

// InvitationRow is an open invitation.
type InvitationRow struct {
	ID, Email, Role, Expires string
}

// Invited is the invitation page's content.
type Invited struct {
	Token, OrgName, Role, Email string
	SignedIn, RightAddress      bool
	SignupLink, LoginLink       string
}

func orgRow(o orgs.MyOrg) OrgRow { return OrgRow{ID: o.ID, Name: o.Name, Slug: o.Slug, Role: o.Role} }

// OrganizationsPage serves GET /organizations: the user's organizations,
// and a form to create one.
func (site *OrganizationPages) OrganizationsPage(w http.ResponseWriter, r *http.Request, s *Session) {
	site.renderOrganizations(w, r, s, s.page("Organizations"), http.StatusOK)
}

func (site *OrganizationPages) renderOrganizations(w http.ResponseWriter, r *http.Request, s *Session, p Page, status int) {
	list, err := site.Orgs.List(r.Context(), s.User.ID)
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	data := Organizations{Active: s.Claims.OrgID}
	for _, o := range list {
		data.Orgs = append(data.Orgs, orgRow(o))
	}
	p.Data = data
	site.Pages.Render(w, status, "organizations", p)
}

// CreateOrganizationForm serves POST /organizations.
func (site *OrganizationPages) CreateOrganizationForm(w http.ResponseWriter, r *http.Request, s *Session) {
	err := httpjson.ParseForm(r)
	var o orgs.MyOrg
	if err == nil {
		o, err = site.Orgs.Create(r.Context(), s.User.ID, orgs.CreateInput{Name: r.PostFormValue("name"), Slug: r.PostFormValue("slug")})
	}
	if err == nil {
		http.Redirect(w, r, "/organizations/"+o.ID, http.StatusSeeOther)
		return
	}
	p := s.page("Organizations")
	p.Form = map[string]string{"name": r.PostFormValue("name"), "slug": r.PostFormValue("slug")}
	status := site.formError(w, r, &p, err, nil)
	site.renderOrganizations(w, r, s, p, status)
}

// OrganizationPage serves GET /organizations/{id}: members and roles, with
// the forms of what the user's role may do.
func (site *OrganizationPages) OrganizationPage(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx, id := r.Context(), r.PathValue("id")
	o, err := site.Orgs.Get(ctx, s.User.ID, id)
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	members, err := site.Orgs.Members(ctx, s.User.ID, id)
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	roles, err := site.Orgs.Roles(ctx, s.User.ID, id)
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	data := Organization{OrgRow: orgRow(o), Active: s.Claims.OrgID == o.ID, SelfUserID: s.User.ID,
		CanManage: o.Role == orgs.Owner || o.Role == orgs.Admin, IsOwner: o.Role == orgs.Owner}
	for _, m := range members {
		data.Members = append(data.Members, MemberRow{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: m.Role,
			Joined: m.JoinedAt.Format(time.DateOnly)})
	}
	for _, rl := range roles {
		data.Roles = append(data.Roles, RoleRow{Name: rl.Name, Permissions: strings.Join(rl.Permissions, " "), Builtin: rl.Builtin})
		data.RoleNames = append(data.RoleNames, rl.Name)
	}
	p := s.page(o.Name)
	p.Data = data
	site.Pages.Render(w, http.StatusOK, "organization", p)
}

// orgForm runs one change of an organization's page: the service decides;
// success goes back to to, a refusal is the error page.
func (site *OrganizationPages) orgForm(w http.ResponseWriter, r *http.Request, to string, change func() error) {
	err := httpjson.ParseForm(r)
	if err == nil {
		err = change()
	}
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func orgPath(r *http.Request) string { return "/organizations/" + r.PathValue("id") }

// RenameOrganizationForm serves POST /organizations/{id}/rename.
func (site *OrganizationPages) RenameOrganizationForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.orgForm(w, r, orgPath(r), func() error {
		in := orgs.UpdateInput{}
		if v, ok := r.PostForm["name"]; ok {
			in.Name = &v[0]
		}
		if v, ok := r.PostForm["slug"]; ok {
			in.Slug = &v[0]
		}
		_, err := site.Orgs.Update(r.Context(), s.User.ID, r.PathValue("id"), in)
		return err
	})
}

// DeleteOrganizationForm serves POST /organizations/{id}/delete.
func (site *OrganizationPages) DeleteOrganizationForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.orgForm(w, r, "/organizations", func() error {
		return site.Orgs.Delete(r.Context(), s.User.ID, r.PathValue("id"))
	})
}

// MemberRoleForm serves POST /organizations/{id}/members/{user_id}/role.
func (site *OrganizationPages) MemberRoleForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.orgForm(w, r, orgPath(r), func() error {
		_, err := site.Orgs.SetRole(r.Context(), s.User.ID, r.PathValue("id"), r.PathValue("user_id"), r.PostFormValue("role"))
		return err
	})
}

// RemoveMemberForm serves POST /organizations/{id}/members/{user_id}/remove.
func (site *OrganizationPages) RemoveMemberForm(w http.ResponseWriter, r *http.Request, s *Session) {
	to := orgPath(r)
	if r.PathValue("user_id") == s.User.ID {
		to = "/organizations" // left it
	}
	site.orgForm(w, r, to, func() error {
		return site.Orgs.RemoveMember(r.Context(), s.User.ID, r.PathValue("id"), r.PathValue("user_id"))
	})
}

// CreateRoleForm serves POST /organizations/{id}/roles: permissions are
// separated by spaces or commas.
func (site *OrganizationPages) CreateRoleForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.orgForm(w, r, orgPath(r), func() error {
		perms := strings.FieldsFunc(r.PostFormValue("permissions"), func(c rune) bool { return c == ',' || c == ' ' })
		_, err := site.Orgs.CreateRole(r.Context(), s.User.ID, r.PathValue("id"), orgs.RoleInput{Name: r.PostFormValue("name"), Permissions: perms})
		return err
	})
}

// EnterOrganizationForm serves POST /organizations/{id}/enter: the
// session acts in the organization from now on (its cookies get tokens
// with its claims), as POST /token/refresh with org_id does.
func (site *OrganizationPages) EnterOrganizationForm(w http.ResponseWriter, r *http.Request, s *Session) {
	err := httpjson.ParseForm(r)
	if err == nil { // not a member: not found, whatever the cookies
		_, err = site.Orgs.Get(r.Context(), s.User.ID, r.PathValue("id"))
	}
	var tokens *auth.Tokens
	if err == nil {
		c, cerr := r.Cookie(RefreshCookie)
		if cerr != nil {
			toLogin(w, r)
			return
		}
		tokens, err = site.Sessions.RefreshInOrg(r.Context(), c.Value, r.PathValue("id"))
	}
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	SetSessionCookies(w, tokens, s.CSRF)
	http.Redirect(w, r, "/books", http.StatusSeeOther)
}

// OrgInvitationsPage serves GET /organizations/{id}/invitations (owners
// and admins): the open invitations and a form to invite.
func (site *OrganizationPages) OrgInvitationsPage(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx, id := r.Context(), r.PathValue("id")
	o, err := site.Orgs.Get(ctx, s.User.ID, id)
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	invs, err := site.Orgs.Invitations(ctx, s.User.ID, id)
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	roles, err := site.Orgs.Roles(ctx, s.User.ID, id)
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	data := OrgInvitations{OrgRow: orgRow(o)}
	for _, inv := range invs {
		data.Invitations = append(data.Invitations, InvitationRow{ID: inv.ID, Email: inv.Email, Role: inv.Role, Expires: inv.ExpiresAt.Format(time.DateOnly)})
	}
	for _, rl := range roles {
		data.RoleNames = append(data.RoleNames, rl.Name)
	}
	p := s.page("Invitations to " + o.Name)
	p.Data = data
	site.Pages.Render(w, http.StatusOK, "org_invitations", p)
}

// InviteForm serves POST /organizations/{id}/invitations.
func (site *OrganizationPages) InviteForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.orgForm(w, r, orgPath(r)+"/invitations", func() error {
		_, err := site.Orgs.Invite(r.Context(), s.User.ID, r.PathValue("id"), orgs.InviteInput{Email: r.PostFormValue("email"), Role: r.PostFormValue("role")})
		return err
	})
}

// RevokeInvitationForm serves POST /organizations/{id}/invitations/{invitation_id}/revoke.
func (site *OrganizationPages) RevokeInvitationForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.orgForm(w, r, orgPath(r)+"/invitations", func() error {
		return site.Orgs.RevokeInvitation(r.Context(), s.User.ID, r.PathValue("id"), r.PathValue("invitation_id"))
	})
}

// InvitationPage serves GET /invitations/accept?token=, the mailed link:
// it shows the invitation and, to the signed-in user with the invited
// address, a button to accept (a POST: opening the link spends nothing);
// to anyone else the way to sign in, or sign up, with that address.
func (site *OrganizationPages) InvitationPage(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("token")
	in, err := site.Orgs.Lookup(r.Context(), raw, site.Client(r))
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	here := "/invitations/accept?token=" + url.QueryEscape(raw)
	data := Invited{Token: raw, OrgName: in.Org.Name, Role: in.Role, Email: in.Email,
		LoginLink:  "/login?next=" + url.QueryEscape(here),
		SignupLink: "/signup?email=" + url.QueryEscape(in.Email) + "&next=" + url.QueryEscape(here)}
	p := Page{Title: "Invitation to " + in.Org.Name, NoReferrer: true}
	if claims, csrf, err := site.pageClaims(w, r, true); err == nil {
		p.CSRF = csrf
		if p.CSRF == "" {
			p.CSRF = ensureCSRFCookie(w, r)
		}
		data.SignedIn = true
		if u, err := site.Accounts.User(r.Context(), claims.Subject); err == nil {
			p.User = &User{ID: u.ID, Email: u.Email, Username: u.Username, Name: u.Name, Role: u.Role, EmailVerified: u.EmailVerified}
			data.RightAddress = u.Email == in.Email
		}
	}
	p.Data = data
	site.Pages.Render(w, http.StatusOK, "invitation", p)
}

// AcceptInvitationForm serves the invitation page's POST /invitations/accept.
func (site *OrganizationPages) AcceptInvitationForm(w http.ResponseWriter, r *http.Request, s *Session) {
	err := httpjson.ParseForm(r)
	var o orgs.MyOrg
	if err == nil {
		o, err = site.Orgs.Accept(r.Context(), s.User.ID, r.PostFormValue("token"), site.Client(r))
	}
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/organizations/"+o.ID, http.StatusSeeOther)
}
