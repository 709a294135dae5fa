package orgs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/google/uuid"
)

// Audit event names.
const (
	EventCreated            = "org_created"
	EventUpdated            = "org_updated"
	EventDeleted            = "org_deleted"
	EventMemberAdded        = "org_member_added"
	EventRoleChanged        = "org_member_role_changed"
	EventMemberRemoved      = "org_member_removed"
	EventRoleCreated        = "org_role_created"
	EventInvitationSent     = "org_invitation_sent"
	EventInvitationRevoked  = "org_invitation_revoked"
	EventInvitationAccepted = "org_invitation_accepted"
)

// Who may create organizations (--org-creation).
const (
	CreationUsers  = "users"  // any user whose address is verified
	CreationAdmins = "admins" // Gatehouse administrators only
)

// Feed ends what an edit revoked on every instance (auth.Feed).
type Feed interface {
	EndSessionsBy(ctx context.Context, end func(now, liveUntil time.Time) ([]string, error)) ([]string, error)
}

// Checks is the guarded path every check of a secret takes (auth.Checks):
// the per-address limit, the audit of failures, the floor.
type Checks interface {
	Guarded(ctx context.Context, c auth.GuardedCheck) error
}

// Users reads accounts (the store's auth.UserReader).
type Users interface {
	User(ctx context.Context, id string) (auth.User, error)
}

// Deps are the Service's collaborators.
type Deps struct {
	Store Store
	Users Users
	Feed  Feed
	// Checks guards the checks of invitation tokens; nil only where none is
	// checked (the command line).
	Checks Checks
	// Audit records an event (auth.Accounts.Audit: it reads the client and
	// the actor from the context).
	Audit func(ctx context.Context, event, userID, detail string)
	// Mailer renders invitations; nil: inviting answers 503.
	Mailer     auth.Mailer
	MailQueued func()
	PublicURL  string // invitation links are built from it
	// Limiter bounds the invitations one member sends (InvitesSent) and
	// one address receives (InvitesReceived): a mail carrying text an
	// organization's name chooses is a phishing channel if unbounded. nil
	// or a zero limit: no bound (the command line).
	Limiter                      ratelimit.Limiter
	InvitesSent, InvitesReceived ratelimit.Limit
	Creation                     string // CreationUsers (default) or CreationAdmins
	Now                          func() time.Time
	Log                          *slog.Logger
}

// Service holds every rule of organizations.
type Service struct{ d Deps }

// New returns the Service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Audit == nil {
		d.Audit = func(context.Context, string, string, string) {}
	}
	if d.Creation == "" {
		d.Creation = CreationUsers
	}
	return &Service{d: d}
}

func (s *Service) now() time.Time { return s.d.Now().UTC().Truncate(time.Millisecond) }

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// cli is the actor of the command line: it acts as an owner of every
// organization.
const cli = "cli"

// --- Organizations.

// CreateInput is a new organization.
type CreateInput struct {
	Name string `json:"name"`
	Slug string `json:"slug"`
}

// Create makes an organization whose owner is userID, if --org-creation
// lets that user: any user with a verified address (users), or
// administrators only (admins).
func (s *Service) Create(ctx context.Context, userID string, in CreateInput) (MyOrg, error) {
	u, err := s.d.Users.User(ctx, userID)
	if err != nil {
		return MyOrg{}, err
	}
	switch {
	case s.d.Creation == CreationAdmins && u.Role != auth.RoleAdmin:
		return MyOrg{}, forbidden("Only administrators may create organizations here.")
	case s.d.Creation == CreationUsers && u.Role != auth.RoleAdmin && !u.EmailVerified:
		return MyOrg{}, auth.Errorf(auth.CodeEmailNotVerified, "Verify your email address to create an organization.")
	}
	return s.create(ctx, userID, in)
}

// AdminCreate makes an organization owned by ownerID (the command line and
// Gatehouse's administrators), whatever --org-creation says.
func (s *Service) AdminCreate(ctx context.Context, ownerID string, in CreateInput) (MyOrg, error) {
	if _, err := s.d.Users.User(ctx, ownerID); err != nil {
		return MyOrg{}, err
	}
	return s.create(ctx, ownerID, in)
}

func (s *Service) create(ctx context.Context, ownerID string, in CreateInput) (MyOrg, error) {
	name, err := checkName(in.Name)
	if err != nil {
		return MyOrg{}, err
	}
	if err := checkSlug(in.Slug); err != nil {
		return MyOrg{}, err
	}
	now := s.now()
	o := Org{ID: newID(), Name: name, Slug: in.Slug, CreatedAt: now}
	if err := s.d.Store.CreateOrg(ctx, o, Membership{OrgID: o.ID, UserID: ownerID, Role: Owner, Grant: newID(), JoinedAt: now}); err != nil {
		if auth.ErrorCode(err) == auth.CodeAlreadyExists {
			return MyOrg{}, auth.Errorf(auth.CodeAlreadyExists, "The slug %s is taken.", in.Slug)
		}
		return MyOrg{}, fmt.Errorf("create organization: %w", err)
	}
	s.d.Audit(ctx, EventCreated, ownerID, "organization "+o.ID+" ("+o.Slug+")")
	return MyOrg{Org: o, Role: Owner}, nil
}

// List returns the organizations userID belongs to, with its role in each.
func (s *Service) List(ctx context.Context, userID string) ([]MyOrg, error) {
	return s.d.Store.OrgsOf(ctx, userID)
}

// All returns every organization (the command line and Gatehouse's
// administrators).
func (s *Service) All(ctx context.Context) ([]Org, error) { return s.d.Store.AllOrgs(ctx) }

// membership is userID's membership of orgID; the organization is not
// found (never forbidden) for anyone else.
func (s *Service) membership(ctx context.Context, orgID, userID string) (Membership, error) {
	if uuid.Validate(orgID) != nil {
		return Membership{}, errNotFound
	}
	m, err := s.d.Store.Membership(ctx, orgID, userID)
	if auth.ErrorCode(err) == auth.CodeNotFound {
		return Membership{}, errNotFound
	}
	return m, err
}

// Get returns an organization of actorID, with its role.
func (s *Service) Get(ctx context.Context, actorID, orgID string) (MyOrg, error) {
	m, err := s.membership(ctx, orgID, actorID)
	if err != nil {
		return MyOrg{}, err
	}
	o, err := s.d.Store.Org(ctx, orgID)
	if err != nil {
		return MyOrg{}, err
	}
	return MyOrg{Org: o, Role: m.Role}, nil
}

// UpdateInput changes an organization; nil fields stay.
type UpdateInput struct {
	Name *string `json:"name"`
	Slug *string `json:"slug"`
}

// Update renames an organization (owners and admins).
func (s *Service) Update(ctx context.Context, actorID, orgID string, in UpdateInput) (MyOrg, error) {
	var out MyOrg
	err := s.edit(ctx, actorID, orgID, func(tx Tx, actor Membership) error {
		if err := allow(actor.Role, Rename, actor.Role); err != nil {
			return err
		}
		o, err := s.d.Store.Org(ctx, orgID)
		if err != nil {
			return err
		}
		if in.Name != nil {
			if o.Name, err = checkName(*in.Name); err != nil {
				return err
			}
		}
		if in.Slug != nil {
			if err := checkSlug(*in.Slug); err != nil {
				return err
			}
			o.Slug = *in.Slug
		}
		if err := tx.UpdateOrg(ctx, o.Name, o.Slug); err != nil {
			if auth.ErrorCode(err) == auth.CodeAlreadyExists {
				return auth.Errorf(auth.CodeAlreadyExists, "The slug %s is taken.", o.Slug)
			}
			return err
		}
		out = MyOrg{Org: o, Role: actor.Role}
		return nil
	})
	if err != nil {
		return MyOrg{}, err
	}
	s.d.Audit(ctx, EventUpdated, actorID, "organization "+orgID+" ("+out.Slug+")")
	return out, nil
}

// Delete deletes an organization, its memberships, invitations and books
// (owners only); every member's organization claims are revoked.
func (s *Service) Delete(ctx context.Context, actorID, orgID string) error {
	err := s.edit(ctx, actorID, orgID, func(tx Tx, actor Membership) error {
		if err := allow(actor.Role, Delete, actor.Role); err != nil {
			return err
		}
		return tx.DeleteOrg(ctx)
	})
	if err != nil {
		return err
	}
	s.d.Audit(ctx, EventDeleted, actorID, "organization "+orgID)
	return nil
}

// edit runs f in Store.Edit with the actor's membership as it is in that
// transaction (the organization is not found for a non-member), and ends
// on every instance the grants the edit revoked.
func (s *Service) edit(ctx context.Context, actorID, orgID string, f func(tx Tx, actor Membership) error) error {
	if uuid.Validate(orgID) != nil {
		return errNotFound
	}
	return s.editAs(ctx, orgID, func(tx Tx) error {
		actor := Membership{OrgID: orgID, UserID: cli, Role: Owner}
		if actorID != cli {
			var err error
			actor, err = tx.Membership(ctx, actorID)
			if auth.ErrorCode(err) == auth.CodeNotFound {
				return errNotFound
			} else if err != nil {
				return err
			}
		}
		return f(tx, actor)
	})
}

// editAs is Store.Edit through the revocation feed.
func (s *Service) editAs(ctx context.Context, orgID string, f func(tx Tx) error) error {
	_, err := s.d.Feed.EndSessionsBy(ctx, func(now, liveUntil time.Time) ([]string, error) {
		return s.d.Store.Edit(ctx, orgID, now, liveUntil, f)
	})
	return err
}

// --- Members and roles.

// Members lists an organization's members (any member may).
func (s *Service) Members(ctx context.Context, actorID, orgID string) ([]Membership, error) {
	m, err := s.membership(ctx, orgID, actorID)
	if err != nil {
		return nil, err
	}
	if err := allow(m.Role, View, m.Role); err != nil {
		return nil, err
	}
	return s.d.Store.Members(ctx, orgID)
}

// Roles lists an organization's roles: the built-in ones, then the custom.
func (s *Service) Roles(ctx context.Context, actorID, orgID string) ([]Role, error) {
	m, err := s.membership(ctx, orgID, actorID)
	if err != nil {
		return nil, err
	}
	if err := allow(m.Role, View, m.Role); err != nil {
		return nil, err
	}
	custom, err := s.d.Store.CustomRoles(ctx, orgID)
	if err != nil {
		return nil, err
	}
	out := make([]Role, 0, 3+len(custom))
	for _, r := range []string{Owner, Admin, Member} {
		out = append(out, Role{Name: r, Permissions: builtinPermissions[r], Builtin: true})
	}
	return append(out, custom...), nil
}

// RoleInput is a new custom role.
type RoleInput struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
}

// CreateRole adds a custom role: owners and admins, and never with a
// permission the creator does not hold itself.
func (s *Service) CreateRole(ctx context.Context, actorID, orgID string, in RoleInput) (Role, error) {
	if _, err := s.membership(ctx, orgID, actorID); err != nil && actorID != cli {
		return Role{}, err
	}
	if err := checkRoleName(in.Name); err != nil {
		return Role{}, err
	}
	perms, err := checkPermissions(in.Permissions)
	if err != nil {
		return Role{}, err
	}
	r := Role{Name: in.Name, Permissions: perms, CreatedAt: s.now()}
	err = s.edit(ctx, actorID, orgID, func(tx Tx, actor Membership) error {
		if err := allow(actor.Role, CreateRole, r.Name); err != nil {
			return err
		}
		if err := notThroughAKey(ctx); err != nil {
			return err
		}
		if err := s.mayHandOut(ctx, tx, actor, perms); err != nil {
			return err
		}
		if err := tx.AddRole(ctx, r); err != nil {
			if auth.ErrorCode(err) == auth.CodeAlreadyExists {
				return auth.Errorf(auth.CodeAlreadyExists, "The role %s exists.", r.Name)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return Role{}, err
	}
	s.d.Audit(ctx, EventRoleCreated, actorID, fmt.Sprintf("organization %s role %s: %s", orgID, r.Name, strings.Join(perms, " ")))
	return r, nil
}

// mayHandOut refuses perms the actor does not hold (see holds).
func (s *Service) mayHandOut(ctx context.Context, tx Tx, actor Membership, perms []string) error {
	var actorPerms []string
	if !IsBuiltin(actor.Role) {
		cr, err := tx.CustomRole(ctx, actor.Role)
		if err != nil && auth.ErrorCode(err) != auth.CodeNotFound {
			return err
		}
		actorPerms = cr.Permissions
	}
	if !holds(actor.Role, actorPerms, perms) {
		return forbidden("A role cannot hold a permission that you do not hold yourself.")
	}
	return nil
}

// grantable checks that actor may give role (built in, or a custom role of
// the organization) and returns its permissions.
func (s *Service) grantable(ctx context.Context, tx Tx, actor Membership, a Action, role string) error {
	if err := allow(actor.Role, a, role); err != nil {
		return err
	}
	if IsBuiltin(role) {
		return s.mayHandOut(ctx, tx, actor, builtinPermissions[role])
	}
	cr, err := tx.CustomRole(ctx, role)
	if auth.ErrorCode(err) == auth.CodeNotFound {
		return invalid("The role %q does not exist in this organization.", role)
	} else if err != nil {
		return err
	}
	return s.mayHandOut(ctx, tx, actor, cr.Permissions)
}

// SetRole gives member userID role. Only owners give or take owner; an
// admin changes members below it to roles below it; the last owner keeps
// its role (last_owner). The member's tokens with the old claims are
// revoked everywhere; its next refresh carries the new role.
func (s *Service) SetRole(ctx context.Context, actorID, orgID, userID, role string) (Membership, error) {
	var out Membership
	var from string
	err := s.edit(ctx, actorID, orgID, func(tx Tx, actor Membership) error {
		// Checked inside the edit: an organization the actor is not in is
		// not_found before anything about the request is judged.
		if role == "" {
			return invalid("A role is required.")
		}
		target, err := tx.Membership(ctx, userID)
		if auth.ErrorCode(err) == auth.CodeNotFound {
			return errMemberMissing
		} else if err != nil {
			return err
		}
		if err := allow(actor.Role, ChangeRole, target.Role); err != nil {
			return err
		}
		if err := s.grantable(ctx, tx, actor, ChangeRole, role); err != nil {
			return err
		}
		if err := notThroughAKey(ctx); err != nil {
			return err
		}
		out, from = target, target.Role
		if target.Role == role {
			return nil
		}
		if target.Role == Owner {
			if err := keepsAnOwner(ctx, tx); err != nil {
				return err
			}
		}
		out.Role, out.Grant = role, newID()
		return tx.SetRole(ctx, userID, role, out.Grant)
	})
	if err != nil {
		return Membership{}, err
	}
	if from != role {
		s.d.Audit(ctx, EventRoleChanged, userID, fmt.Sprintf("organization %s: %s to %s by %s", orgID, from, role, actorID))
	}
	return out, nil
}

// notThroughAKey refuses, to a request made through an API key, what would
// hand out authority in an organization: a role change, an invitation to
// a role above member, a new role. A leaked orgs:write key must not make
// anyone an owner, as no key changes an account's role (auth.Accounts).
func notThroughAKey(ctx context.Context) error {
	if auth.APIKeyOf(ctx) != "" {
		return forbidden("An API key cannot hand out a role; sign in instead.")
	}
	return nil
}

// keepsAnOwner refuses to take away the last owner: read in the edit's
// transaction, which holds the organization's lock, so two concurrent
// demotions of its two owners cannot both pass.
func keepsAnOwner(ctx context.Context, tx Tx) error {
	n, err := tx.Owners(ctx)
	if err != nil {
		return err
	}
	if n <= 1 {
		return errLastOwner
	}
	return nil
}

// RemoveMember removes userID from an organization (or, with userID the
// actor's own, leaves it). Its tokens with the organization's claims are
// revoked everywhere, and its sessions no longer act in it.
func (s *Service) RemoveMember(ctx context.Context, actorID, orgID, userID string) error {
	var role string
	err := s.edit(ctx, actorID, orgID, func(tx Tx, actor Membership) error {
		target, err := tx.Membership(ctx, userID)
		if auth.ErrorCode(err) == auth.CodeNotFound {
			return errMemberMissing
		} else if err != nil {
			return err
		}
		a := Remove
		if userID == actorID {
			a = Leave
		}
		if err := allow(actor.Role, a, target.Role); err != nil {
			return err
		}
		if target.Role == Owner {
			if err := keepsAnOwner(ctx, tx); err != nil {
				return err
			}
		}
		role = target.Role
		return tx.RemoveMember(ctx, userID)
	})
	if err != nil {
		return err
	}
	s.d.Audit(ctx, EventMemberRemoved, userID, fmt.Sprintf("organization %s: %s removed by %s", orgID, role, actorID))
	return nil
}

// AdminRemoveMember removes userID from an organization (the command line
// and Gatehouse's administrators): the last owner stays.
func (s *Service) AdminRemoveMember(ctx context.Context, orgID, userID string) error {
	return s.RemoveMember(ctx, cli, orgID, userID)
}

// AddMember makes userID a member with role (the command line and
// Gatehouse's administrators, who act as an owner of every organization).
func (s *Service) AddMember(ctx context.Context, orgID, userID, role string) (Membership, error) {
	if _, err := s.d.Users.User(ctx, userID); err != nil {
		return Membership{}, err
	}
	m := Membership{OrgID: orgID, UserID: userID, Role: role, Grant: newID(), JoinedAt: s.now()}
	err := s.edit(ctx, cli, orgID, func(tx Tx, actor Membership) error {
		if err := s.grantable(ctx, tx, actor, Invite, role); err != nil {
			return err
		}
		err := tx.AddMember(ctx, m)
		if auth.ErrorCode(err) == auth.CodeAlreadyExists {
			return auth.Errorf(auth.CodeAlreadyExists, "The user is a member already.")
		}
		return err
	})
	if err != nil {
		return Membership{}, err
	}
	s.d.Audit(ctx, EventMemberAdded, userID, fmt.Sprintf("organization %s as %s", orgID, role))
	return m, nil
}

// --- Invitations.

// InviteInput is an invitation to send.
type InviteInput struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

// Invite mails an invitation to join with a role, valid for 7 days, to an
// address that is not a member's; inviting the same address again
// replaces the earlier link. Owners invite any role, admins roles below
// their own. Replacing an open invitation revokes it, so the actor must be
// allowed to revoke it (mayReplace).
func (s *Service) Invite(ctx context.Context, actorID, orgID string, in InviteInput) (Invitation, error) {
	if _, err := s.membership(ctx, orgID, actorID); err != nil && actorID != cli {
		return Invitation{}, err
	}
	email, err := auth.CanonicalEmail(in.Email)
	if err != nil {
		return Invitation{}, invalid("The email address is not valid.")
	}
	if in.Role == "" {
		in.Role = Member
	}
	if in.Role != Member {
		if err := notThroughAKey(ctx); err != nil {
			return Invitation{}, err
		}
	}
	if s.d.Mailer == nil {
		return Invitation{}, auth.Errorf(auth.CodeUnavailable, "Mail is not configured, so invitations cannot be sent.")
	}
	o, err := s.d.Store.Org(ctx, orgID)
	if err != nil {
		return Invitation{}, errNotFound
	}
	raw := newToken()
	now := s.now()
	inv := Invitation{ID: newID(), OrgID: orgID, Email: email, Role: in.Role, Hash: hashToken(raw), InvitedBy: actorID,
		CreatedAt: now, ExpiresAt: now.Add(InvitationTTL)}
	msg, err := s.d.Mailer.Render(mail.OrgInvitation, email, mail.Data{Link: s.link(raw), Expires: InvitationTTL, OrgName: o.Name, Role: inv.Role})
	if err != nil {
		return Invitation{}, fmt.Errorf("render invitation: %w", err)
	}
	err = s.edit(ctx, actorID, orgID, func(tx Tx, actor Membership) error {
		if err := s.grantable(ctx, tx, actor, Invite, inv.Role); err != nil {
			return err
		}
		if _, err := tx.MemberByEmail(ctx, email); err == nil {
			return auth.Errorf(auth.CodeAlreadyExists, "%s is a member already.", email)
		} else if auth.ErrorCode(err) != auth.CodeNotFound {
			return err
		}
		if err := mayReplace(ctx, tx, actor, email, now); err != nil {
			return err
		}
		// Counted once the invitation would be sent: a refusal costs no one's bucket.
		if err := s.allowInvitation(ctx, actorID, email); err != nil {
			return err
		}
		return tx.PutInvitation(ctx, inv, []outbox.Message{msg})
	})
	if err != nil {
		return Invitation{}, err
	}
	if s.d.MailQueued != nil {
		s.d.MailQueued()
	}
	s.d.Audit(ctx, EventInvitationSent, actorID, fmt.Sprintf("organization %s: %s invited as %s", orgID, email, inv.Role))
	return inv, nil
}

// mayReplace refuses an invitation that would replace an open one to email
// the actor may not revoke (forbidden): otherwise an admin could undo an
// owner's invitation to admin or owner by re-inviting the address as
// member. An expired invitation binds no one, so anyone who may invite
// replaces it.
func mayReplace(ctx context.Context, tx Tx, actor Membership, email string, now time.Time) error {
	open, err := tx.OpenInvitationTo(ctx, email)
	if auth.ErrorCode(err) == auth.CodeNotFound || (err == nil && !open.Open(now)) {
		return nil
	} else if err != nil {
		return err
	}
	if !Allowed(actor.Role, RevokeInvitation, open.Role) {
		return forbidden("%s has an open invitation as %s, which your role does not allow you to replace or revoke.", email, open.Role)
	}
	return nil
}

// allowInvitation takes one invitation from the sender's and the
// recipient's buckets (too_many_requests when either is empty).
func (s *Service) allowInvitation(ctx context.Context, actorID, email string) error {
	if s.d.Limiter == nil || actorID == cli {
		return nil
	}
	for _, b := range []struct {
		key   string
		limit ratelimit.Limit
	}{{"org-invite-from:" + actorID, s.d.InvitesSent}, {"org-invite-to:" + email, s.d.InvitesReceived}} {
		if b.limit.Count <= 0 {
			continue
		}
		ok, wait, err := s.d.Limiter.Allow(ctx, b.key, b.limit)
		if err != nil {
			return err
		}
		if !ok {
			return &auth.Error{Code: auth.CodeTooManyRequests, Message: "Too many invitations; try again later.", RetryAfter: wait}
		}
	}
	return nil
}

// link is the invitation page's address for token raw.
func (s *Service) link(raw string) string {
	return strings.TrimSuffix(s.d.PublicURL, "/") + "/invitations/accept?token=" + url.QueryEscape(raw)
}

// Invitations lists an organization's open invitations (owners, admins).
func (s *Service) Invitations(ctx context.Context, actorID, orgID string) ([]Invitation, error) {
	m, err := s.membership(ctx, orgID, actorID)
	if err != nil {
		return nil, err
	}
	if err := allow(m.Role, ListInvitations, m.Role); err != nil {
		return nil, err
	}
	return s.d.Store.Invitations(ctx, orgID)
}

var errNoInvitation = auth.Errorf(auth.CodeNotFound, "The invitation was not found.")

// RevokeInvitation revokes an open invitation: its link no longer works.
func (s *Service) RevokeInvitation(ctx context.Context, actorID, orgID, id string) error {
	err := s.edit(ctx, actorID, orgID, func(tx Tx, actor Membership) error {
		inv, err := tx.Invitation(ctx, id)
		if auth.ErrorCode(err) == auth.CodeNotFound || (err == nil && !inv.AcceptedAt.IsZero()) || (err == nil && !inv.RevokedAt.IsZero()) {
			return errNoInvitation
		} else if err != nil {
			return err
		}
		if err := allow(actor.Role, RevokeInvitation, inv.Role); err != nil {
			return err
		}
		return tx.RevokeInvitation(ctx, id, s.now())
	})
	if err != nil {
		return err
	}
	s.d.Audit(ctx, EventInvitationRevoked, actorID, "organization "+orgID+" invitation "+id)
	return nil
}

var errBadInvitation = auth.Errorf(auth.CodeInvalidCode, "The invitation is not valid: it is wrong, accepted, revoked, replaced by a newer one, or expired.")

// Invited is what the invitation page shows of an invitation.
type Invited struct {
	Invitation
	Org Org
}

// Lookup reads the open invitation of token raw, for its page: invalid_code
// for anything else. It spends nothing. The check goes through the guarded
// path (Checks), as every check of a secret does: c's address limit, the
// audit of a failure, the floor, one answer.
func (s *Service) Lookup(ctx context.Context, raw string, c auth.Client) (Invited, error) {
	if s.d.Checks == nil {
		return Invited{}, errors.New("orgs: no Checks to check an invitation with")
	}
	var inv Invitation
	err := s.d.Checks.Guarded(ctx, auth.GuardedCheck{Kind: auth.CheckInvitation, Client: c, Secret: raw,
		Check: func(ctx context.Context) (bool, string, error) {
			if !isToken(raw) {
				return false, "malformed invitation", nil
			}
			hash := hashToken(raw)
			found, err := s.d.Store.InvitationByHash(ctx, hash)
			if auth.ErrorCode(err) == auth.CodeNotFound {
				return false, "unknown invitation", nil
			} else if err != nil {
				return false, "", err
			}
			// The look-up was by this hash; comparing it again costs nothing.
			if subtle.ConstantTimeCompare([]byte(found.Hash), []byte(hash)) != 1 {
				return false, "unknown invitation", nil
			}
			if !found.Open(s.now()) {
				return false, "invitation " + found.ID + " accepted, revoked, replaced or expired", nil
			}
			inv = found
			return true, "", nil
		}})
	if auth.ErrorCode(err) == auth.CodeInvalidCredentials {
		return Invited{}, errBadInvitation
	} else if err != nil {
		return Invited{}, err
	}
	o, err := s.d.Store.Org(ctx, inv.OrgID)
	if err != nil {
		return Invited{}, err
	}
	return Invited{Invitation: inv, Org: o}, nil
}

// Accept spends the invitation of token raw for userID, who must have the
// invited address, verified: userID becomes a member with the invited
// role. A wrong, accepted, revoked, replaced or expired invitation is
// invalid_code; another address forbidden; the same address unverified
// email_not_verified; nothing changes for any of them.
func (s *Service) Accept(ctx context.Context, userID, raw string, c auth.Client) (MyOrg, error) {
	in, err := s.Lookup(ctx, raw, c)
	if err != nil {
		return MyOrg{}, err
	}
	u, err := s.d.Users.User(ctx, userID)
	if err != nil {
		return MyOrg{}, err
	}
	if u.Email != in.Email {
		return MyOrg{}, forbidden("This invitation was sent to another address: sign in with the account of that address.")
	}
	if !u.EmailVerified {
		return MyOrg{}, auth.Errorf(auth.CodeEmailNotVerified, "Verify your email address, then accept the invitation.")
	}
	m := Membership{OrgID: in.OrgID, UserID: userID, Role: in.Role, Grant: newID(), JoinedAt: s.now()}
	err = s.editAs(ctx, in.OrgID, func(tx Tx) error {
		inv, err := tx.Invitation(ctx, in.ID)
		if err != nil || !inv.Open(m.JoinedAt) {
			return errBadInvitation
		}
		if _, err := tx.Membership(ctx, userID); err == nil {
			return auth.Errorf(auth.CodeAlreadyExists, "You are a member already.")
		}
		if err := tx.AcceptInvitation(ctx, inv.ID, userID, m.JoinedAt); err != nil {
			if auth.ErrorCode(err) == auth.CodeNotFound {
				return errBadInvitation
			}
			return err
		}
		return tx.AddMember(ctx, m)
	})
	if err != nil {
		return MyOrg{}, err
	}
	s.d.Audit(ctx, EventInvitationAccepted, userID, fmt.Sprintf("organization %s as %s (invitation %s)", in.OrgID, in.Role, in.ID))
	return MyOrg{Org: in.Org, Role: in.Role}, nil
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func isToken(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(32) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

func hashToken(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}
