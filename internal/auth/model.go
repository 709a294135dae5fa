package auth

import (
	"errors"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
	// IDP is the upstream identity provider the user signed in through
	// ("" for none): the tokens' idp claim.
	IDP string
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
// UserQuery asks Accounts.ListUsers for a page of users: by Prefix (of
// email or username, at most 254 bytes), after Cursor (the next-page cursor
// a previous page answered; "" for the first page), Limit (1 to 200) users.
type UserQuery struct {
	Prefix, Cursor string
	Limit          int
}

// UserFilter is the store's selection of users (UserQuery, decoded).
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
	// revoked (remembered until LiveUntil, as in SessionStart); never a
	// first-party session, nor another client's.
	MaxLive   int
	IdleSince time.Time
	LiveUntil time.Time
}

// ErrCodeSpent is Store.StartClientSession's refusal of a code already used.
var ErrCodeSpent = errors.New("the authorization code was already used")

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
	After   int64 // cursor: the seq of the last entry already read
	Limit   int
	Users   bool      // include changed users
	Clients bool      // include changed clients (with neither, ended sessions only)
	Now     time.Time // ended sessions whose tokens have all expired are left out
}

// Change is one entry of the feed: an ended session, a changed user or a
// changed client.
type Change struct {
	Seq       int64
	SessionID string    // an ended session, or
	UserID    string    // a changed user, or
	ClientID  string    // a changed OpenID client (settings, secret, removal)
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
