package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
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

// Lockout counts failed checks of an account's secrets: Begin refuses
// while locked, else takes a slot for the check, waiting for one while the
// checks in flight hold them all; Settle counts a failure, or ends the
// streak (internal/ratelimit.Lockout).
type Lockout interface {
	Begin(ctx context.Context, key string) (ratelimit.Slot, error)
	Settle(ctx context.Context, slot ratelimit.Slot, o ratelimit.Outcome) (lock time.Duration, err error)
}

// Limiter is a token bucket per key (internal/ratelimit.Limiter).
type Limiter interface {
	Allow(ctx context.Context, key string, l ratelimit.Limit) (ok bool, retryAfter time.Duration, err error)
}

// Config holds the services' lifetimes and identity.
type Config struct {
	Issuer      string
	Audience    string
	AccessTTL   time.Duration
	RefreshTTL  time.Duration
	ReuseGrace  time.Duration // a spent refresh token replayed within it returns the same successor
	MaxAge      time.Duration // absolute session lifetime
	IdleTimeout time.Duration // a session unused (not refreshed) this long ends
	// MaxSessionsPerUser caps a user's live first-party sessions: a login
	// beyond it ends the least recently used. It caps the user's sessions of
	// each OpenID Connect client apart, the same way. 0 means the default,
	// 100.
	MaxSessionsPerUser int
	// ReauthMaxAge is how recent a session's auth_time must be for enrolling
	// or removing a factor, new recovery codes, email change and account
	// deletion. 0 means the default, 10 minutes.
	ReauthMaxAge time.Duration
	Now          func() time.Time
	// Recovery configures links: verification, reset, email change.
	Recovery RecoveryConfig
	// Passkeys is the WebAuthn relying party (passkeys.go); zero: none.
	Passkeys PasskeyConfig
	// APIKeyLimit bounds the API keys one address presents (a bucket of
	// its own, apart from passwords'); zero: DefaultAPIKeyLimit.
	APIKeyLimit ratelimit.Limit
}

// DefaultMaxSessionsPerUser is Config.MaxSessionsPerUser's default.
const DefaultMaxSessionsPerUser = 100

// core is what every use-case service shares: the configuration, the
// clock, the audit log, and the fan-out of ended sessions and changed users
// to this instance's revocation set, user cache and the other instances.
type core struct {
	store       coreStore
	revocations *Revocations
	count       func(event string)
	fanout      Fanout
	mailer      Mailer
	onMail      func()
	users       *userCache
	cfg         Config
	log         *slog.Logger
}

// Fanout tells other instances at once what this one changed: sessions
// ended, users and clients changed (Redis pub/sub). It is a shortcut: the
// database's change feed (SyncChanges) remains the guarantee.
type Fanout interface {
	SessionsEnded(ctx context.Context, until time.Time, sessionIDs []string)
	UsersChanged(ctx context.Context, userIDs []string)
	ClientsChanged(ctx context.Context, clientIDs []string)
}

// Deps are the services' collaborators. Signer may be nil where no token is
// issued (the command line: New then wires no Sessions and no Passkeys); Lockout nil means no account lockout, Limiter
// nil no per-address limit on secret checks.
type Deps struct {
	Store       Store
	Hasher      Hasher
	Signer      Signer
	Revocations *Revocations // receives every session the services end
	Lockout     Lockout
	// Limiter and CheckLimit bound the checks of secrets (login, current
	// passwords, later codes) per client address, one bucket for them all.
	Limiter    Limiter
	CheckLimit ratelimit.Limit
	// RateLimited is told the action of each request refused by Limiter
	// (metrics); optional.
	RateLimited func(action string)
	Log         *slog.Logger
	// Count is told each authentication outcome by name (metrics); optional.
	Count func(event string)
	// Fanout spreads this instance's changes to the others; optional.
	Fanout Fanout
	// Sealer seals TOTP secrets (the master key); nil: enrolling an
	// authenticator app answers 503.
	Sealer Sealer
	// Mailer renders notices (a recovery code used, factors reset); nil:
	// none are sent. MailQueued is told when one is in the outbox (to wake
	// the mail worker); optional.
	Mailer     Mailer
	MailQueued func()
	// Orgs is the organization each session acts in (internal/orgs); nil:
	// tokens carry no organization and asking for one is not_found.
	Orgs OrgSessions
	// TokenHook, if set, is asked before every access token is minted
	// (internal/events.TokenHook; --hook-token-url).
	TokenHook TokenHook
}

// TokenHook adds claims to an access token about to be minted: its answer
// is merged into the token (it drops the claims Gatehouse reserves), or its
// error (unavailable, when it failed and failures deny) is the answer and
// no token is issued.
type TokenHook interface {
	Claims(ctx context.Context, in TokenHookInput) (map[string]any, error)
}

// TokenHookInput is what the token hook is told of the token to mint.
type TokenHookInput struct {
	User     User
	Session  Session
	ClientID string // the OpenID Connect client, "" for Gatehouse's own sessions
	Scope    string
	OrgID    string // the organization the token is for, "" for none
	OrgRole  string
}

// Tokens is a login's or refresh's answer.
type Tokens struct {
	AccessToken      string
	ExpiresIn        time.Duration
	RefreshToken     string
	RefreshExpiresIn time.Duration
	SessionID        string
	User             User
	Session          Session // the session the tokens belong to
	// Scope is what a client session's access token carries: the session's
	// granted scope, or the narrower one a refresh asked for.
	Scope string
}

// Client describes who is calling, for the sessions list.
type Client struct {
	UserAgent string
	IP        string
}

func (s *core) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

func hashToken(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// hashError turns a hashing pool refusal into 503.
func hashError(err error) error {
	if errors.Is(err, password.ErrBusy) {
		return Errorf(CodeUnavailable, "The server is busy; try again shortly.")
	}
	return fmt.Errorf("password hash: %w", err)
}

// newSecretToken is a 256-bit random token (refresh tokens, mfa_tokens).
func newSecretToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// isSecretToken says whether s has the form of newSecretToken's tokens.
func isSecretToken(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(32) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// truncate cuts s to at most n bytes without leaving half a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// changedUser drops a user from this instance's cache and the others'.
func (s *core) changedUser(ctx context.Context, id string) {
	s.users.drop(id)
	if s.fanout != nil {
		s.fanout.UsersChanged(ctx, []string{id})
	}
}

// notice renders a mail to u, or none when u has no email or no mail is
// sent (no Mailer).
func (s *core) notice(u User, kind mail.Kind, d mail.Data) ([]outbox.Message, error) {
	if u.Email == "" || s.mailer == nil {
		return nil, nil
	}
	m, err := s.mailer.Render(kind, u.Email, d)
	if err != nil {
		return nil, err
	}
	return []outbox.Message{m}, nil
}

func (s *core) mailQueued() {
	if s.onMail != nil {
		s.onMail()
	}
}

// requireRecentAuth refuses, with reauthentication_required, an action of a
// session whose user last proved who they are more than --reauth-max-age
// ago. Enrolling or removing a factor, new recovery codes, account deletion
// and email change call it first.
func (s *core) requireRecentAuth(ctx context.Context, sessionID string) error {
	sess, err := s.store.LiveSession(ctx, sessionID)
	if ErrorCode(err) == CodeNotFound {
		return errReauth
	} else if err != nil {
		return err
	}
	if sess.AuthTime.IsZero() || s.now().Sub(sess.AuthTime) > s.cfg.ReauthMaxAge {
		return s.reauthRequired(ctx, sess.UserID)
	}
	return nil
}

// reauthRequired is requireRecentAuth's refusal for userID's session,
// saying what the account can confirm with: POST /me/reauthenticate needs
// a password or an authenticator app, which an account made through a
// provider may not have; it can confirm through a linked OpenID provider
// (internal/upstream), or set a password by the reset mail first.
func (s *core) reauthRequired(ctx context.Context, userID string) error {
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return errReauth
	}
	if hash, err := s.store.PasswordHash(ctx, userID); err != nil || hash != "" || u.MFA.TOTP {
		return errReauth
	}
	return errReauthPasswordless
}

// render renders a mail, or fails when no Mailer is configured (Deps.Mailer:
// without it links can be printed, not mailed).
func (s *core) render(kind mail.Kind, to string, d mail.Data) (mail.Message, error) {
	if s.mailer == nil {
		return mail.Message{}, errors.New("no mail templates configured")
	}
	return s.mailer.Render(kind, to, d)
}

// checkVerified is the rule of --require-verified-email: an account whose
// address is not verified (or that has none) gets no session. Only
// startSession and StartClientSession call it, and every way to a session
// (a password, a passkey, a login's second step, an OpenID client's code)
// goes through one of them.
func (s *core) checkVerified(ctx context.Context, u User) error {
	if !s.cfg.Recovery.RequireVerifiedEmail || u.EmailVerified {
		return nil
	}
	s.audit(ctx, EventLoginFailed, u.ID, "email not verified")
	return errEmailNotVerified
}

// ended records sessions ended here: at once in this instance's memory, and
// through the fan-out in the others'.
func (s *core) ended(ctx context.Context, now time.Time, sessionIDs ...string) {
	if len(sessionIDs) == 0 {
		return
	}
	until := s.liveUntil(now)
	s.revocations.Add(until, sessionIDs...)
	if s.fanout != nil {
		s.fanout.SessionsEnded(ctx, until, sessionIDs)
	}
}

// liveUntil is when an access token issued now expires, plus guard's leeway
// and a margin: how long a revocation must be remembered. Each session's
// latest liveUntil is stored with its tokens, and a revocation lasts until
// the later of that and this instance's liveUntil, so shortening
// --access-ttl never forgets a revocation while older, longer tokens live.
func (s *core) liveUntil(now time.Time) time.Time {
	return now.Add(s.cfg.AccessTTL + time.Minute)
}
