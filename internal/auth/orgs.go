package auth

import (
	"context"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/guard"
)

// OrgClaims are what an access token says of the organization its session
// acts in: the organization, the user's role and permissions there, and
// Grant, the id of the membership's current claims, which a removal or a
// change of role revokes through the change feed as an ended session's id
// is (guard refuses a token whose org_grant is revoked).
type OrgClaims struct {
	OrgID       string
	Role        string
	Permissions []string
	Grant       string
}

// OrgSessions is the organization each session acts in (internal/orgs
// implements it over its own store).
type OrgSessions interface {
	// SessionOrgClaims returns the claims of userID's membership in the
	// organization session sessionID acts in, as they are now: zero when it
	// acts in none, or userID is no longer a member.
	SessionOrgClaims(ctx context.Context, sessionID, userID string) (OrgClaims, error)
	// EnterOrg makes session sessionID act in orgID from now on: not_found
	// (and nothing changed) when userID is not a member of it.
	EnterOrg(ctx context.Context, sessionID, userID, orgID string) error
	// MemberRole is userID's role in orgID: not_found unless a member.
	MemberRole(ctx context.Context, orgID, userID string) (string, error)
}

// CheckInvitation is the check of an organization invitation's token
// (internal/orgs): bound to no account before the lookup, so no lockout (256
// random bits); the per-address limit, the audit and the floor apply.
const CheckInvitation CheckKind = "organization invitation"

// errNoOrg is an organization asked for that the user is not a member of
// (or that does not exist): not found, never forbidden.
var errNoOrg = Errorf(CodeNotFound, "The organization was not found.")

// orgClaims adds to claims those of the organization the session acts in
// (none for a client session: OpenID clients get them by scope).
func (s *issuer) orgClaims(ctx context.Context, claims *guard.Claims, sess Session) error {
	if s.orgs == nil || sess.ClientID != "" {
		return nil
	}
	oc, err := s.orgs.SessionOrgClaims(ctx, sess.ID, sess.UserID)
	if err != nil {
		return fmt.Errorf("organization claims: %w", err)
	}
	claims.OrgID, claims.OrgRole, claims.Permissions, claims.OrgGrant = oc.OrgID, oc.Role, oc.Permissions, oc.Grant
	return nil
}

func (s *issuer) checkMember(ctx context.Context, orgID, userID string) error {
	_, err := s.memberRole(ctx, orgID, userID)
	return err
}

// memberRole is userID's role in orgID (not_found unless a member).
func (s *issuer) memberRole(ctx context.Context, orgID, userID string) (string, error) {
	if s.orgs == nil {
		return "", errNoOrg
	}
	return s.orgs.MemberRole(ctx, orgID, userID)
}

// enterOrg makes sess act in orgID.
func (s *issuer) enterOrg(ctx context.Context, sess Session, orgID string) error {
	if s.orgs == nil {
		return errNoOrg
	}
	return s.orgs.EnterOrg(ctx, sess.ID, sess.UserID, orgID)
}

// RefreshInOrg is Refresh that also makes the session act in orgID from
// now on (API.md: POST /token/refresh {"refresh_token", "org_id"}): the
// membership is checked before the token is spent (not_found for an
// organization the user does not belong to, and the token stays usable),
// and the new access token carries the membership's claims as they are
// after the rotation (none, should the membership end in between). A
// first-party session only: a client's is invalid_grant.
func (s *Sessions) RefreshInOrg(ctx context.Context, raw, orgID string) (*Tokens, error) {
	if orgID == "" {
		return s.Refresh(ctx, raw)
	}
	rt, sess, err := s.RefreshTokenState(ctx, raw)
	if ErrorCode(err) == CodeNotFound || (err == nil && sess.ClientID != "") {
		return nil, errInvalidGrant
	} else if err != nil {
		return nil, err
	}
	if !rt.SpentAt.IsZero() {
		// A spent token goes straight to the rotation's reuse rules (the
		// grace's replay, or the session's end): asking for an
		// organization must not be a way around them, nor tell which
		// organizations the session's user is in.
		return s.refresh(ctx, raw, "", "", "")
	}
	if err := s.checkMember(ctx, orgID, sess.UserID); err != nil {
		return nil, err
	}
	return s.refresh(ctx, raw, "", "", orgID)
}
