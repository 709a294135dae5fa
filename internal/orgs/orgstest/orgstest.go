// Package orgstest is the organizations' policy written out as expected
// outcomes, one per (actor role, action, target role) triple, and the
// organization each case runs in. The service's tests, the JSON API's and
// the pages' run the same cases, so the three cannot disagree.
package orgstest

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/orgs"
)

// Roles are the roles a case's actor and target have: the three built-in
// ones and a custom role, "editor" (books:read).
var Roles = []string{orgs.Owner, orgs.Admin, orgs.Member, "editor"}

// Actor roles: Roles, and a user who is no member ("outsider").
const Outsider = "outsider"

// Actions a case takes. Org-wide ones have the target "org"; set_role:R
// gives the target member role R; invite and revoke_invitation act on an
// invitation with the target role; reinvite invites the address of the open
// invitation with the target role again, as member, which replaces that
// invitation; create_role makes a custom role.
var (
	OrgActions    = []string{"view", "rename", "delete", "list_invitations", "create_role"}
	TargetActions = []string{"invite", "revoke_invitation", "reinvite", "remove", "set_role:owner", "set_role:admin", "set_role:member", "set_role:editor"}
)

// Outcomes.
const (
	Allow     = ""          // done
	Forbidden = "forbidden" // 403: a member whose role does not allow it
	NotFound  = "not_found" // 404: not a member
)

// Case is one triple and its expected outcome (an error code, or Allow).
type Case struct {
	Actor, Action, Target string
	Want                  string
}

func (c Case) String() string { return c.Actor + "/" + c.Action + "/" + c.Target }

var everyone = []string{orgs.Owner, orgs.Admin, orgs.Member, "editor"}
var below = []string{orgs.Member, "editor"}

// allowed is the policy as the product promises it: owners do everything
// (the case's organization has a second owner, so no case removes the
// last); admins view, rename, list invitations, create roles, and manage
// members, invitations and roles strictly below admin (replacing an open
// invitation revokes it, so an admin replaces only those below admin: an
// owner's invitation to admin or owner is not an admin's to undo);
// members, whatever their role, only view. Anything not listed is forbidden
// to a member.
var allowed = map[string]map[string][]string{
	orgs.Owner: {
		"view": {"org"}, "rename": {"org"}, "delete": {"org"}, "list_invitations": {"org"}, "create_role": {"org"},
		"invite": everyone, "revoke_invitation": everyone, "reinvite": everyone, "remove": everyone,
		"set_role:owner": everyone, "set_role:admin": everyone, "set_role:member": everyone, "set_role:editor": everyone,
	},
	orgs.Admin: {
		"view": {"org"}, "rename": {"org"}, "list_invitations": {"org"}, "create_role": {"org"},
		"invite": below, "revoke_invitation": below, "reinvite": below, "remove": below,
		"set_role:member": below, "set_role:editor": below,
	},
	orgs.Member: {"view": {"org"}},
	"editor":    {"view": {"org"}},
}

// Cases lists every triple.
func Cases() []Case {
	var out []Case
	for _, actor := range append(slices.Clone(Roles), Outsider) {
		add := func(action, target string) {
			want := Forbidden
			if actor == Outsider {
				want = NotFound
			} else if slices.Contains(allowed[actor][action], target) {
				want = Allow
			}
			out = append(out, Case{Actor: actor, Action: action, Target: target, Want: want})
		}
		for _, a := range OrgActions {
			add(a, "org")
		}
		for _, a := range TargetActions {
			for _, target := range Roles {
				add(a, target)
			}
		}
	}
	return out
}

// Fixture is the organization of one case: Users maps each name (a role
// for the actor, the role plus "2" for the target, "outsider") to a user id.
type Fixture struct {
	OrgID       string
	Users       map[string]string
	Invitations map[string]string // an open invitation id by role
}

// InvitedEmail is the address of the open invitation Setup made for role.
func InvitedEmail(role string) string { return "invited-" + role + "@example.net" }

// ActorID is the user acting in c.
func (f Fixture) ActorID(c Case) string { return f.Users[c.Actor] }

// TargetID is the member c acts on.
func (f Fixture) TargetID(c Case) string { return f.Users[c.Target+"2"] }

// Names are the users a fixture needs, each with an address of its own.
var Names = []string{"owner", "owner2", "admin", "admin2", "member", "member2", "editor", "editor2", Outsider}

// Setup makes a case's organization with svc (the command line's path):
// every name of Names but the outsider a member with its role, a custom role
// "editor" (books:read), and an open invitation for each role. users maps
// names to user ids.
func Setup(ctx context.Context, svc *orgs.Service, users map[string]string, slug string) (Fixture, error) {
	f := Fixture{Users: users, Invitations: map[string]string{}}
	o, err := svc.AdminCreate(ctx, users["owner"], orgs.CreateInput{Name: "Shop " + slug, Slug: slug})
	if err != nil {
		return f, err
	}
	f.OrgID = o.ID
	if _, err := svc.CreateRole(ctx, "cli", o.ID, orgs.RoleInput{Name: "editor", Permissions: []string{"books:read"}}); err != nil {
		return f, err
	}
	for _, name := range Names[1:8] {
		if _, err := svc.AddMember(ctx, o.ID, users[name], strings.TrimSuffix(name, "2")); err != nil {
			return f, fmt.Errorf("add %s: %w", name, err)
		}
	}
	for _, role := range Roles {
		inv, err := svc.Invite(ctx, "cli", o.ID, orgs.InviteInput{Email: InvitedEmail(role), Role: role})
		if err != nil {
			return f, fmt.Errorf("invite %s: %w", role, err)
		}
		f.Invitations[role] = inv.ID
	}
	return f, nil
}

// Effect says, after c ran, whether it changed what it should have (when
// allowed) and nothing otherwise: it reads the organization through the
// command line's view of svc.
func Effect(ctx context.Context, svc *orgs.Service, f Fixture, c Case) error {
	o, err := svc.Get(ctx, f.Users["owner"], f.OrgID)
	deleted := err != nil
	done := c.Want == Allow
	if c.Action == "delete" {
		if deleted != done {
			return fmt.Errorf("deleted %v", deleted)
		}
		return nil
	}
	if deleted {
		return fmt.Errorf("the organization is gone: %v", err)
	}
	members, err := svc.Members(ctx, f.Users["owner"], f.OrgID)
	if err != nil {
		return err
	}
	roleOf := map[string]string{}
	for _, m := range members {
		roleOf[m.UserID] = m.Role
	}
	invs, err := svc.Invitations(ctx, f.Users["owner"], f.OrgID)
	if err != nil {
		return err
	}
	open := map[string]bool{}
	for _, inv := range invs {
		open[inv.ID] = true
	}
	roles, err := svc.Roles(ctx, f.Users["owner"], f.OrgID)
	if err != nil {
		return err
	}
	target := f.TargetID(c)
	check := func(changed bool, what string) error {
		if changed != done {
			return fmt.Errorf("%s: changed %v, want %v", what, changed, done)
		}
		return nil
	}
	switch {
	case c.Action == "rename":
		return check(o.Name == "Renamed", "name")
	case c.Action == "create_role":
		return check(len(roles) == 5, "roles")
	case c.Action == "invite":
		return check(len(invs) == 5, "invitations")
	case c.Action == "revoke_invitation":
		return check(!open[f.Invitations[c.Target]], "invitation")
	case c.Action == "reinvite":
		replaced := false
		for _, inv := range invs {
			replaced = replaced || (inv.Email == InvitedEmail(c.Target) && inv.ID != f.Invitations[c.Target] && inv.Role == orgs.Member)
		}
		if len(invs) != 4 || replaced == open[f.Invitations[c.Target]] {
			return fmt.Errorf("%d open invitations, the old one open %v, a new one %v", len(invs), open[f.Invitations[c.Target]], replaced)
		}
		return check(replaced, "invitation")
	case c.Action == "remove":
		_, member := roleOf[target]
		return check(!member, "membership")
	case strings.HasPrefix(c.Action, "set_role:"):
		to := strings.TrimPrefix(c.Action, "set_role:")
		if to == c.Target { // nothing to change, allowed or not
			if roleOf[target] != to {
				return fmt.Errorf("role %s, want %s", roleOf[target], to)
			}
			return nil
		}
		return check(roleOf[target] == to, "role")
	}
	if len(members) != 8 || len(invs) != 4 || len(roles) != 4 || o.Name == "Renamed" {
		return fmt.Errorf("a read changed something: %d members, %d invitations, %d roles, name %q", len(members), len(invs), len(roles), o.Name)
	}
	return nil
}
