package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
)

// Organizations (orgs.Store): organizations, memberships, custom roles,
// invitations, and the organization each session acts in. Every edit of an
// organization runs in Edit's transaction, which locks the organization's
// row first (PostgreSQL; SQLite's single writer already serialises), so
// its checks (the last owner, the actor's role) hold when it commits.

var _ orgs.Store = (*Store)(nil)

const orgColumns = "o.id, o.name, o.slug, o.created_at"

func scanOrg(row scanner, extra ...any) (orgs.Org, error) {
	var o orgs.Org
	err := row.Scan(append([]any{&o.ID, &o.Name, &o.Slug, msDest{&o.CreatedAt}}, extra...)...)
	return o, err
}

// CreateOrg implements orgs.Store.
func (s *Store) CreateOrg(ctx context.Context, o orgs.Org, owner orgs.Membership) error {
	return s.inTx(ctx, func(e execer) error {
		if _, err := e.exec(ctx, `INSERT INTO orgs (id, name, slug, created_at) VALUES (?, ?, ?, ?)`,
			o.ID, o.Name, o.Slug, ms(o.CreatedAt)); err != nil {
			if isUniqueViolation(err) {
				return auth.Errorf(auth.CodeAlreadyExists, "The slug is taken.")
			}
			return err
		}
		return addMember(ctx, e, owner)
	})
}

func addMember(ctx context.Context, e execer, m orgs.Membership) error {
	_, err := e.exec(ctx, `INSERT INTO org_members (org_id, user_id, role, grant_id, joined_at) VALUES (?, ?, ?, ?, ?)`,
		m.OrgID, m.UserID, m.Role, m.Grant, ms(m.JoinedAt))
	if isUniqueViolation(err) {
		return auth.Errorf(auth.CodeAlreadyExists, "The user is a member already.")
	} else if err != nil {
		return err
	}
	return emit(ctx, e, events.New(events.OrgMemberAdded, m.JoinedAt, events.Data{"org_id": m.OrgID, "user_id": m.UserID, "role": m.Role}))
}

// emitMember queues an organization event about one member.
func (t *orgTx) emitMember(ctx context.Context, typ, userID, role string) error {
	d := events.Data{"org_id": t.orgID, "user_id": userID}
	if role != "" {
		d["role"] = role
	}
	return emit(ctx, t.e, events.New(typ, t.now, d))
}

// Org implements orgs.Store.
func (s *Store) Org(ctx context.Context, id string) (orgs.Org, error) {
	o, err := scanOrg(s.reader().queryRow(ctx, `SELECT `+orgColumns+` FROM orgs o WHERE o.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return o, notFound("The organization")
	}
	return o, err
}

// OrgsOf implements orgs.Store.
func (s *Store) OrgsOf(ctx context.Context, userID string) ([]orgs.MyOrg, error) {
	scanMyOrg := func(r scanner) (orgs.MyOrg, error) {
		var mo orgs.MyOrg
		var err error
		mo.Org, err = scanOrg(r, &mo.Role)
		return mo, err
	}
	return queryAll(ctx, s.reader(), []orgs.MyOrg{}, scanMyOrg, `SELECT `+orgColumns+`, m.role FROM orgs o
		JOIN org_members m ON m.org_id = o.id WHERE m.user_id = ? ORDER BY o.name, o.id`, userID)
}

// AllOrgs implements orgs.Store.
func (s *Store) AllOrgs(ctx context.Context) ([]orgs.Org, error) {
	return queryAll(ctx, s.reader(), []orgs.Org{}, func(r scanner) (orgs.Org, error) { return scanOrg(r) },
		`SELECT `+orgColumns+` FROM orgs o ORDER BY o.name, o.id`)
}

const memberColumns = `m.org_id, m.user_id, m.role, m.grant_id, m.joined_at, COALESCE(u.email, ''), COALESCE(u.name, '')`

func scanMember(row scanner, extra ...any) (orgs.Membership, error) {
	var m orgs.Membership
	err := row.Scan(append([]any{&m.OrgID, &m.UserID, &m.Role, &m.Grant, msDest{&m.JoinedAt}, &m.Email, &m.Name}, extra...)...)
	return m, err
}

func membership(ctx context.Context, e execer, orgID, userID string) (orgs.Membership, error) {
	m, err := scanMember(e.queryRow(ctx, `SELECT `+memberColumns+` FROM org_members m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ? AND m.user_id = ?`, orgID, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return m, notFound("The member")
	}
	return m, err
}

// Membership implements orgs.Store.
func (s *Store) Membership(ctx context.Context, orgID, userID string) (orgs.Membership, error) {
	return membership(ctx, s.reader(), orgID, userID)
}

// Members implements orgs.Store.
func (s *Store) Members(ctx context.Context, orgID string) ([]orgs.Membership, error) {
	return queryAll(ctx, s.reader(), []orgs.Membership{}, func(r scanner) (orgs.Membership, error) { return scanMember(r) },
		`SELECT `+memberColumns+` FROM org_members m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ? ORDER BY m.joined_at, m.user_id`, orgID)
}

func scanRole(row scanner) (orgs.Role, error) {
	var r orgs.Role
	var perms string
	err := row.Scan(&r.Name, &perms, msDest{&r.CreatedAt})
	r.Permissions = strings.Fields(perms)
	return r, err
}

// CustomRoles implements orgs.Store.
func (s *Store) CustomRoles(ctx context.Context, orgID string) ([]orgs.Role, error) {
	return queryAll(ctx, s.reader(), []orgs.Role{}, scanRole, `SELECT name, permissions, created_at FROM org_roles WHERE org_id = ? ORDER BY name`, orgID)
}

const invitationColumns = `id, org_id, email, role, hash, invited_by, created_at, expires_at, accepted_at, revoked_at`

func scanInvitation(row scanner) (orgs.Invitation, error) {
	var inv orgs.Invitation
	var accepted, revoked sql.NullInt64
	err := row.Scan(&inv.ID, &inv.OrgID, &inv.Email, &inv.Role, &inv.Hash, &inv.InvitedBy,
		msDest{&inv.CreatedAt}, msDest{&inv.ExpiresAt}, &accepted, &revoked)
	inv.AcceptedAt, inv.RevokedAt = fromNullMS(accepted), fromNullMS(revoked)
	return inv, err
}

// Invitations implements orgs.Store.
func (s *Store) Invitations(ctx context.Context, orgID string) ([]orgs.Invitation, error) {
	return queryAll(ctx, s.reader(), []orgs.Invitation{}, scanInvitation, `SELECT `+invitationColumns+` FROM org_invitations
		WHERE org_id = ? AND accepted_at IS NULL AND revoked_at IS NULL ORDER BY created_at DESC, id`, orgID)
}

// InvitationByHash implements orgs.Store.
func (s *Store) InvitationByHash(ctx context.Context, hash string) (orgs.Invitation, error) {
	inv, err := scanInvitation(s.reader().queryRow(ctx, `SELECT `+invitationColumns+` FROM org_invitations WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return inv, notFound("The invitation")
	}
	return inv, err
}

// SessionMembership implements orgs.Store: one statement, so the role,
// its permissions and the grant are of one moment.
func (s *Store) SessionMembership(ctx context.Context, sessionID, userID string) (orgs.Membership, []string, error) {
	var perms sql.NullString
	m, err := scanMember(s.reader().queryRow(ctx, `SELECT `+memberColumns+`, r.permissions FROM session_orgs so
		JOIN org_members m ON m.org_id = so.org_id AND m.user_id = ?
		JOIN users u ON u.id = m.user_id
		LEFT JOIN org_roles r ON r.org_id = m.org_id AND r.name = m.role
		WHERE so.session_id = ?`, userID, sessionID), &perms)
	if errors.Is(err, sql.ErrNoRows) {
		return m, nil, notFound("The membership")
	}
	return m, strings.Fields(perms.String), err
}

// EnterOrg implements orgs.Store: the session's row is written only if the
// user is a member, in one statement.
func (s *Store) EnterOrg(ctx context.Context, sessionID, userID, orgID string) error {
	return s.inTx(ctx, func(e execer) error {
		if _, err := e.exec(ctx, `DELETE FROM session_orgs WHERE session_id = ?`, sessionID); err != nil {
			return err
		}
		res, err := e.exec(ctx, `INSERT INTO session_orgs (session_id, org_id)
			SELECT s.id, m.org_id FROM sessions s JOIN org_members m ON m.user_id = s.user_id
			WHERE s.id = ? AND s.user_id = ? AND m.org_id = ?`, sessionID, userID, orgID)
		return affectedOne(res, err, "The organization")
	})
}

// Edit implements orgs.Store.
func (s *Store) Edit(ctx context.Context, orgID string, now, liveUntil time.Time, f func(orgs.Tx) error) ([]string, error) {
	var revoked []string
	err := s.inTx(ctx, func(e execer) error {
		revoked = nil
		var id string
		err := e.queryRow(ctx, `SELECT o.id FROM orgs o WHERE o.id = ?`+s.lockRows("o"), orgID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("The organization")
		} else if err != nil {
			return err
		}
		return f(&orgTx{s: s, e: e, orgID: orgID, now: now, liveUntil: liveUntil, revoked: &revoked})
	})
	if err != nil {
		return nil, err
	}
	return revoked, nil
}

// orgTx is an organization's edit (orgs.Tx).
type orgTx struct {
	s         *Store
	e         execer
	orgID     string
	now       time.Time // the edit's
	liveUntil time.Time
	revoked   *[]string
}

// revoke adds grant to the change feed, as an ended session's id: every
// instance and remote guard then refuses tokens carrying it.
func (t *orgTx) revoke(grant string) {
	t.e.logChange("session", grant, t.liveUntil)
	*t.revoked = append(*t.revoked, grant)
}

func (t *orgTx) Membership(ctx context.Context, userID string) (orgs.Membership, error) {
	return membership(ctx, t.e, t.orgID, userID)
}

func (t *orgTx) MemberByEmail(ctx context.Context, email string) (orgs.Membership, error) {
	m, err := scanMember(t.e.queryRow(ctx, `SELECT `+memberColumns+` FROM org_members m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ? AND lower(u.email) = ?`, t.orgID, email))
	if errors.Is(err, sql.ErrNoRows) {
		return m, notFound("The member")
	}
	return m, err
}

func (t *orgTx) CustomRole(ctx context.Context, name string) (orgs.Role, error) {
	r, err := scanRole(t.e.queryRow(ctx, `SELECT name, permissions, created_at FROM org_roles WHERE org_id = ? AND name = ?`, t.orgID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("The role")
	}
	return r, err
}

func (t *orgTx) Owners(ctx context.Context) (int, error) {
	var n int
	err := t.e.queryRow(ctx, `SELECT COUNT(*) FROM org_members WHERE org_id = ? AND role = 'owner'`, t.orgID).Scan(&n)
	return n, err
}

func (t *orgTx) AddMember(ctx context.Context, m orgs.Membership) error {
	m.OrgID = t.orgID
	return addMember(ctx, t.e, m)
}

func (t *orgTx) SetRole(ctx context.Context, userID, role, grant string) error {
	m, err := t.Membership(ctx, userID)
	if err != nil {
		return err
	}
	if _, err := t.e.exec(ctx, `UPDATE org_members SET role = ?, grant_id = ? WHERE org_id = ? AND user_id = ?`,
		role, grant, t.orgID, userID); err != nil {
		return err
	}
	t.revoke(m.Grant)
	if err := t.dropInvitationsBy(ctx, userID); err != nil {
		return err
	}
	return t.emitMember(ctx, events.OrgRoleChanged, userID, role)
}

func (t *orgTx) RemoveMember(ctx context.Context, userID string) error {
	m, err := t.Membership(ctx, userID)
	if err != nil {
		return err
	}
	if _, err := t.e.exec(ctx, `DELETE FROM org_members WHERE org_id = ? AND user_id = ?`, t.orgID, userID); err != nil {
		return err
	}
	if _, err := t.e.exec(ctx, `DELETE FROM session_orgs WHERE org_id = ?
		AND session_id IN (SELECT id FROM sessions WHERE user_id = ?)`, t.orgID, userID); err != nil {
		return err
	}
	t.revoke(m.Grant)
	if err := t.dropInvitationsBy(ctx, userID); err != nil {
		return err
	}
	return t.emitMember(ctx, events.OrgMemberRemoved, userID, "")
}

// dropInvitationsBy revokes the open invitations userID sent: an invitation
// carries its sender's authority, which a removal or a role change ends (a
// removed owner's invitation to an owner would otherwise bring it back).
func (t *orgTx) dropInvitationsBy(ctx context.Context, userID string) error {
	_, err := t.e.exec(ctx, `UPDATE org_invitations SET revoked_at = ?
		WHERE org_id = ? AND invited_by = ? AND accepted_at IS NULL AND revoked_at IS NULL`, ms(t.now), t.orgID, userID)
	return err
}

func (t *orgTx) UpdateOrg(ctx context.Context, name, slug string) error {
	_, err := t.e.exec(ctx, `UPDATE orgs SET name = ?, slug = ? WHERE id = ?`, name, slug, t.orgID)
	if isUniqueViolation(err) {
		return auth.Errorf(auth.CodeAlreadyExists, "The slug is taken.")
	}
	return err
}

func (t *orgTx) DeleteOrg(ctx context.Context) error {
	type member struct{ grantID, userID string }
	scanGrantAndUser := func(r scanner) (member, error) {
		var m member
		err := r.Scan(&m.grantID, &m.userID)
		return m, err
	}
	members, err := queryAll(ctx, t.e, nil, scanGrantAndUser, `SELECT grant_id, user_id FROM org_members WHERE org_id = ?`, t.orgID)
	if err != nil {
		return err
	}
	for _, q := range []string{
		`DELETE FROM books WHERE org_id = ?`,
		`DELETE FROM session_orgs WHERE org_id = ?`,
		`DELETE FROM org_invitations WHERE org_id = ?`,
		`DELETE FROM org_members WHERE org_id = ?`,
		`DELETE FROM org_roles WHERE org_id = ?`,
		`DELETE FROM orgs WHERE id = ?`,
	} {
		if _, err := t.e.exec(ctx, q, t.orgID); err != nil {
			return err
		}
	}
	for _, m := range members {
		t.revoke(m.grantID)
	}
	for _, m := range members { // the organization's end is each member's removal
		if err := t.emitMember(ctx, events.OrgMemberRemoved, m.userID, ""); err != nil {
			return err
		}
	}
	return nil
}

func (t *orgTx) AddRole(ctx context.Context, r orgs.Role) error {
	_, err := t.e.exec(ctx, `INSERT INTO org_roles (org_id, name, permissions, created_at) VALUES (?, ?, ?, ?)`,
		t.orgID, r.Name, strings.Join(r.Permissions, " "), ms(r.CreatedAt))
	if isUniqueViolation(err) {
		return auth.Errorf(auth.CodeAlreadyExists, "The role exists.")
	}
	return err
}

func (t *orgTx) PutInvitation(ctx context.Context, inv orgs.Invitation, mails []outbox.Message) error {
	if _, err := t.e.exec(ctx, `UPDATE org_invitations SET revoked_at = ?
		WHERE org_id = ? AND email = ? AND accepted_at IS NULL AND revoked_at IS NULL`, ms(inv.CreatedAt), t.orgID, inv.Email); err != nil {
		return err
	}
	if _, err := t.e.exec(ctx, `INSERT INTO org_invitations (id, org_id, email, role, hash, invited_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, inv.ID, t.orgID, inv.Email, inv.Role, inv.Hash, inv.InvitedBy,
		ms(inv.CreatedAt), ms(inv.ExpiresAt)); err != nil {
		return err
	}
	return t.s.enqueueMail(ctx, t.e, inv.CreatedAt, mails)
}

func (t *orgTx) Invitation(ctx context.Context, id string) (orgs.Invitation, error) {
	inv, err := scanInvitation(t.e.queryRow(ctx, `SELECT `+invitationColumns+` FROM org_invitations WHERE org_id = ? AND id = ?`, t.orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return inv, notFound("The invitation")
	}
	return inv, err
}

func (t *orgTx) OpenInvitationTo(ctx context.Context, email string) (orgs.Invitation, error) {
	inv, err := scanInvitation(t.e.queryRow(ctx, `SELECT `+invitationColumns+` FROM org_invitations
		WHERE org_id = ? AND email = ? AND accepted_at IS NULL AND revoked_at IS NULL`, t.orgID, email))
	if errors.Is(err, sql.ErrNoRows) {
		return inv, notFound("The invitation")
	}
	return inv, err
}

func (t *orgTx) RevokeInvitation(ctx context.Context, id string, now time.Time) error {
	res, err := t.e.exec(ctx, `UPDATE org_invitations SET revoked_at = ?
		WHERE org_id = ? AND id = ? AND accepted_at IS NULL AND revoked_at IS NULL`, ms(now), t.orgID, id)
	return affectedOne(res, err, "The invitation")
}

func (t *orgTx) AcceptInvitation(ctx context.Context, id, userID string, now time.Time) error {
	res, err := t.e.exec(ctx, `UPDATE org_invitations SET accepted_at = ?, accepted_by = ?
		WHERE org_id = ? AND id = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
		ms(now), userID, t.orgID, id, ms(now))
	return affectedOne(res, err, "The invitation")
}
