package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Hasher hashes and verifies passwords (internal/password.Hasher).
type Hasher interface {
	Hash(ctx context.Context, password string) (string, error)
	Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error)
	VerifyDummy(ctx context.Context, password string) error
}

// Signer signs access tokens (internal/token.KeyRing).
type Signer interface {
	Sign(c *guard.Claims) (string, error)
}

// Lockout counts failed logins per account (internal/ratelimit).
type Lockout interface {
	Locked(ctx context.Context, key string) (time.Duration, error)
	Fail(ctx context.Context, key string) (time.Duration, error)
	Succeed(ctx context.Context, key string) error
}

// Config holds the Service's lifetimes and identity.
type Config struct {
	Issuer      string
	Audience    string
	AccessTTL   time.Duration
	RefreshTTL  time.Duration
	ReuseGrace  time.Duration // a spent refresh token replayed within it returns the same successor
	MaxAge      time.Duration // absolute session lifetime
	IdleTimeout time.Duration // a session unused (not refreshed) this long ends
	Now         func() time.Time
}

// Service is Gatehouse's use cases: register, log in, refresh, log out, and
// the user management around them.
type Service struct {
	store       Store
	hasher      Hasher
	signer      Signer
	revocations *Revocations
	lockout     Lockout
	count       func(event string)
	fanout      Fanout
	users       *userCache
	cfg         Config
	log         *slog.Logger

	revMu     sync.Mutex // serialises SyncChanges
	revCursor time.Time  // how far the change feed has been read
}

// Fanout tells other instances at once what this one changed: sessions
// ended and users changed (Redis pub/sub). It is a shortcut: the database's
// change feed (SyncChanges) remains the guarantee.
type Fanout interface {
	SessionsEnded(ctx context.Context, until time.Time, sessionIDs []string)
	UsersChanged(ctx context.Context, userIDs []string)
}

// Deps are a Service's collaborators. Signer may be nil where no token is
// issued (the command line); Lockout nil means no account lockout.
type Deps struct {
	Store       Store
	Hasher      Hasher
	Signer      Signer
	Revocations *Revocations // receives every session the Service ends
	Lockout     Lockout
	Log         *slog.Logger
	// Count is told each authentication outcome by name (metrics); optional.
	Count func(event string)
	// Fanout spreads this instance's changes to the others; optional.
	Fanout Fanout
}

// NewService wires a Service.
func NewService(cfg Config, d Deps) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Count == nil {
		d.Count = func(string) {}
	}
	return &Service{store: d.Store, hasher: d.Hasher, signer: d.Signer, revocations: d.Revocations,
		lockout: d.Lockout, count: d.Count, fanout: d.Fanout, users: newUserCache(100_000), cfg: cfg, log: d.Log}
}

// Tokens is a login's or refresh's answer.
type Tokens struct {
	AccessToken      string
	ExpiresIn        time.Duration
	RefreshToken     string
	RefreshExpiresIn time.Duration
	SessionID        string
	User             User
}

// Client describes who is calling, for the sessions list.
type Client struct {
	UserAgent string
	IP        string
}

// RegisterInput is a sign-up.
type RegisterInput struct {
	Email, Username, Name, Password string
}

// Register creates a user with the "user" role.
func (s *Service) Register(ctx context.Context, in RegisterInput) (User, error) {
	return s.CreateUser(ctx, in, RoleUser)
}

// CreateUser creates a user with the given role. Only the command line may
// ask for RoleAdmin; the HTTP API always goes through Register.
func (s *Service) CreateUser(ctx context.Context, in RegisterInput, role string) (User, error) {
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
func (s *Service) ImportUser(ctx context.Context, in ImportInput) (User, error) {
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

// LoginInput is a login attempt.
type LoginInput struct {
	Identifier string // email or username
	Password   string
	Client     Client
}

// Login checks credentials and starts a session. Unknown user, wrong password
// and disabled account all cost one hash and give the same error; a locked
// account (or unknown name) is refused before any hashing, the same way.
func (s *Service) Login(ctx context.Context, in LoginInput) (*Tokens, error) {
	ident := CanonicalIdentifier(in.Identifier)
	if ident == "" || in.Password == "" || len(in.Password) > password.MaxBytes || len(ident) > 254 {
		return nil, errInvalidCredentials
	}
	user, hash, err := s.store.UserCredentials(ctx, ident)
	known := err == nil
	if err != nil && ErrorCode(err) != CodeNotFound {
		return nil, fmt.Errorf("login: %w", err)
	}
	// Failures count per account, whichever of its email or username was
	// typed; unknown names count under the name itself.
	lockKey := "name:" + ident
	if known {
		lockKey = "user:" + user.ID
	}
	if err := s.checkLock(ctx, lockKey); err != nil {
		return nil, err
	}
	ok := false
	if known {
		var rehash bool
		if ok, rehash, err = s.hasher.Verify(ctx, in.Password, hash); err != nil {
			return nil, hashError(err)
		}
		if ok && rehash {
			s.upgradeHash(ctx, user.ID, in.Password)
		}
	} else if err := s.hasher.VerifyDummy(ctx, in.Password); err != nil {
		return nil, hashError(err)
	}
	if !ok || user.Disabled {
		reason := "unknown account"
		switch {
		case known && !ok:
			reason = "wrong password"
		case known:
			reason = "disabled account"
		}
		s.audit(ctx, EventLoginFailed, user.ID, reason)
		s.recordFailure(ctx, lockKey, user.ID)
		return nil, errInvalidCredentials
	}
	if s.lockout != nil {
		_ = s.lockout.Succeed(ctx, lockKey)
	}
	tokens, err := s.startSession(ctx, user, in.Client)
	if err == nil {
		s.audit(ctx, EventLoginSucceeded, user.ID, "session "+tokens.SessionID)
	}
	return tokens, err
}

// checkLock refuses a login while its account is locked. A failing lockout
// store is logged and ignored: the limits per address still apply.
func (s *Service) checkLock(ctx context.Context, key string) error {
	if s.lockout == nil {
		return nil
	}
	d, err := s.lockout.Locked(ctx, key)
	if err != nil {
		s.log.Warn("lockout check failed", "err", err)
		return nil
	}
	if d > 0 {
		return tooManyAttempts(d)
	}
	return nil
}

func (s *Service) recordFailure(ctx context.Context, key, userID string) {
	if s.lockout == nil {
		return
	}
	d, err := s.lockout.Fail(ctx, key)
	if err != nil {
		s.log.Warn("lockout record failed", "err", err)
	} else if d > 0 {
		s.log.Warn("security: login locked after repeated failures", "user", userID, "lock", d.String())
		s.audit(ctx, EventAccountLocked, userID, "locked for "+d.String())
	}
}

// tooManyAttempts is the one answer for a locked account, known or not.
func tooManyAttempts(d time.Duration) error {
	return &Error{Code: CodeTooManyRequests, Message: "Too many failed attempts; wait before trying again.", RetryAfter: d}
}

// upgradeHash replaces a hash made with older parameters. A failure is
// logged, not fatal: the old hash still verifies.
func (s *Service) upgradeHash(ctx context.Context, userID, pw string) {
	hash, err := s.hasher.Hash(ctx, pw)
	if err == nil {
		err = s.store.SetPasswordHash(ctx, userID, hash)
	}
	if err != nil {
		s.log.Warn("password rehash failed", "user", userID, "err", err)
	}
}

func (s *Service) startSession(ctx context.Context, u User, c Client) (*Tokens, error) {
	now := s.now()
	sess := Session{
		ID: newID(), UserID: u.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(s.cfg.MaxAge),
		UserAgent: truncate(c.UserAgent, 512), IP: c.IP,
	}
	raw, rt := s.newRefreshToken(sess, now)
	if err := s.store.CreateSession(ctx, sess, rt); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	return s.tokens(u, sess, raw, rt, now)
}

// Refresh rotates a refresh token. A spent token replayed within the grace
// window gets the same successor; outside it, the session is revoked.
func (s *Service) Refresh(ctx context.Context, raw string) (_ *Tokens, err error) {
	defer func() {
		if err != nil {
			s.count("refresh_failed")
		} else {
			s.count("refresh_succeeded")
		}
	}()
	if raw == "" || len(raw) > 256 {
		return nil, errInvalidGrant
	}
	var out *Tokens
	var reusedSession, reusedBy string
	err = s.store.Rotate(ctx, hashToken(raw), func(st RefreshState) (Rotation, error) {
		now := s.now()
		sess, user := st.Session, st.User
		switch {
		case !sess.RevokedAt.IsZero(), user.Disabled,
			!now.Before(sess.ExpiresAt), !now.Before(sess.LastUsedAt.Add(s.cfg.IdleTimeout)):
			return Rotation{}, errInvalidGrant
		case !st.Token.SpentAt.IsZero():
			successor, err := openSuccessor(raw, st.Token.Successor)
			if err != nil || now.Sub(st.Token.SpentAt) > s.cfg.ReuseGrace {
				reusedSession, reusedBy = sess.ID, user.ID
				return Rotation{Revoke: true, LiveUntil: s.liveUntil(now), Now: now}, nil
			}
			// A racing tab or a lost response: hand out the same successor.
			out, err = s.tokens(user, sess, successor, RefreshToken{ExpiresAt: now.Add(s.cfg.RefreshTTL)}, now)
			return Rotation{}, err
		case !now.Before(st.Token.ExpiresAt):
			return Rotation{}, errInvalidGrant
		}
		next, rt := s.newRefreshToken(sess, now)
		sealed, err := sealSuccessor(raw, next)
		if err != nil {
			return Rotation{}, err
		}
		if out, err = s.tokens(user, sess, next, rt, now); err != nil {
			return Rotation{}, err
		}
		return Rotation{Successor: &rt, SealedSuccessor: sealed, Now: now}, nil
	})
	if ErrorCode(err) == CodeNotFound {
		return nil, errInvalidGrant
	}
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	if reusedSession != "" {
		s.ended(ctx, s.now(), reusedSession)
		s.log.Warn("security: refresh token reuse detected; session revoked", "session", reusedSession)
		s.audit(ctx, EventRefreshReuse, reusedBy, "session "+reusedSession+" revoked")
		return nil, errInvalidGrant
	}
	return out, nil
}

// LogoutInput says which sessions to end: the one of SessionID, or with All
// every session of UserID.
type LogoutInput struct {
	SessionID string
	UserID    string
	All       bool
}

// Logout ends sessions. Their access tokens stop working at once here, and
// on other instances through the revocation log.
func (s *Service) Logout(ctx context.Context, in LogoutInput) error {
	f, detail := SessionFilter{SessionID: in.SessionID}, "session "+in.SessionID
	if in.All {
		f, detail = SessionFilter{UserID: in.UserID}, "all sessions"
	}
	if err := s.revoke(ctx, f); err != nil {
		return err
	}
	s.audit(ctx, EventLogout, in.UserID, detail)
	return nil
}

// LogoutRefresh ends the session of a refresh token (the web UI's cookie).
func (s *Service) LogoutRefresh(ctx context.Context, raw string, all bool) error {
	sess, err := s.store.SessionByRefresh(ctx, hashToken(raw))
	if ErrorCode(err) == CodeNotFound {
		return errInvalidGrant
	} else if err != nil {
		return err
	}
	return s.Logout(ctx, LogoutInput{SessionID: sess.ID, UserID: sess.UserID, All: all})
}

func (s *Service) revoke(ctx context.Context, f SessionFilter) error {
	now := s.now()
	ids, err := s.store.RevokeSessions(ctx, f, now, s.liveUntil(now))
	if err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	s.ended(ctx, now, ids...)
	return nil
}

// revocationOverlap is how far before its cursor each read of the
// revocation log looks. A revocation stamped at T can commit just after one
// stamped later (transactions queue for the writer); re-reading a few seconds
// costs little, since adding a session to the set twice changes nothing.
const revocationOverlap = 5 * time.Second

// RevocationsSince returns the logged revocations after cursor (less the
// overlap) whose access tokens may still be live, and the cursor for the
// next read: the time of this read. A zero cursor returns every such
// revocation. An entry is returned again by reads within the overlap after
// it; instances' clocks must agree to well within the overlap (NTP does).
func (s *Service) RevocationsSince(ctx context.Context, cursor time.Time) ([]Revocation, time.Time, error) {
	now := s.now()
	revs, err := s.store.RevokedSince(ctx, cursor.Add(-revocationOverlap), now)
	if err != nil {
		return nil, cursor, fmt.Errorf("read revocation log: %w", err)
	}
	return revs, now, nil
}

// SyncChanges reads what changed in the database since the last read: the
// revocation log, into the in-memory revocation set (at start, so a restart
// forgets no logout, then every poll, so a logout on another instance is
// seen here), and changed users, out of the user cache.
func (s *Service) SyncChanges(ctx context.Context) error {
	s.revMu.Lock()
	defer s.revMu.Unlock()
	revs, next, err := s.RevocationsSince(ctx, s.revCursor)
	if err != nil {
		return err
	}
	changed, err := s.store.UsersChangedSince(ctx, s.revCursor.Add(-revocationOverlap))
	if err != nil {
		return fmt.Errorf("read user changes: %w", err)
	}
	for _, r := range revs {
		s.revocations.Add(r.ExpiresAt, r.SessionID)
	}
	s.users.drop(changed...)
	s.revCursor = next
	return nil
}

// Sessions lists the user's live sessions: not revoked, not past their
// absolute end, not idle past the idle timeout.
func (s *Service) Sessions(ctx context.Context, userID string) ([]Session, error) {
	now := s.now()
	all, err := s.store.Sessions(ctx, userID, now)
	if err != nil {
		return nil, err
	}
	live := all[:0]
	for _, sess := range all {
		if now.Before(sess.LastUsedAt.Add(s.cfg.IdleTimeout)) {
			live = append(live, sess)
		}
	}
	return live, nil
}

// EndSession ends one of the user's own sessions; another user's session is
// not found.
func (s *Service) EndSession(ctx context.Context, userID, sessionID string) error {
	now := s.now()
	ended, err := s.store.RevokeSessions(ctx, SessionFilter{SessionID: sessionID, UserID: userID}, now, s.liveUntil(now))
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	if len(ended) == 0 {
		return Errorf(CodeNotFound, "The session was not found.")
	}
	s.ended(ctx, now, ended...)
	s.audit(ctx, EventSessionEnded, userID, "session "+sessionID)
	return nil
}

// EndOtherSessions ends every session of the user but the current one.
func (s *Service) EndOtherSessions(ctx context.Context, userID, currentSessionID string) error {
	now := s.now()
	ended, err := s.store.RevokeSessions(ctx, SessionFilter{UserID: userID, ExceptID: currentSessionID}, now, s.liveUntil(now))
	if err != nil {
		return fmt.Errorf("end other sessions: %w", err)
	}
	s.ended(ctx, now, ended...)
	s.audit(ctx, EventSessionEnded, userID, fmt.Sprintf("%d other sessions", len(ended)))
	return nil
}

// checkPassword verifies a signed-in user's password (for changing it or
// deleting the account). A wrong one is invalid_credentials.
func (s *Service) checkPassword(ctx context.Context, userID, pw string) (User, error) {
	if pw == "" || len(pw) > password.MaxBytes {
		return User{}, errInvalidCredentials
	}
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return User{}, err
	}
	hash, err := s.store.PasswordHash(ctx, userID)
	if err != nil {
		return User{}, err
	}
	ok, _, err := s.hasher.Verify(ctx, pw, hash)
	if err != nil {
		return User{}, hashError(err)
	}
	if !ok {
		return User{}, errInvalidCredentials
	}
	return u, nil
}

// ChangePassword checks the current password, sets the new one and ends
// every other session of the user. The caller's session goes on with new
// tokens: its earlier refresh tokens are spent, so one stolen under the old
// password is worthless too.
func (s *Service) ChangePassword(ctx context.Context, userID, sessionID, current, next string) (*Tokens, error) {
	u, err := s.checkPassword(ctx, userID, current)
	if err != nil {
		return nil, err
	}
	sess, err := s.store.Session(ctx, sessionID, userID)
	if err != nil {
		return nil, err
	}
	if err := password.CheckPolicy(next, u.Email, u.Username); err != nil {
		return nil, Errorf(CodeWeakPassword, "%s", err.Error())
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return nil, hashError(err)
	}
	now := s.now()
	raw, rt := s.newRefreshToken(sess, now)
	ended, err := s.store.ChangePassword(ctx, userID, hash, sess, rt, now, s.liveUntil(now))
	if err != nil {
		return nil, fmt.Errorf("change password: %w", err)
	}
	s.ended(ctx, now, ended...)
	s.audit(ctx, EventPasswordChange, userID, fmt.Sprintf("%d other sessions ended", len(ended)))
	return s.tokens(u, sess, raw, rt, now)
}

// DeleteAccount deletes the caller's own account after checking its password.
func (s *Service) DeleteAccount(ctx context.Context, userID, pw string) error {
	if _, err := s.checkPassword(ctx, userID, pw); err != nil {
		return err
	}
	if err := s.deleteUser(ctx, userID); err != nil {
		return err
	}
	s.audit(ctx, EventAccountDeleted, userID, "")
	return nil
}

// User returns a user by id, from memory when it can.
func (s *Service) User(ctx context.Context, id string) (User, error) {
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
func (s *Service) UpdateProfile(ctx context.Context, id string, name *string) (User, error) {
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
func (s *Service) ListUsers(ctx context.Context, f UserFilter) ([]User, string, error) {
	f.Prefix = strings.ToLower(strings.TrimSpace(f.Prefix))
	want := f.Limit
	f.Limit++ // one more tells whether a next page exists
	users, err := s.store.ListUsers(ctx, f)
	if err != nil {
		return nil, "", err
	}
	if len(users) > want {
		users = users[:want]
		return users, users[want-1].ID, nil
	}
	return users, "", nil
}

// AdminUpdate changes a user's role or disabled flag; either change ends
// every session of the user at once.
func (s *Service) AdminUpdate(ctx context.Context, id string, role *string, disabled *bool) (User, error) {
	if role != nil && *role != RoleUser && *role != RoleAdmin {
		return User{}, Errorf(CodeInvalidRequest, "The role must be \"user\" or \"admin\".")
	}
	now := s.now()
	upd := UserUpdate{Role: role, Disabled: disabled, EndSessions: role != nil || disabled != nil, LiveUntil: s.liveUntil(now)}
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

// DeleteUser removes a user and everything it owns, ending its sessions
// (an administrator's action).
func (s *Service) DeleteUser(ctx context.Context, id string) error {
	if err := s.deleteUser(ctx, id); err != nil {
		return err
	}
	s.audit(ctx, EventAdminDelete, id, "")
	return nil
}

func (s *Service) deleteUser(ctx context.Context, id string) error {
	defer s.changedUser(ctx, id)
	now := s.now()
	ended, err := s.store.DeleteUser(ctx, id, now, s.liveUntil(now))
	if err != nil {
		return err
	}
	s.ended(ctx, now, ended...)
	return nil
}

func (s *Service) tokens(u User, sess Session, rawRefresh string, rt RefreshToken, now time.Time) (*Tokens, error) {
	exp := now.Add(s.cfg.AccessTTL)
	access, err := s.signer.Sign(&guard.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.cfg.Issuer, Subject: u.ID, Audience: jwt.ClaimStrings{s.cfg.Audience},
			ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ID: newID(),
		},
		SessionID: sess.ID, Role: u.Role,
	})
	if err != nil {
		return nil, fmt.Errorf("sign access token: %w", err)
	}
	return &Tokens{
		AccessToken: access, ExpiresIn: s.cfg.AccessTTL,
		RefreshToken: rawRefresh, RefreshExpiresIn: rt.ExpiresAt.Sub(now),
		SessionID: sess.ID, User: u,
	}, nil
}

// newRefreshToken makes a 256-bit random token and its stored form; it
// never outlives its session.
func (s *Service) newRefreshToken(sess Session, now time.Time) (string, RefreshToken) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	raw := base64.RawURLEncoding.EncodeToString(b)
	exp := now.Add(s.cfg.RefreshTTL)
	if sess.ExpiresAt.Before(exp) {
		exp = sess.ExpiresAt
	}
	return raw, RefreshToken{Hash: hashToken(raw), SessionID: sess.ID, CreatedAt: now, ExpiresAt: exp}
}

// ended records sessions ended here: at once in this instance's memory, and
// through the fan-out in the others'.
func (s *Service) ended(ctx context.Context, now time.Time, sessionIDs ...string) {
	if len(sessionIDs) == 0 {
		return
	}
	until := s.liveUntil(now)
	s.revocations.Add(until, sessionIDs...)
	if s.fanout != nil {
		s.fanout.SessionsEnded(ctx, until, sessionIDs)
	}
}

// changedUser drops a user from this instance's cache and the others'.
func (s *Service) changedUser(ctx context.Context, id string) {
	s.users.drop(id)
	if s.fanout != nil {
		s.fanout.UsersChanged(ctx, []string{id})
	}
}

// SessionsEndedElsewhere applies another instance's fan-out message.
func (s *Service) SessionsEndedElsewhere(until time.Time, sessionIDs []string) {
	s.revocations.Add(until, sessionIDs...)
}

// UsersChangedElsewhere applies another instance's fan-out message.
func (s *Service) UsersChangedElsewhere(userIDs []string) { s.users.drop(userIDs...) }

// liveUntil is when an access token issued now expires, plus guard's leeway
// and a margin: how long a revocation must be remembered.
func (s *Service) liveUntil(now time.Time) time.Time {
	return now.Add(s.cfg.AccessTTL + time.Minute)
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

var errInvalidGrant = Errorf(CodeInvalidGrant, "The refresh token is not valid.")

func hashToken(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// sealSuccessor encrypts the successor of a refresh token under a key derived
// from that token, so only its holder can recover the successor within the
// grace window, while the database keeps no usable token.
func sealSuccessor(raw, successor string) ([]byte, error) {
	aead, err := successorAEAD(raw)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, []byte(successor), nil), nil
}

func openSuccessor(raw string, sealed []byte) (string, error) {
	aead, err := successorAEAD(raw)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("no sealed successor")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	return string(plain), err
}

func successorAEAD(raw string) (cipher.AEAD, error) {
	key := sha256.Sum256([]byte("gatehouse refresh successor\x00" + raw))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// hashError turns a hashing pool refusal into 503.
func hashError(err error) error {
	if errors.Is(err, password.ErrBusy) {
		return Errorf(CodeUnavailable, "The server is busy; try again shortly.")
	}
	return fmt.Errorf("password hash: %w", err)
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// truncate cuts s to at most n bytes without leaving half a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
