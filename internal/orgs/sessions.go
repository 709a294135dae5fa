package orgs

import (
	"context"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/google/uuid"
)

// Sessions is the organization each session acts in, for the tokens auth
// issues (it implements auth.OrgSessions): claims are read from the
// membership as it is when each token is signed, so they are never wider
// than the membership at that moment.
type Sessions struct{ store Store }

// NewSessions returns the Sessions over st.
func NewSessions(st Store) *Sessions { return &Sessions{store: st} }

var _ auth.OrgSessions = (*Sessions)(nil)

// claimsOf are m's claims: a built-in role's permissions, or custom's (a
// custom role's, as stored).
func claimsOf(m Membership, custom []string) auth.OrgClaims {
	perms := custom
	if IsBuiltin(m.Role) {
		perms = builtinPermissions[m.Role]
	}
	return auth.OrgClaims{OrgID: m.OrgID, Role: m.Role, Permissions: append([]string{}, perms...), Grant: m.Grant}
}

// SessionOrgClaims implements auth.OrgSessions.
func (s *Sessions) SessionOrgClaims(ctx context.Context, sessionID, userID string) (auth.OrgClaims, error) {
	m, perms, err := s.store.SessionMembership(ctx, sessionID, userID)
	if auth.ErrorCode(err) == auth.CodeNotFound {
		return auth.OrgClaims{}, nil
	} else if err != nil {
		return auth.OrgClaims{}, err
	}
	return claimsOf(m, perms), nil
}

// EnterOrg implements auth.OrgSessions.
func (s *Sessions) EnterOrg(ctx context.Context, sessionID, userID, orgID string) error {
	if uuid.Validate(orgID) != nil {
		return errNotFound
	}
	err := s.store.EnterOrg(ctx, sessionID, userID, orgID)
	if auth.ErrorCode(err) == auth.CodeNotFound {
		return errNotFound
	}
	return err
}

// MemberRole implements auth.OrgSessions.
func (s *Sessions) MemberRole(ctx context.Context, orgID, userID string) (string, error) {
	if uuid.Validate(orgID) != nil {
		return "", errNotFound
	}
	m, err := s.store.Membership(ctx, orgID, userID)
	if auth.ErrorCode(err) == auth.CodeNotFound {
		return "", errNotFound
	}
	return m.Role, err
}

// OrgName is an organization's name (the consent page names the one it
// shares).
func (s *Sessions) OrgName(ctx context.Context, orgID string) (string, error) {
	o, err := s.store.Org(ctx, orgID)
	return o.Name, err
}
