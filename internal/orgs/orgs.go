// Package orgs is Gatehouse's organizations: teams of users, each member
// with a role (owner, admin, member, or a custom role: a named set of
// permission strings), invitations by mail, and the organization a session
// acts in, whose claims its access tokens carry. Service holds every rule,
// the policy in one table (policy.go); the JSON API (internal/httpapi), the
// pages (internal/web) and the command line are adapters over it.
package orgs

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
)

// The built-in roles, highest first.
const (
	Owner  = "owner"
	Admin  = "admin"
	Member = "member"
)

// Permissions of the built-in roles. Custom roles hold the permissions
// they were created with.
var builtinPermissions = map[string][]string{
	Owner:  {"books:read", "books:write"},
	Admin:  {"books:read", "books:write"},
	Member: {"books:read"},
}

// IsBuiltin reports whether role is owner, admin or member.
func IsBuiltin(role string) bool { _, ok := builtinPermissions[role]; return ok }

// Org is an organization.
type Org struct {
	ID        string
	Name      string
	Slug      string
	CreatedAt time.Time
}

// MyOrg is an organization with the caller's role in it (GET /orgs).
type MyOrg struct {
	Org
	Role string
}

// Membership is a user's place in an organization. Grant names the claims
// access tokens carry for it (see auth.OrgClaims); Email and Name are the
// user's, for lists.
type Membership struct {
	OrgID    string
	UserID   string
	Role     string
	Grant    string
	JoinedAt time.Time
	Email    string
	Name     string
}

// Role is a role of an organization: a built-in one, or a custom role.
type Role struct {
	Name        string
	Permissions []string
	Builtin     bool
	CreatedAt   time.Time // zero for the built-in roles
}

// Invitation is an invitation to join an organization with a role, mailed
// to Email (canonical); only the SHA-256 of its token (Hash) is kept.
type Invitation struct {
	ID         string
	OrgID      string
	Email      string
	Role       string
	Hash       string
	InvitedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	AcceptedAt time.Time
	RevokedAt  time.Time
}

// Open reports whether inv can still be accepted at now.
func (inv Invitation) Open(now time.Time) bool {
	return inv.AcceptedAt.IsZero() && inv.RevokedAt.IsZero() && now.Before(inv.ExpiresAt)
}

// InvitationTTL is how long an invitation works.
const InvitationTTL = 7 * 24 * time.Hour

// Store is what the organizations need of the database (internal/store
// implements it for SQLite and PostgreSQL). Implementations return
// *auth.Error with CodeNotFound and CodeAlreadyExists where those apply.
type Store interface {
	// CreateOrg stores o with owner as its first member (already_exists
	// when the slug is taken).
	CreateOrg(ctx context.Context, o Org, owner Membership) error
	Org(ctx context.Context, id string) (Org, error)
	// OrgsOf lists the organizations userID belongs to, by name.
	OrgsOf(ctx context.Context, userID string) ([]MyOrg, error)
	// AllOrgs lists every organization, by name (the command line).
	AllOrgs(ctx context.Context) ([]Org, error)
	// Membership reads userID's membership of orgID (not_found).
	Membership(ctx context.Context, orgID, userID string) (Membership, error)
	// Members lists an organization's members, oldest first.
	Members(ctx context.Context, orgID string) ([]Membership, error)
	// CustomRoles lists an organization's custom roles, by name.
	CustomRoles(ctx context.Context, orgID string) ([]Role, error)
	// Invitations lists an organization's open invitations (neither
	// accepted nor revoked; expired ones included), newest first.
	Invitations(ctx context.Context, orgID string) ([]Invitation, error)
	// InvitationByHash finds an invitation by its token's hash (not_found).
	InvitationByHash(ctx context.Context, hash string) (Invitation, error)
	// SessionMembership reads the membership of userID in the organization
	// session sessionID acts in, with its role's permissions when it is a
	// custom role: not_found when it acts in none or userID is no member.
	SessionMembership(ctx context.Context, sessionID, userID string) (Membership, []string, error)
	// EnterOrg makes sessionID (a session of userID) act in orgID, if userID
	// is a member of it (not_found otherwise, and nothing written).
	EnterOrg(ctx context.Context, sessionID, userID, orgID string) error
	// Edit runs f in one write transaction that first locks organization
	// orgID (not_found when there is none), so the edits of one
	// organization apply one after another and f's checks hold when it
	// commits. Grants a change replaces are added to the change feed, each
	// kept until liveUntil; Edit returns them once committed.
	Edit(ctx context.Context, orgID string, now, liveUntil time.Time, f func(Tx) error) (revoked []string, err error)
}

// Tx is an organization's edit, inside Store.Edit's transaction.
type Tx interface {
	// Membership reads a member (not_found).
	Membership(ctx context.Context, userID string) (Membership, error)
	// MemberByEmail finds a member by canonical address (not_found).
	MemberByEmail(ctx context.Context, email string) (Membership, error)
	// CustomRole reads a custom role (not_found).
	CustomRole(ctx context.Context, name string) (Role, error)
	// Owners counts the owners.
	Owners(ctx context.Context) (int, error)
	AddMember(ctx context.Context, m Membership) error
	// SetRole gives userID role with a new grant; the old grant is revoked.
	SetRole(ctx context.Context, userID, role, grant string) error
	// RemoveMember removes userID, revokes its grant, and takes its
	// sessions out of the organization.
	RemoveMember(ctx context.Context, userID string) error
	// UpdateOrg renames the organization (already_exists for a taken slug).
	UpdateOrg(ctx context.Context, name, slug string) error
	// DeleteOrg deletes the organization, its books and memberships, and
	// revokes every member's grant.
	DeleteOrg(ctx context.Context) error
	// AddRole stores a custom role (already_exists for a taken name).
	AddRole(ctx context.Context, r Role) error
	// PutInvitation revokes the open invitation to inv.Email, if any,
	// stores inv and writes mails to the outbox.
	PutInvitation(ctx context.Context, inv Invitation, mails []outbox.Message) error
	// Invitation reads one of the organization's invitations (not_found).
	Invitation(ctx context.Context, id string) (Invitation, error)
	// OpenInvitationTo reads the invitation to email that is neither
	// accepted nor revoked, expired or not (not_found when there is none).
	OpenInvitationTo(ctx context.Context, email string) (Invitation, error)
	// RevokeInvitation revokes an open invitation (not_found otherwise).
	RevokeInvitation(ctx context.Context, id string, now time.Time) error
	// AcceptInvitation marks an open invitation accepted by userID
	// (not_found when it is no longer open).
	AcceptInvitation(ctx context.Context, id, userID string, now time.Time) error
}

// The grammar of names (also in API.md and openapi.yaml):
//
//   - slug: 1-63 of lowercase letters, digits and hyphens, starting and
//     ending with a letter or digit;
//   - a custom role's name: [a-z][a-z0-9_-]{0,31}, not a built-in role's;
//   - a permission: resource:action, each [a-z][a-z0-9_.-]{0,31}
//     ("books:write"); a custom role holds 1 to 32 of them.
var (
	slugPattern       = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
	roleNamePattern   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	permissionPattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,31}:[a-z][a-z0-9_.-]{0,31}$`)
)

// MaxPermissions is how many permissions a custom role may hold.
const MaxPermissions = 32

func invalid(format string, args ...any) error {
	return auth.Errorf(auth.CodeInvalidRequest, format, args...)
}

var (
	errNotFound      = auth.Errorf(auth.CodeNotFound, "The organization was not found.")
	errMemberMissing = auth.Errorf(auth.CodeNotFound, "The member was not found.")
	errLastOwner     = auth.Errorf(auth.CodeLastOwner, "An organization keeps at least one owner: make another member owner first.")
)

func forbidden(format string, args ...any) error {
	return auth.Errorf(auth.CodeForbidden, format, args...)
}

// checkName trims and checks an organization's name: 1 to 100 characters.
func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > 100 || strings.ContainsAny(name, "\r\n\x00") {
		return "", invalid("The name must be 1 to 100 characters on one line.")
	}
	return name, nil
}

func checkSlug(slug string) error {
	if !slugPattern.MatchString(slug) {
		return invalid("The slug must be 1 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit.")
	}
	return nil
}

func checkRoleName(name string) error {
	if IsBuiltin(name) {
		return auth.Errorf(auth.CodeAlreadyExists, "The role %s is built in.", name)
	}
	if !roleNamePattern.MatchString(name) {
		return invalid("A role name is a lowercase letter followed by up to 31 lowercase letters, digits, _ or -.")
	}
	return nil
}

// checkPermissions checks a custom role's permissions and returns them
// without duplicates, sorted.
func checkPermissions(perms []string) ([]string, error) {
	if len(perms) < 1 || len(perms) > MaxPermissions {
		return nil, invalid("A role holds 1 to %d permissions.", MaxPermissions)
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range perms {
		if !permissionPattern.MatchString(p) {
			return nil, invalid("A permission is resource:action, each a lowercase letter followed by up to 31 lowercase letters, digits, _, . or - (books:write).")
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sortStrings(out)
	return out, nil
}
