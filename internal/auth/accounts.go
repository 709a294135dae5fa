package auth

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/google/uuid"
)

// Accounts are the users: register, import, profile, delete, the admin's
// rules, and the audit log (accounts.go, audit.go).
type Accounts struct {
	*core
	store    accountsStore
	hasher   Hasher
	checks   *Checks
	recovery *Recovery // the verification mail a sign-up sends
}

// RegisterInput is a sign-up.
type RegisterInput struct {
	Email, Username, Name, Password string
}

// Register creates a user with the "user" role.
func (s *Accounts) Register(ctx context.Context, in RegisterInput) (User, error) {
	u, err := s.CreateUser(ctx, in, RoleUser)
	if err == nil {
		s.recovery.sendSignupVerification(ctx, u) // recovery.go
	}
	return u, err
}

// CreateUser creates a user with the given role. Only the command line may
// ask for RoleAdmin; the HTTP API always goes through Register.
func (s *Accounts) CreateUser(ctx context.Context, in RegisterInput, role string) (User, error) {
	u, err := newUser(in.Email, in.Username, in.Name, role)
	if err != nil {
		return User{}, err
	}
	if err := password.CheckPolicy(in.Password, u.Email, u.Username); err != nil {
		return User{}, Errorf(CodeWeakPassword, "%s", err.Error())
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return User{}, hashError(err)
	}
	u.ID = newID()
	u.CreatedAt = s.cfg.Now().UTC().Truncate(time.Millisecond)
	if err := s.store.CreateUser(ctx, u, hash); err != nil {
		return User{}, fmt.Errorf("register: %w", err)
	}
	s.audit(ctx, EventRegistered, u.ID, "role "+u.Role)
	return u, nil
}

// ImportInput is a user brought over from another system with its password
// hash (see password.Recognized for the formats understood).
type ImportInput struct {
	Email, Username, Name, PasswordHash string
	Admin, Disabled                     bool
}

// ImportUser creates a user from another system, keeping its password hash;
// the first successful login replaces it with argon2id. A user whose email
// or username exists already is already_exists, so importing twice changes
// nothing.
func (s *Accounts) ImportUser(ctx context.Context, in ImportInput) (User, error) {
	role := RoleUser
	if in.Admin {
		role = RoleAdmin
	}
	u, err := newUser(in.Email, in.Username, in.Name, role)
	if err != nil {
		return User{}, err
	}
	u.Disabled = in.Disabled
	if !password.Recognized(in.PasswordHash) {
		return User{}, Errorf(CodeInvalidRequest, "The password hash format is not supported.")
	}
	u.ID = newID()
	u.CreatedAt = s.now()
	if err := s.store.CreateUser(ctx, u, in.PasswordHash); err != nil {
		return User{}, err
	}
	if u.Disabled {
		if _, _, err := s.store.UpdateUser(ctx, u.ID, UserUpdate{Disabled: &u.Disabled}, u.CreatedAt); err != nil {
			return User{}, err
		}
	}
	s.checks.noteHash(ctx, in.PasswordHash) // the check floor covers its scheme before its first login
	s.audit(ctx, EventUserImported, u.ID, "role "+u.Role)
	return u, nil
}

// newUser validates and canonicalises a new user's identity (at least an
// email or a username) and name; the id and time are set when it is stored.
func newUser(email, username, name, role string) (User, error) {
	u := User{Role: role}
	var err error
	if email == "" && username == "" {
		return User{}, Errorf(CodeInvalidRequest, "An email or a username is required.")
	}
	if email != "" {
		if u.Email, err = CanonicalEmail(email); err != nil {
			return User{}, err
		}
	}
	if username != "" {
		if u.Username, err = ValidUsername(username); err != nil {
			return User{}, err
		}
	}
	if u.Name, err = CleanName(name); err != nil {
		return User{}, err
	}
	return u, nil
}

// ChangePasswordInput is a signed-in user's password change.
type ChangePasswordInput struct {
	UserID, SessionID string // the caller's, from its access token
	Current, New      string
	Client            Client
}

// DeleteAccount deletes the caller's own account: its session must have
// signed in recently (requireRecentAuth), and its password is checked
// through the guarded path.
func (s *Accounts) DeleteAccount(ctx context.Context, userID, sessionID, pw string, c Client) error {
	if err := s.requireRecentAuth(ctx, sessionID); err != nil {
		return err
	}
	if _, err := s.checks.confirmPassword(ctx, CheckAccountDeletion, userID, pw, c); err != nil {
		return err
	}
	if err := s.deleteUser(ctx, userID); err != nil {
		return err
	}
	s.audit(ctx, EventAccountDeleted, userID, "")
	return nil
}

// User returns a user by id, from memory when it can.
func (s *Accounts) User(ctx context.Context, id string) (User, error) {
	if u, ok := s.users.get(id); ok {
		return u, nil
	}
	u, err := s.store.User(ctx, id)
	if err == nil {
		s.users.put(u)
	}
	return u, err
}

// UpdateProfile changes what a user may change about themselves: the name.
func (s *Accounts) UpdateProfile(ctx context.Context, id string, name *string) (User, error) {
	upd := UserUpdate{}
	if name != nil {
		clean, err := CleanName(*name)
		if err != nil {
			return User{}, err
		}
		upd.Name = &clean
	}
	u, _, err := s.store.UpdateUser(ctx, id, upd, s.now())
	s.changedUser(ctx, id)
	return u, err
}

// ListUsers returns a page of users and the cursor of the next page ("" at the end).
func (s *Accounts) ListUsers(ctx context.Context, q UserQuery) ([]User, string, error) {
	if len(q.Prefix) > 254 {
		return nil, "", Errorf(CodeInvalidRequest, "The search prefix is too long.")
	}
	if q.Limit < 1 || q.Limit > 200 {
		return nil, "", Errorf(CodeInvalidRequest, "The limit must be from 1 to 200.")
	}
	f := UserFilter{Prefix: strings.ToLower(strings.TrimSpace(q.Prefix)), Limit: q.Limit + 1} // one more tells whether a next page exists
	if q.Cursor != "" {
		id, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || uuid.Validate(string(id)) != nil {
			return nil, "", Errorf(CodeInvalidRequest, "The cursor is not valid.")
		}
		f.After = string(id)
	}
	users, err := s.store.ListUsers(ctx, f)
	if err != nil {
		return nil, "", err
	}
	if len(users) > q.Limit {
		users = users[:q.Limit]
		return users, base64.RawURLEncoding.EncodeToString([]byte(users[q.Limit-1].ID)), nil
	}
	return users, "", nil
}

// AdminUpdate is actorID (an administrator's user id, or "cli" for the
// command line) changing user id's role or disabled flag; either change ends
// every session of that user at once. Nothing to change is no change. It is
// the one place of the self-change rule: an administrator may not change
// their own role or disable themselves (the last admin could lock everyone
// out, and the change would end the very session asking for it).
func (s *Accounts) AdminUpdate(ctx context.Context, actorID, id string, role *string, disabled *bool) (User, error) {
	if role != nil && *role != RoleUser && *role != RoleAdmin {
		return User{}, Errorf(CodeInvalidRequest, "The role must be \"user\" or \"admin\".")
	}
	if role == nil && disabled == nil {
		return s.User(ctx, id)
	}
	if err := checkNotSelf(actorID, id, errSelfUpdate); err != nil {
		return User{}, err
	}
	// A key never changes a role: a leaked users:write key must not make
	// its holder's accounts administrators.
	if role != nil && APIKeyOf(ctx) != "" {
		return User{}, errRoleByKey
	}
	ctx = WithActor(ctx, actorID)
	now := s.now()
	upd := UserUpdate{Role: role, Disabled: disabled, EndSessions: true, LiveUntil: s.liveUntil(now)}
	u, ended, err := s.store.UpdateUser(ctx, id, upd, now)
	s.changedUser(ctx, id)
	if err != nil {
		return User{}, err
	}
	s.ended(ctx, now, ended...)
	var changes []string
	if role != nil {
		changes = append(changes, "role "+*role)
	}
	if disabled != nil {
		changes = append(changes, fmt.Sprintf("disabled %t", *disabled))
	}
	s.audit(ctx, EventAdminUpdate, id, strings.Join(changes, ", ")+fmt.Sprintf("; %d sessions ended", len(ended)))
	return u, nil
}

var (
	errRoleByKey  = Errorf(CodeForbidden, "An API key cannot change a role; sign in instead.")
	errSelfUpdate = Errorf(CodeForbidden, "Administrators cannot change their own role or disable their own account; another administrator or the command line can.")
	errSelfDelete = Errorf(CodeForbidden, "Administrators cannot delete their own account here; another administrator can.")
)

// checkNotSelf refuses an administrator acting on their own account.
func checkNotSelf(actorID, id string, refusal error) error {
	if actorID != "" && actorID == id {
		return refusal
	}
	return nil
}

// DeleteUser is actorID (an administrator) removing user id and everything
// it owns, ending its sessions. Administrators cannot delete themselves.
func (s *Accounts) DeleteUser(ctx context.Context, actorID, id string) error {
	if err := checkNotSelf(actorID, id, errSelfDelete); err != nil {
		return err
	}
	ctx = WithActor(ctx, actorID)
	if err := s.deleteUser(ctx, id); err != nil {
		return err
	}
	s.audit(ctx, EventAdminDelete, id, "")
	return nil
}

func (s *Accounts) deleteUser(ctx context.Context, id string) error {
	defer s.changedUser(ctx, id)
	now := s.now()
	ended, err := s.store.DeleteUser(ctx, id, now, s.liveUntil(now))
	if err != nil {
		return err
	}
	s.ended(ctx, now, ended...)
	return nil
}
