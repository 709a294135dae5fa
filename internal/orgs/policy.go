package orgs

import (
	"slices"
	"sort"
)

// Action is something a member does in an organization.
type Action string

// The actions of the policy. The target of each is a role: the role of the
// member acted on (ChangeRole: both the member's current role and the role
// given; Remove; Leave: the actor's own), of the invitation (Invite,
// RevokeInvitation), or of the custom role made (CreateRole: custom roles
// rank as member). View, Rename, Delete and ListInvitations act on the
// organization itself: their target is the actor's own role.
const (
	View             Action = "view" // the organization, its members and roles
	Rename           Action = "rename"
	Delete           Action = "delete"
	Invite           Action = "invite"
	ListInvitations  Action = "list_invitations"
	RevokeInvitation Action = "revoke_invitation"
	ChangeRole       Action = "change_role"
	Remove           Action = "remove"
	Leave            Action = "leave"
	CreateRole       Action = "create_role"
)

// Actions lists every action, for the policy's tests.
var Actions = []Action{View, Rename, Delete, Invite, ListInvitations, RevokeInvitation, ChangeRole, Remove, Leave, CreateRole}

// rank orders roles: owner above admin above member; a custom role ranks
// as member (an admin manages it, and it manages nothing).
type rank int

const (
	memberRank rank = iota + 1
	adminRank
	ownerRank
)

func rankOf(role string) rank {
	switch role {
	case Owner:
		return ownerRank
	case Admin:
		return adminRank
	default:
		return memberRank
	}
}

// policy is the whole policy: for each action, the roles that may take it
// and the highest role each may take it on. No entry: refused. So:
// only owners grant or remove owner (only an owner reaches ownerRank in
// Invite, ChangeRole, Remove); an admin manages members and roles strictly
// below its own (adminRank actors reach memberRank); members manage nothing
// and may leave. The last owner rule (errLastOwner) and the rule that a
// role cannot hand out more than its granter holds (holds) are the two
// checks beyond it, applied by the same Service methods.
var policy = map[Action]map[rank]rank{
	View:             {ownerRank: ownerRank, adminRank: adminRank, memberRank: memberRank},
	Rename:           {ownerRank: ownerRank, adminRank: adminRank},
	Delete:           {ownerRank: ownerRank},
	Invite:           {ownerRank: ownerRank, adminRank: memberRank},
	ListInvitations:  {ownerRank: ownerRank, adminRank: adminRank},
	RevokeInvitation: {ownerRank: ownerRank, adminRank: memberRank},
	ChangeRole:       {ownerRank: ownerRank, adminRank: memberRank},
	Remove:           {ownerRank: ownerRank, adminRank: memberRank},
	Leave:            {ownerRank: ownerRank, adminRank: adminRank, memberRank: memberRank},
	CreateRole:       {ownerRank: ownerRank, adminRank: memberRank},
}

// Allowed reports whether a member with role actor may take action on
// target (a role; see Action). It is the policy table's one reader.
func Allowed(actor string, a Action, target string) bool {
	highest, ok := policy[a][rankOf(actor)]
	return ok && rankOf(target) <= highest
}

// allow is Allowed as an error: forbidden (the actor is a member, so the
// organization's existence is no secret to it).
func allow(actor string, a Action, target string) error {
	if !Allowed(actor, a, target) {
		return forbidden("Your role in this organization does not allow this.")
	}
	return nil
}

// holds reports whether a member with role actor (of permissions
// actorPerms, for a custom role) holds every one of perms, so that it may
// hand them out: an owner holds every permission; any other role its own.
func holds(actor string, actorPerms, perms []string) bool {
	if actor == Owner {
		return true
	}
	have := actorPerms
	if IsBuiltin(actor) {
		have = builtinPermissions[actor]
	}
	for _, p := range perms {
		if !slices.Contains(have, p) {
			return false
		}
	}
	return true
}

func sortStrings(s []string) { sort.Strings(s) }
