package auth

import (
	"context"
	"errors"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Roles.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// User is an account. It carries no password material: the hash is read
// only by Store.UserCredentials, for login.
type User struct {
	ID        string
	Email     string // canonical (trimmed, lower-case); "" when none
	Username  string // as registered; compared case-insensitively; "" when none
	Name      string // "" when none
	Role      string
	Disabled  bool
	CreatedAt time.Time
	MFA       MFAStatus // the second factors the user has
	// EmailVerified says the user proved Email is theirs (a verification,
	// reset or email-change link mailed to it was used).
	EmailVerified bool
}

// Session is one login: the refresh tokens rotated from it share its ID, and
// so do the access tokens signed for it (their "sid" claim).
type Session struct {
	ID         string
	UserID     string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time // absolute end, whatever the refreshes
	UserAgent  string
	IP         string
	RevokedAt  time.Time // zero while the session lives
	// AMR is how the user authenticated in this session (RFC 8176 values:
	// pwd, otp, mfa...), AuthTime when they last proved it (a login or a
	// re-authentication). Every access token of the session carries both.
	AMR []string
	// A client's session (OpenID Connect): the client it serves, the scope
	// it was granted, the browser session that authorized it, and when the
	// user authenticated there. Empty for Gatehouse's own sessions.
	ClientID string
	Scope    string
	ParentID string
	AuthTime time.Time
}

// RefreshToken is a refresh token as stored: only its SHA-256.
type RefreshToken struct {
	Hash      string // hex SHA-256 of the token
	SessionID string
	CreatedAt time.Time
	ExpiresAt time.Time
	SpentAt   time.Time // zero until rotated
	Successor []byte    // the next token, sealed with a key only this token derives
	// AccessLiveUntil is when the access token issued with this one expires,
	// plus leeway; the store keeps, per session, the latest such time, and a
	// revocation of the session lasts until then.
	AccessLiveUntil time.Time
}

// RefreshKey finds a refresh token in the store: the session it names (a
// token is "<session id>.<secret>") and the hex SHA-256 of the whole token.
// The store compares the hash with the session's live token and its spent
// ones, so a token naming a real session with a made-up secret is not found
// and ends nothing.
type RefreshKey struct {
	SessionID string
	Hash      string
}

// RefreshState is what Store.Rotate reads, in one transaction, for a
// presented refresh token.
type RefreshState struct {
	Token   RefreshToken
	Session Session
	User    User
}

// Rotation is what to write in that same transaction.
type Rotation struct {
	Successor       *RefreshToken // insert it; mark the presented token spent, keeping SealedSuccessor
	SealedSuccessor []byte
	Revoke          bool      // end the session (reuse of a spent token)
	LiveUntil       time.Time // with Revoke: when its last access token expires
	Now             time.Time
	// AccessLiveUntil, when set, records an access token issued without a
	// new refresh token (a replay within the grace window), as
	// RefreshToken.AccessLiveUntil does.
	AccessLiveUntil time.Time
}

// SessionStart is a session to create for a login, with what the login saw
// of its user. If the user's password hash or role changed since, or the
// user was disabled, the store creates nothing and returns
// ErrCredentialsChanged.
type SessionStart struct {
	Session      Session
	Refresh      RefreshToken
	PasswordHash string // the hash the login verified
	Role         string // the role the session's tokens will carry
	// MaxLive caps the user's live first-party sessions (not revoked, not
	// past their end, used after IdleSince), the new one included; the least
	// recently used beyond it are revoked (with the client sessions they
	// authorized), remembered until LiveUntil. Client sessions have a cap of
	// their own (ClientSessionStart.MaxLive).
	MaxLive   int
	IdleSince time.Time
	LiveUntil time.Time
}

// ErrCredentialsChanged is Store.StartSession's refusal: the user changed
// under the login (its password, role or disabled state).
var ErrCredentialsChanged = errors.New("the user changed during the login")

// UserUpdate changes the non-nil fields of a user.
type UserUpdate struct {
	Name     *string
	Role     *string
	Disabled *bool
	// EndSessions revokes every live session of the user in the same
	// transaction; LiveUntil is when their last access tokens expire.
	EndSessions bool
	LiveUntil   time.Time
}

// UserFilter selects a page of users.
type UserFilter struct {
	Prefix string // of email or username, case-insensitive
	After  string // user id cursor: users with a greater id
	Limit  int
}

// SessionFilter selects sessions to revoke. Its set fields must all match:
// SessionID alone is one session, UserID alone every session of a user,
// both a session only if it belongs to that user. ExceptID is spared.
type SessionFilter struct {
	SessionID string
	UserID    string
	ExceptID  string
	ClientID  string // the sessions of one OpenID Connect client
}

// ClientSessionStart is a client's session to create for the exchange of an
// authorization code, in one transaction that spends the code (else
// ErrCodeSpent) and re-checks that the authorizing browser session
// (Session.ParentID) is live, the user enabled and the user's grant to the
// client still there (else ErrCredentialsChanged).
type ClientSessionStart struct {
	Session  Session
	Refresh  *RefreshToken // nil: no refresh token (no offline_access)
	CodeHash string
	// AccessLiveUntil is when the access token issued with the session
	// expires, plus leeway (as RefreshToken.AccessLiveUntil).
	AccessLiveUntil time.Time
	// MaxLive caps the user's live sessions of this client (as
	// SessionStart.MaxLive): the least recently used of them beyond it are
	// revoked; never a first-party session, nor another client's.
	MaxLive   int
	IdleSince time.Time
	LiveUntil time.Time
}

// ErrCodeSpent is Store.StartClientSession's refusal of a code already used.
var ErrCodeSpent = errors.New("the authorization code was already used")

// Store is the persistence Service needs. Implementations return *Error with
// CodeNotFound and CodeAlreadyExists where those apply.
type Store interface {
	FactorStore // second factors, the second step of logins (factors.go)
	PasskeyStore
	CreateUser(ctx context.Context, u User, passwordHash string) error
	User(ctx context.Context, id string) (User, error)
	// UserCredentials finds a user by email (when identifier contains "@")
	// or username, case-insensitively, with the password hash.
	UserCredentials(ctx context.Context, identifier string) (User, string, error)
	PasswordHash(ctx context.Context, userID string) (string, error)
	// SetPasswordHash replaces the user's hash old by hash, only if it is
	// still old (a compare-and-swap); swapped says whether it was.
	SetPasswordHash(ctx context.Context, userID, old, hash string) (swapped bool, err error)
	// ChangePassword sets a new hash, ends every session of the user but
	// keep, and replaces keep's refresh tokens by next.
	ChangePassword(ctx context.Context, userID, hash string, keep Session, next RefreshToken, now, liveUntil time.Time) ([]string, error)
	// Session returns a live session of the user.
	Session(ctx context.Context, id, userID string) (Session, error)
	UpdateUser(ctx context.Context, id string, upd UserUpdate, now time.Time) (User, []string, error)
	ListUsers(ctx context.Context, f UserFilter) ([]User, error)
	// DeleteUser deletes the user and all it owns, recording its live
	// sessions as revoked; it returns their ids.
	DeleteUser(ctx context.Context, id string, now, liveUntil time.Time) ([]string, error)

	// StartSession creates a login's session and first refresh token in one
	// transaction that first re-checks what the login saw (see
	// SessionStart), and ends the user's least recently used live sessions
	// beyond the cap; it returns their ids.
	StartSession(ctx context.Context, start SessionStart) (ended []string, err error)
	// StartClientSession creates a client's session (see
	// ClientSessionStart) and ends the user's least recently used sessions
	// of that client beyond the cap; it returns their ids.
	StartClientSession(ctx context.Context, start ClientSessionStart) (ended []string, err error)
	// Sessions lists a page of a user's unrevoked, unexpired, not idle
	// sessions, newest first.
	Sessions(ctx context.Context, f SessionListFilter) ([]Session, error)
	// RefreshToken reads a refresh token (live or spent) with its session.
	RefreshToken(ctx context.Context, key RefreshKey) (RefreshToken, Session, error)
	// LegacyRefreshSession finds the session of a refresh token issued
	// before tokens named their session, by its hash.
	LegacyRefreshSession(ctx context.Context, hash string) (string, error)
	// Rotate loads the state of the refresh token key finds, asks decide
	// what to do, and applies it, all in one write transaction.
	Rotate(ctx context.Context, key RefreshKey, decide func(RefreshState) (Rotation, error)) error
	// RevokeSessions ends the live sessions matching f and adds them to the
	// change feed, each kept until its last access token (at least one issued
	// at liveUntil's time) has expired; it returns the ids it ended.
	RevokeSessions(ctx context.Context, f SessionFilter, now, liveUntil time.Time) ([]string, error)
	// Changes reads the change feed (ended sessions, changed users) in commit
	// order after a cursor. Every write that ends sessions or changes a user
	// (name, role, disabled, deletion) adds to it in its own transaction.
	Changes(ctx context.Context, f ChangeFilter) (ChangePage, error)

	// IssueLink stores a one-time link's token and, in the same
	// transaction, voids the user's unspent links of the same purpose and
	// writes mails (the link's, and any notice) to the outbox. With done.ID
	// set it also deletes that link request, if done.Owner still holds it
	// (else ErrLinkRequestLost, and nothing is written).
	IssueLink(ctx context.Context, t LinkToken, mails []outbox.Message, done LinkRequest) error
	// AddLinkRequest writes a link request (a fresh id when r.ID is empty)
	// and returns its id.
	AddLinkRequest(ctx context.Context, r LinkRequest) (string, error)
	// ClaimLinkRequest leases request id to owner until now+leaseFor;
	// ErrLinkRequestLost when it is gone or another claimer holds it.
	ClaimLinkRequest(ctx context.Context, id, owner string, now time.Time, leaseFor time.Duration) (LinkRequest, error)
	// ClaimLinkRequests leases to owner up to limit requests created
	// before createdBefore that nobody holds, oldest first.
	ClaimLinkRequests(ctx context.Context, owner string, now, createdBefore time.Time, leaseFor time.Duration, limit int) ([]LinkRequest, error)
	// DropLinkRequest deletes a request r.Owner holds (nothing to mail);
	// ErrLinkRequestLost when another claimer took it over.
	DropLinkRequest(ctx context.Context, r LinkRequest) error
	// LinkToken returns the stored link token with this hash.
	LinkToken(ctx context.Context, hash string) (LinkToken, error)
	// UseLink spends a link and applies its effect in one transaction (see
	// LinkUse); ErrLinkSpent when it was spent, voided or expired meanwhile.
	UseLink(ctx context.Context, u LinkUse) (User, []string, error)

	RecordAudit(ctx context.Context, e AuditEvent) error
	AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}

// Revocation is an ended session whose access tokens may still be unexpired.
type Revocation struct {
	SessionID string
	ExpiresAt time.Time // when its last access token expires (with leeway)
}

// SessionListFilter selects a page of a user's live sessions.
type SessionListFilter struct {
	UserID    string
	Before    string // session id cursor: sessions with a smaller id (older)
	Limit     int
	Now       time.Time // sessions past their absolute end are left out
	UsedSince time.Time // sessions idle since before it are left out
}

// ChangeFilter selects a page of the change feed.
type ChangeFilter struct {
	After int64 // cursor: the seq of the last entry already read
	Limit int
	Users bool      // include changed users (else ended sessions only)
	Now   time.Time // ended sessions whose tokens have all expired are left out
}

// Change is one entry of the feed: an ended session or a changed user.
type Change struct {
	Seq       int64
	SessionID string    // an ended session, or
	UserID    string    // a changed user
	ExpiresAt time.Time // an ended session: when its last access token expires
}

// ChangePage is a page of the feed; Cursor is where the next read starts,
// More says that entries follow at once.
type ChangePage struct {
	Changes []Change
	Cursor  int64
	More    bool
}

// CanonicalIdentifier is a login identifier as looked up: trimmed, and an
// email (anything with "@") in the canonical form CanonicalEmail stores.
func CanonicalIdentifier(s string) string {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "@") {
		return foldEmail(s)
	}
	return s
}

// foldEmail is an email's canonical spelling: Unicode NFKC with case folded,
// so "ＡＮＮ@Example.com", "ann@example.com" and "ANN@EXAMPLE.COM" are one
// address. Applied until nothing changes, which makes it idempotent.
func foldEmail(s string) string {
	for range 4 {
		next := norm.NFKC.String(cases.Fold().String(norm.NFKC.String(s)))
		if next == s {
			break
		}
		s = next
	}
	return s
}

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,32}$`)

// CanonicalEmail trims and folds an email address (see foldEmail) and checks
// that it looks like one (a bare addr-spec, no display name) whose mail goes
// to its domain: no IP literal ("a@[127.0.0.1]"), no numeric domain, and no
// "%" (a relay may route "a%b@example.com" on to b). Every address a user
// gives passes here.
func CanonicalEmail(s string) (string, error) {
	s = foldEmail(strings.TrimSpace(s))
	invalid := Errorf(CodeInvalidRequest, "The email address is not valid.")
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return "", invalid
	}
	addr, err := mail.ParseAddress(s)
	// % and ! route the mail elsewhere than the domain says (a relay's
	// percent hack, a UUCP bang path).
	if err != nil || addr.Address != s || len(s) > 254 || strings.ContainsAny(s, "%!") {
		return "", invalid
	}
	domain := s[strings.LastIndexByte(s, '@')+1:]
	dot := strings.LastIndexByte(domain, '.')
	if dot < 0 || strings.HasPrefix(domain, "[") || strings.Trim(domain[dot+1:], "0123456789") == "" {
		return "", invalid // no dot, an IP literal, or a numeric top label (an IPv4 address)
	}
	for _, label := range strings.Split(domain, ".") {
		if !hostLabel(label) {
			return "", invalid
		}
	}
	return s, nil
}

// hostLabel reports whether label can be one of a host name's labels: 1 to
// 63 bytes of letters (any script: internationalized domains), digits and
// hyphens, neither first nor last a hyphen.
func hostLabel(label string) bool {
	if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	return !strings.ContainsFunc(label, func(r rune) bool {
		return r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r)
	})
}

// ValidUsername checks the contract's username rule: 3-32 of [A-Za-z0-9_.-].
func ValidUsername(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !usernamePattern.MatchString(s) {
		return "", Errorf(CodeInvalidRequest, "The username must be 3 to 32 letters, digits, '_', '.' or '-'.")
	}
	return s, nil
}

// CleanName trims a display name and refuses control characters and
// names over 100 characters.
func CleanName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 100 || strings.ContainsFunc(s, unicode.IsControl) {
		return "", Errorf(CodeInvalidRequest, "The name must be at most 100 printable characters.")
	}
	return s, nil
}
