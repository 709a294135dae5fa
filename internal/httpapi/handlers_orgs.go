package httpapi

import (
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
)

// The organizations API (API.md "Organizations and roles"): thin adapters
// over orgs.Service, which holds every rule and the policy.

type orgJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Slug      string    `json:"slug"`
	CreatedAt time.Time `json:"created_at"`
	Role      string    `json:"role,omitempty"` // the caller's
}

func orgView(o orgs.MyOrg) orgJSON {
	return orgJSON{ID: o.ID, Name: o.Name, Slug: o.Slug, CreatedAt: o.CreatedAt, Role: o.Role}
}

type memberJSON struct {
	UserID   string    `json:"user_id"`
	Email    *string   `json:"email"`
	Name     *string   `json:"name"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

func memberView(m orgs.Membership) memberJSON {
	return memberJSON{UserID: m.UserID, Email: nullable(m.Email), Name: nullable(m.Name), Role: m.Role, JoinedAt: m.JoinedAt}
}

type roleJSON struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
	Builtin     bool     `json:"builtin"`
}

func roleView(r orgs.Role) roleJSON {
	return roleJSON{Name: r.Name, Permissions: append([]string{}, r.Permissions...), Builtin: r.Builtin}
}

type invitationJSON struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func invitationView(i orgs.Invitation) invitationJSON {
	return invitationJSON{ID: i.ID, Email: i.Email, Role: i.Role, CreatedAt: i.CreatedAt, ExpiresAt: i.ExpiresAt}
}

func views[T, V any](list []T, view func(T) V) []V {
	out := make([]V, 0, len(list))
	for _, x := range list {
		out = append(out, view(x))
	}
	return out
}

// orgHandler adapts one call of the service: the caller is the token's
// subject; f answers the status and body, or an error.
func orgHandler(d Deps, f func(r *http.Request, userID string) (int, any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, body, err := f(r, claimsOf(r).Subject)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		httpjson.Write(w, status, body)
	})
}

// decodeThen decodes the body as T and hands it to f.
func decodeThen[T any](f func(r *http.Request, userID string, in T) (int, any, error)) func(*http.Request, string) (int, any, error) {
	return func(r *http.Request, userID string) (int, any, error) {
		in, err := httpjson.Decode[T](r, false)
		if err != nil {
			return 0, nil, err
		}
		return f(r, userID, in)
	}
}

func handleCreateOrg(d Deps) http.Handler {
	return orgHandler(d, decodeThen(func(r *http.Request, userID string, in orgs.CreateInput) (int, any, error) {
		o, err := d.Orgs.Create(r.Context(), userID, in)
		return http.StatusCreated, map[string]any{"org": orgView(o)}, err
	}))
}

func handleListOrgs(d Deps) http.Handler {
	return orgHandler(d, func(r *http.Request, userID string) (int, any, error) {
		list, err := d.Orgs.List(r.Context(), userID)
		return http.StatusOK, map[string]any{"orgs": views(list, orgView)}, err
	})
}

func handleGetOrg(d Deps) http.Handler {
	return orgHandler(d, func(r *http.Request, userID string) (int, any, error) {
		o, err := d.Orgs.Get(r.Context(), userID, r.PathValue("id"))
		return http.StatusOK, map[string]any{"org": orgView(o)}, err
	})
}

func handleUpdateOrg(d Deps) http.Handler {
	return orgHandler(d, decodeThen(func(r *http.Request, userID string, in orgs.UpdateInput) (int, any, error) {
		o, err := d.Orgs.Update(r.Context(), userID, r.PathValue("id"), in)
		return http.StatusOK, map[string]any{"org": orgView(o)}, err
	}))
}

func handleDeleteOrg(d Deps) http.Handler {
	return orgHandler(d, func(r *http.Request, userID string) (int, any, error) {
		return http.StatusNoContent, nil, d.Orgs.Delete(r.Context(), userID, r.PathValue("id"))
	})
}

func handleListMembers(d Deps) http.Handler {
	return orgHandler(d, func(r *http.Request, userID string) (int, any, error) {
		list, err := d.Orgs.Members(r.Context(), userID, r.PathValue("id"))
		return http.StatusOK, map[string]any{"members": views(list, memberView)}, err
	})
}

type setRoleRequest struct {
	Role string `json:"role"`
}

func handleUpdateMember(d Deps) http.Handler {
	return orgHandler(d, decodeThen(func(r *http.Request, userID string, in setRoleRequest) (int, any, error) {
		m, err := d.Orgs.SetRole(r.Context(), userID, r.PathValue("id"), r.PathValue("user_id"), in.Role)
		return http.StatusOK, map[string]any{"member": memberView(m)}, err
	}))
}

func handleRemoveMember(d Deps) http.Handler {
	return orgHandler(d, func(r *http.Request, userID string) (int, any, error) {
		return http.StatusNoContent, nil, d.Orgs.RemoveMember(r.Context(), userID, r.PathValue("id"), r.PathValue("user_id"))
	})
}

func handleListRoles(d Deps) http.Handler {
	return orgHandler(d, func(r *http.Request, userID string) (int, any, error) {
		list, err := d.Orgs.Roles(r.Context(), userID, r.PathValue("id"))
		return http.StatusOK, map[string]any{"roles": views(list, roleView)}, err
	})
}

func handleCreateRole(d Deps) http.Handler {
	return orgHandler(d, decodeThen(func(r *http.Request, userID string, in orgs.RoleInput) (int, any, error) {
		role, err := d.Orgs.CreateRole(r.Context(), userID, r.PathValue("id"), in)
		return http.StatusCreated, map[string]any{"role": roleView(role)}, err
	}))
}

func handleInvite(d Deps) http.Handler {
	return orgHandler(d, decodeThen(func(r *http.Request, userID string, in orgs.InviteInput) (int, any, error) {
		inv, err := d.Orgs.Invite(r.Context(), userID, r.PathValue("id"), in)
		return http.StatusCreated, map[string]any{"invitation": invitationView(inv)}, err
	}))
}

func handleListInvitations(d Deps) http.Handler {
	return orgHandler(d, func(r *http.Request, userID string) (int, any, error) {
		list, err := d.Orgs.Invitations(r.Context(), userID, r.PathValue("id"))
		return http.StatusOK, map[string]any{"invitations": views(list, invitationView)}, err
	})
}

func handleRevokeInvitation(d Deps) http.Handler {
	return orgHandler(d, func(r *http.Request, userID string) (int, any, error) {
		return http.StatusNoContent, nil, d.Orgs.RevokeInvitation(r.Context(), userID, r.PathValue("id"), r.PathValue("invitation_id"))
	})
}

type acceptRequest struct {
	Token string `json:"token"`
}

func handleAcceptInvitation(d Deps) http.Handler {
	return orgHandler(d, decodeThen(func(r *http.Request, userID string, in acceptRequest) (int, any, error) {
		o, err := d.Orgs.Accept(r.Context(), userID, in.Token, client(d, r))
		return http.StatusOK, map[string]any{"org": orgView(o)}, err
	}))
}

// The administrators' routes: what the command line does (gatehouse org
// add|list|member add|member remove), for Gatehouse's admins, audited with
// the admin as the actor.

type adminOrgRequest struct {
	orgs.CreateInput
	OwnerID string `json:"owner_id"`
}

func handleAdminListOrgs(d Deps) http.Handler {
	return orgHandler(d, func(r *http.Request, _ string) (int, any, error) {
		list, err := d.Orgs.All(r.Context())
		return http.StatusOK, map[string]any{"orgs": views(list, func(o orgs.Org) orgJSON { return orgView(orgs.MyOrg{Org: o}) })}, err
	})
}

func handleAdminCreateOrg(d Deps) http.Handler {
	return orgHandler(d, decodeThen(func(r *http.Request, _ string, in adminOrgRequest) (int, any, error) {
		o, err := d.Orgs.AdminCreate(r.Context(), in.OwnerID, in.CreateInput)
		return http.StatusCreated, map[string]any{"org": orgView(o)}, err
	}))
}

type adminMemberRequest struct {
	UserID string `json:"user_id"`
	Role   string `json:"role"`
}

func handleAdminAddMember(d Deps) http.Handler {
	return orgHandler(d, decodeThen(func(r *http.Request, _ string, in adminMemberRequest) (int, any, error) {
		if in.Role == "" {
			in.Role = orgs.Member
		}
		m, err := d.Orgs.AddMember(r.Context(), r.PathValue("id"), in.UserID, in.Role)
		return http.StatusCreated, map[string]any{"member": memberView(m)}, err
	}))
}

func handleAdminRemoveMember(d Deps) http.Handler {
	return orgHandler(d, func(r *http.Request, _ string) (int, any, error) {
		return http.StatusNoContent, nil, d.Orgs.AdminRemoveMember(r.Context(), r.PathValue("id"), r.PathValue("user_id"))
	})
}
