package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// Recovery are the mailed links: verification, password reset, email
// change, and their background queue (recovery.go).
type Recovery struct {
	*core
	store   recoveryStore
	hasher  Hasher
	rec     *recovery // links and their background queue
	checks  *Checks
	factors *Factors // a reset asks for the second factor
}

// Account recovery: email verification, password reset and email change,
// all by one-time links. The rules, in one place:
//
//   - A link's token is 256 random bits (43 base64url characters), stored
//     only as its SHA-256, bound to one user and one purpose, and spent
//     once. A newer link of the same purpose voids the older ones; a
//     password change or reset voids every reset link.
//   - A link's mail is written to the outbox in the transaction that stores
//     its token (Store.IssueLink), then the mail worker is woken.
//   - Spending a link goes through the guarded path (per-address limit,
//     audit, one answer: invalid_code for a wrong, used, voided or expired
//     link, one of another purpose, or one of another user than the
//     signed-in caller). Opening a link's page spends nothing.
//   - POST /password/forgot (and the page's "send the link again") answer
//     the same whatever the account: before the answer only a LinkRequest
//     row is written (the same short write for every account); the lookup
//     and the mail happen after it, in a bounded background queue, so
//     neither the answer nor its timing depends on the account. The job
//     claims the row with a lease and deletes it in the transaction that
//     writes the link and its mail (or alone when nothing is mailed); a row
//     a crash or a full queue left behind is taken by SweepLinkRequests
//     (at start and every few seconds). They are limited per address
//     (refused openly) and per account (silently: the answer cannot say),
//     and never lock anything.

// LinkPurpose is what a one-time link does.
type LinkPurpose string

// Purposes of links.
const (
	PurposeVerifyEmail   LinkPurpose = "verify_email"
	PurposeResetPassword LinkPurpose = "reset_password"
	PurposeChangeEmail   LinkPurpose = "change_email"
)

// LinkToken is a one-time link as stored: only the SHA-256 of its token.
type LinkToken struct {
	Hash      string // hex SHA-256 of the token
	UserID    string
	Purpose   LinkPurpose
	Email     string // the address it was mailed to (change_email: the new address)
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until spent or voided
}

// LinkUse is spending a link, for Store.UseLink, which in one transaction
// marks it spent (only if it is unspent, unexpired at Now, and UserID's and
// Purpose's), applies its effect, and writes Mails to the outbox:
//
//   - verify_email: the user's address, if still Email, is verified;
//   - reset_password: the password becomes PasswordHash, every session of
//     the user ends (kept as revoked until LiveUntil), every other reset
//     link is voided, and the address, if still Email, is verified (the
//     link proved it); with ProvesAddress (the address, Email, was never
//     verified: ErrLinkSpent when it changed or got verified meanwhile) every
//     second factor of the user is removed too;
//   - change_email: the address becomes Email, verified; the user's other
//     change, verification and reset links are voided (those mailed to
//     the old address die with it); a taken address is
//     already_exists and spends nothing.
type LinkUse struct {
	Hash         string
	Purpose      LinkPurpose
	UserID       string
	Email        string
	Now          time.Time
	PasswordHash string
	LiveUntil    time.Time
	Mails        []outbox.Message
	// ProvesAddress: a reset link is the first proof of the address it was
	// mailed to, so the factors of whoever signed up with it go.
	ProvesAddress bool
}

// LinkRequestKind is what a link request asks for.
type LinkRequestKind string

// Kinds of link requests.
const (
	RequestReset  LinkRequestKind = "reset"  // a password reset link (ForgotPassword)
	RequestVerify LinkRequestKind = "verify" // a verification link (ResendVerification)
)

// LinkRequest is a link asked for without being signed in, stored before
// the answer so that a crash after it loses nothing; it is deleted with
// the link and its mail, or alone when nothing is to be mailed.
type LinkRequest struct {
	ID         string // UUIDv7
	Kind       LinkRequestKind
	Identifier string // canonical (CanonicalIdentifier)
	Client     Client // the caller, for the audit log
	CreatedAt  time.Time
	Owner      string // who holds its lease, once claimed
}

// ErrLinkRequestLost is the store's answer for a link request that is gone
// or whose lease another claimer holds.
var ErrLinkRequestLost = errors.New("the link request is gone or held by another claimer")

// Leases of link requests: a claimer has linkRequestLease to finish one
// (its work is bounded well below that); a sweep takes the requests of at
// most sweepBatch per claim.
const (
	linkRequestLease = 5 * time.Minute
	sweepBatch       = 8
)

// ErrLinkSpent is Store.UseLink's answer for a link spent, voided or
// expired since it was read.
var ErrLinkSpent = errors.New("the link was spent, voided or expired")

// RecoveryConfig configures recovery; zero fields take the defaults.
type RecoveryConfig struct {
	// PublicURL is what links are built from (never a request's Host).
	PublicURL            string
	VerifyTTL            time.Duration // default 24h
	ResetTTL             time.Duration // default 30m
	RequireVerifiedEmail bool          // login refused (email_not_verified) until the address is verified
	// PerAddress and PerAccount bound the links asked for (default 10 an
	// hour, burst 5, per address; 5 an hour, burst 3, per account).
	PerAddress, PerAccount ratelimit.Limit
	Queue                  int // background requests at most in flight; default 64
	// Delay is how long a background request waits before its lookup
	// starts, plus a random part up to Delay again (default 20ms): its work
	// then neither slows its own answer nor lines up with the next request
	// of whoever sent it, so timing tells nothing of the account.
	Delay time.Duration
}

// Recovery defaults.
const (
	DefaultVerifyTTL = 24 * time.Hour
	DefaultResetTTL  = 30 * time.Minute
)

// recovery is Recovery's state: its config and the bounded
// background queue.
type recovery struct {
	cfg     RecoveryConfig
	log     *slog.Logger
	slots   chan struct{}
	mu      sync.Mutex
	idle    *sync.Cond
	pending int
}

func newRecovery(c RecoveryConfig, log *slog.Logger) *recovery {
	if c.VerifyTTL <= 0 {
		c.VerifyTTL = DefaultVerifyTTL
	}
	if c.ResetTTL <= 0 {
		c.ResetTTL = DefaultResetTTL
	}
	if c.PerAddress == (ratelimit.Limit{}) {
		c.PerAddress = ratelimit.Per(10, time.Hour, 5)
	}
	if c.PerAccount == (ratelimit.Limit{}) {
		c.PerAccount = ratelimit.Per(5, time.Hour, 3)
	}
	if c.Queue <= 0 {
		c.Queue = 64
	}
	if c.Delay <= 0 {
		c.Delay = 20 * time.Millisecond
	}
	r := &recovery{cfg: c, log: log, slots: make(chan struct{}, c.Queue)}
	r.idle = sync.NewCond(&r.mu)
	return r
}

var (
	errInvalidLink      = Errorf(CodeInvalidCode, "The link is not valid: it is wrong, used, replaced by a newer one, or expired.")
	errEmailNotVerified = Errorf(CodeEmailNotVerified, "The email address of this account is not verified yet; use the link mailed to it.")
)

// newLinkToken returns a fresh token and its stored hash.
func newLinkToken() (raw, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	raw = base64.RawURLEncoding.EncodeToString(b)
	return raw, hashToken(raw)
}

// linkEncoding is the one spelling of a token: strict, so that no two
// strings name the same token.
var linkEncoding = base64.RawURLEncoding.Strict()

// ParseLinkToken checks that s is a token's one spelling (43 base64url
// characters holding 32 bytes) and returns the hash it is stored under.
func ParseLinkToken(s string) (hash string, ok bool) {
	if len(s) != 43 {
		return "", false
	}
	b, err := linkEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		return "", false
	}
	return hashToken(s), true
}

// link builds the absolute link of a page from the public URL.
func (r *recovery) link(path, raw string) string {
	return strings.TrimSuffix(r.cfg.PublicURL, "/") + path + "?token=" + url.QueryEscape(raw)
}

// linkKinds are each purpose's page, mail and lifetime.
func (r *recovery) linkKind(p LinkPurpose) (path string, kind mail.Kind, ttl time.Duration) {
	switch p {
	case PurposeVerifyEmail:
		return "/verify-email", mail.VerifyEmail, r.cfg.VerifyTTL
	case PurposeResetPassword:
		return "/reset-password", mail.ResetPassword, r.cfg.ResetTTL
	default:
		return "/confirm-email", mail.EmailChangeConfirm, r.cfg.VerifyTTL
	}
}

// mailName is the name a mail to the address to greets: the user's name
// only when to is their verified address. Anyone can have Gatehouse mail
// any address (sign up with it, ask to change to it), so a mail to an
// address not proven to be the user's carries no text the requester chose.
func mailName(u User, to string) string {
	if u.EmailVerified && strings.EqualFold(to, u.Email) {
		return u.Name
	}
	return ""
}

// issueLink makes a link of purpose for u, to the address to, and stores
// it (voiding u's older links of that purpose) with its mail, unless
// deliver is false, and the extra mails, in one transaction.
func (s *Recovery) issueLink(ctx context.Context, u User, purpose LinkPurpose, to string, deliver bool, extra ...mail.Message) (string, error) {
	return s.issueLinkFor(ctx, LinkRequest{}, u, purpose, to, deliver, extra...)
}

// issueLinkFor is issueLink that, with done.ID set, also deletes the link
// request done in the same transaction (ErrLinkRequestLost, and nothing
// written, when its lease was lost).
func (s *Recovery) issueLinkFor(ctx context.Context, done LinkRequest, u User, purpose LinkPurpose, to string, deliver bool, extra ...mail.Message) (string, error) {
	raw, hash := newLinkToken()
	path, kind, ttl := s.rec.linkKind(purpose)
	link := s.rec.link(path, raw)
	var mails []outbox.Message
	if deliver {
		m, err := s.render(kind, to, mail.Data{Name: mailName(u, to), Link: link, Expires: ttl})
		if err != nil {
			return "", fmt.Errorf("%s link: %w", purpose, err)
		}
		mails = append(mails, m)
	}
	mails = append(mails, extra...)
	now := s.now()
	err := s.store.IssueLink(ctx, LinkToken{Hash: hash, UserID: u.ID, Purpose: purpose, Email: to,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}, mails, done)
	if err != nil {
		return "", fmt.Errorf("%s link: %w", purpose, err)
	}
	if len(mails) > 0 {
		s.mailQueued()
	}
	return link, nil
}

// limitRecoveryAddress is the per-address limit on asking for links.
func (s *Recovery) limitRecoveryAddress(ctx context.Context, c Client) error {
	if c.IP == "" {
		return nil
	}
	if ok, retry := s.checks.allow(ctx, "recovery:"+ratelimit.AddressKey(c.IP), s.rec.cfg.PerAddress); !ok {
		return &Error{Code: CodeTooManyRequests, Message: "Too many requests for links from your address; wait before trying again.", RetryAfter: retry}
	}
	return nil
}

// allowAccount is the per-account limit on links mailed to one account.
func (s *Recovery) allowAccount(ctx context.Context, userID string) (bool, time.Duration) {
	return s.checks.allow(ctx, "recovery-account:"+userID, s.rec.cfg.PerAccount)
}

// background runs job after the answer (after Delay and a random part), in
// the bounded queue. When the queue is full the job is not run (and
// logged): its link request stays for SweepLinkRequests.
func (r *recovery) background(ctx context.Context, name string, job func(ctx context.Context)) {
	select {
	case r.slots <- struct{}{}:
	default:
		r.log.Warn("recovery queue full: request left to the sweep", "job", name)
		return
	}
	r.mu.Lock()
	r.pending++
	r.mu.Unlock()
	ctx = context.WithoutCancel(ctx) // the request's values (client, actor), not its end
	delay := r.cfg.Delay + time.Duration(mathrand.Int64N(int64(r.cfg.Delay)))
	time.AfterFunc(delay, func() {
		defer func() {
			<-r.slots
			r.mu.Lock()
			if r.pending--; r.pending == 0 {
				r.idle.Broadcast()
			}
			r.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		job(ctx)
	})
}

// WaitRecovery waits until no background recovery request runs (tests, and
// the server's shutdown before it closes the database).
func (s *Recovery) WaitRecovery() {
	s.rec.mu.Lock()
	for s.rec.pending > 0 {
		s.rec.idle.Wait()
	}
	s.rec.mu.Unlock()
}

// ForgotPassword asks for a reset link for the account of identifier (an
// email or a username). The answer is the same whether such an account
// exists, has an address, is disabled or over its limit: only an empty
// identifier or the caller's address being over its limit is refused. The
// request is stored before the answer; the lookup and the mail follow in
// the background.
func (s *Recovery) ForgotPassword(ctx context.Context, identifier string, c Client) error {
	return s.askLink(ctx, identifier, c, RequestReset)
}

// ResendVerification asks for a fresh verification link for the account
// of identifier, without being signed in (the login page's answer to
// email_not_verified), with ForgotPassword's no-enumeration answer.
func (s *Recovery) ResendVerification(ctx context.Context, identifier string, c Client) error {
	return s.askLink(ctx, identifier, c, RequestVerify)
}

// askLink checks the request, stores it (one row, whatever the account),
// and wakes a background job for it.
func (s *Recovery) askLink(ctx context.Context, identifier string, c Client, kind LinkRequestKind) error {
	if c != (Client{}) {
		ctx = WithClient(ctx, c)
	} else {
		c, _ = ctx.Value(clientKey{}).(Client)
	}
	ident := CanonicalIdentifier(identifier)
	if ident == "" || len(ident) > 254 {
		return Errorf(CodeInvalidRequest, "An email or a username is required.")
	}
	if err := s.limitRecoveryAddress(ctx, c); err != nil {
		return err
	}
	id, err := s.store.AddLinkRequest(ctx, LinkRequest{Kind: kind, Identifier: ident,
		Client: Client{IP: c.IP, UserAgent: truncate(c.UserAgent, 512)}, CreatedAt: s.now()})
	if err != nil {
		return fmt.Errorf("%s link request: %w", kind, err)
	}
	s.rec.background(ctx, string(kind), func(ctx context.Context) { s.claimLinkRequest(ctx, id) })
	return nil
}

// claimLinkRequest is the background job of request id: it claims the
// request and serves it, unless the sweep (or another instance) holds it.
// A failed claim leaves it for the sweep.
func (s *Recovery) claimLinkRequest(ctx context.Context, id string) {
	r, err := s.store.ClaimLinkRequest(ctx, id, newID(), s.now(), linkRequestLease)
	if errors.Is(err, ErrLinkRequestLost) {
		return
	}
	if err != nil {
		s.log.Error("link request claim failed: left to the sweep", "request", id, "err", err)
		return
	}
	s.serveLinkRequest(ctx, r)
}

// SweepLinkRequests serves the link requests left behind: those whose
// background job never ran (the process died, or its queue was full) or
// failed, once their lease is free, a second past the time their job would
// have claimed them. The server runs it at start and every few seconds.
func (s *Recovery) SweepLinkRequests(ctx context.Context) error {
	for {
		now := s.now()
		rs, err := s.store.ClaimLinkRequests(ctx, newID(), now, now.Add(-2*s.rec.cfg.Delay-time.Second), linkRequestLease, sweepBatch)
		if err != nil {
			return err
		}
		for _, r := range rs {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			s.serveLinkRequest(rctx, r)
			cancel()
		}
		if len(rs) < sweepBatch || ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// serveLinkRequest does what a claimed request asks: the lookup, the
// per-account limit, and the link with its mail, written with the
// request's deletion in one transaction; or, when nothing is to be mailed,
// the deletion alone. A failure leaves the request to be retried when its
// lease ends.
func (s *Recovery) serveLinkRequest(ctx context.Context, r LinkRequest) {
	ctx = WithClient(ctx, r.Client)
	event, purpose := EventResetRequested, PurposeResetPassword
	if r.Kind == RequestVerify {
		event, purpose = EventVerificationRequested, PurposeVerifyEmail
	}
	u, why, err := s.recipient(ctx, r.Identifier)
	if err != nil {
		s.log.Error("recovery lookup failed", "request", r.ID, "err", err)
		return
	}
	if why == "" && purpose == PurposeVerifyEmail && u.EmailVerified {
		why = "already verified: nothing mailed"
	}
	if why != "" {
		switch err := s.store.DropLinkRequest(ctx, r); {
		case errors.Is(err, ErrLinkRequestLost):
			return // another claimer serves it, and audits it
		case err != nil:
			s.log.Error("link request deletion failed", "request", r.ID, "err", err)
			return
		}
		s.audit(ctx, event, u.ID, why)
		return
	}
	if _, err := s.issueLinkFor(ctx, r, u, purpose, u.Email, true); err != nil {
		if errors.Is(err, ErrLinkRequestLost) {
			return
		}
		s.log.Error(string(purpose)+" link failed", "user", u.ID, "request", r.ID, "err", err)
		return
	}
	s.audit(ctx, event, u.ID, "link written to the outbox")
}

// recipient finds the account of ident that may be mailed a link, or says
// why not (u.ID is set when there is such an account); err is a failed
// lookup.
func (s *Recovery) recipient(ctx context.Context, ident string) (u User, why string, err error) {
	u, _, err = s.store.UserCredentials(ctx, ident)
	switch {
	case ErrorCode(err) == CodeNotFound:
		return User{}, "no such account: nothing mailed", nil
	case err != nil:
		return User{}, "", err
	case u.Email == "":
		return u, "the account has no address: nothing mailed", nil
	case u.Disabled:
		return u, "disabled account: nothing mailed", nil
	}
	if ok, _ := s.allowAccount(ctx, u.ID); !ok {
		return u, "over the per-account limit: nothing mailed", nil
	}
	return u, "", nil
}

// sendSignupVerification mails a new account with an address its
// verification link. A failure is logged: the account exists, and a link
// can be asked for again.
func (s *Recovery) sendSignupVerification(ctx context.Context, u User) {
	if u.Email == "" || s.mailer == nil {
		return
	}
	if _, err := s.issueLink(ctx, u, PurposeVerifyEmail, u.Email, true); err != nil {
		s.log.Error("sign-up verification link failed", "user", u.ID, "err", err)
		return
	}
	s.audit(ctx, EventVerificationRequested, u.ID, "sign-up: link written to the outbox")
}

// RequestVerification mails the signed-in user userID a verification link
// for their current address.
func (s *Recovery) RequestVerification(ctx context.Context, userID string, c Client) error {
	if c != (Client{}) {
		ctx = WithClient(ctx, c)
	} else {
		c, _ = ctx.Value(clientKey{}).(Client)
	}
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return err
	}
	switch {
	case u.Email == "":
		return Errorf(CodeInvalidRequest, "The account has no email address to verify.")
	case u.EmailVerified:
		return Errorf(CodeInvalidRequest, "The email address is already verified.")
	}
	if err := s.limitRecoveryAddress(ctx, c); err != nil {
		return err
	}
	if ok, retry := s.allowAccount(ctx, u.ID); !ok {
		return &Error{Code: CodeTooManyRequests, Message: "Too many links were asked for this account; wait before trying again.", RetryAfter: retry}
	}
	if _, err := s.issueLink(ctx, u, PurposeVerifyEmail, u.Email, true); err != nil {
		return err
	}
	s.audit(ctx, EventVerificationRequested, u.ID, "link written to the outbox")
	return nil
}

// LinkInput is a link presented for spending: its token and, when the
// caller is signed in, who they are (a link of another user is refused).
type LinkInput struct {
	Token    string
	CallerID string // "" when not signed in
	Client   Client
}

// VerifyEmail spends a verification link: the address it was mailed to is
// verified, if it is still the user's.
func (s *Recovery) VerifyEmail(ctx context.Context, in LinkInput) (User, error) {
	u, _, err := s.spendLink(ctx, CheckVerifyLink, PurposeVerifyEmail, in, nil)
	if err != nil {
		return User{}, err
	}
	s.audit(ctx, EventEmailVerified, u.ID, "")
	return u, nil
}

// ResetPasswordInput is a password reset by link. A user with an
// authenticator app sends its Code, or a RecoveryCode, too.
type ResetPasswordInput struct {
	Token        string
	NewPassword  string
	Code         string
	RecoveryCode string
	Client       Client
}

// A reset of an account with an authenticator app needs a second factor:
// the mailbox alone must not be enough to take the account over.
var (
	// ErrResetNeedsSecondFactor answers a reset without one; the link is
	// not spent.
	ErrResetNeedsSecondFactor = Errorf(CodeInvalidRequest, "This account has two-step sign-in: send the code from your authenticator app, or a recovery code, with the new password.")
	// ErrResetSecondFactor answers a wrong code; the link is not spent.
	ErrResetSecondFactor = Errorf(CodeInvalidCode, "The code is not valid. The link still works: try again with a new code, or a recovery code.")
)

// ResetPassword spends a reset link: the new password (policy-checked) is
// set, every session of the user ends, every other reset link is voided,
// and a notice is mailed. It does not log in. With an authenticator app
// enrolled, a code or recovery code is checked (and spent) first, unless
// the address was never verified: then the link is the first proof of it,
// the mailbox's owner wins, and every second factor of the account (of
// whoever signed up with the address) is removed instead.
func (s *Recovery) ResetPassword(ctx context.Context, in ResetPasswordInput) error {
	var proves bool
	var factors MFAStatus
	prepare := func(ctx context.Context, tok LinkToken, u User) (LinkUse, error) {
		if err := password.CheckPolicy(in.NewPassword, u.Email, u.Username); err != nil {
			return LinkUse{}, Errorf(CodeWeakPassword, "%s", err.Error())
		}
		proves, factors = u.Email != "" && !u.EmailVerified && tok.Email == u.Email, u.MFA
		if u.MFA.TOTP && !proves {
			if in.Code == "" && in.RecoveryCode == "" {
				return LinkUse{}, ErrResetNeedsSecondFactor
			}
			if err := oneCode(in.Code, in.RecoveryCode); err != nil {
				return LinkUse{}, err
			}
			if err := s.factors.checkSecondFactor(ctx, u, in.Code, in.RecoveryCode, ErrResetSecondFactor); err != nil {
				return LinkUse{}, err
			}
		}
		hash, err := s.hasher.Hash(ctx, in.NewPassword)
		if err != nil {
			return LinkUse{}, hashError(err)
		}
		use := LinkUse{PasswordHash: hash, ProvesAddress: proves}
		if u.Email != "" {
			notice, err := s.render(mail.PasswordChanged, u.Email, mail.Data{Name: mailName(u, u.Email)})
			if err != nil {
				return LinkUse{}, err
			}
			use.Mails = append(use.Mails, notice)
		}
		return use, nil
	}
	u, ended, err := s.spendLink(ctx, CheckResetLink, PurposeResetPassword, LinkInput{Token: in.Token, Client: in.Client}, prepare)
	if err != nil {
		return err
	}
	s.ended(ctx, s.now(), ended...)
	s.audit(ctx, EventPasswordReset, u.ID, fmt.Sprintf("%d sessions ended; other reset links voided", len(ended)))
	if proves {
		s.audit(ctx, EventEmailVerified, u.ID, fmt.Sprintf("by a reset link, the address's first proof: second factors removed (authenticator app: %t, passkeys: %d)",
			factors.TOTP, factors.Passkeys))
	}
	return nil
}

// ChangeEmailInput is a signed-in user asking to change their address,
// from a session whose sign-in is recent (--reauth-max-age).
type ChangeEmailInput struct {
	UserID    string
	SessionID string
	Email     string
	Password  string
	Client    Client
}

// RequestEmailChange checks the password (through the guarded path), then
// mails a confirmation link to the new address and a notice to the old
// one. The address changes only when the link is spent; until then the old
// one keeps working. A new address that is taken is not told here (that
// would tell whose it is); the confirmation answers already_exists.
func (s *Recovery) RequestEmailChange(ctx context.Context, in ChangeEmailInput) error {
	if in.Client != (Client{}) {
		ctx = WithClient(ctx, in.Client)
	}
	next, err := CanonicalEmail(in.Email)
	if err != nil {
		return err
	}
	if err := s.requireRecentAuth(ctx, in.SessionID); err != nil {
		return err
	}
	u, err := s.checks.confirmPassword(ctx, CheckEmailChange, in.UserID, in.Password, in.Client)
	if err != nil {
		return err
	}
	if next == u.Email {
		return Errorf(CodeInvalidRequest, "That is already your email address.")
	}
	if ok, retry := s.allowAccount(ctx, u.ID); !ok {
		return &Error{Code: CodeTooManyRequests, Message: "Too many links were asked for this account; wait before trying again.", RetryAfter: retry}
	}
	var notice []mail.Message
	if u.Email != "" {
		m, err := s.render(mail.EmailChangeNotice, u.Email, mail.Data{Name: mailName(u, u.Email), NewEmail: next})
		if err != nil {
			return err
		}
		notice = append(notice, m)
	}
	if _, err := s.issueLink(ctx, u, PurposeChangeEmail, next, true, notice...); err != nil {
		return err
	}
	s.audit(ctx, EventEmailChangeRequested, u.ID, "confirmation link written to the outbox")
	return nil
}

// ConfirmEmailChange spends an email-change link: the address becomes the
// new one, verified. A taken address is already_exists and spends nothing.
func (s *Recovery) ConfirmEmailChange(ctx context.Context, in LinkInput) (User, error) {
	u, _, err := s.spendLink(ctx, CheckConfirmLink, PurposeChangeEmail, in, nil)
	if err != nil {
		return User{}, err
	}
	s.audit(ctx, EventEmailChanged, u.ID, "address changed and verified")
	return u, nil
}

// AdminPasswordReset is actorID (an administrator, or "cli") making a reset
// link for user id: mailed to the user, or, with print, returned and not
// mailed.
func (s *Recovery) AdminPasswordReset(ctx context.Context, actorID, id string, print bool) (string, error) {
	ctx = WithActor(ctx, actorID)
	u, err := s.store.User(ctx, id)
	if err != nil {
		return "", err
	}
	if !print && u.Email == "" {
		return "", Errorf(CodeInvalidRequest, "The user has no email address to mail a link to.")
	}
	link, err := s.issueLink(ctx, u, PurposeResetPassword, u.Email, !print)
	if err != nil {
		return "", err
	}
	detail := "by an administrator: link written to the outbox"
	if print {
		detail = "by an administrator: link printed, not mailed"
	}
	s.audit(ctx, EventResetRequested, u.ID, detail)
	if !print {
		return "", nil
	}
	return link, nil
}

// spendLink is the one way a link is spent: through the guarded path, the
// token's lookup and checks, then prepare (the purpose's own work, such as
// hashing a new password; its errors are answered as they are and spend
// nothing), then Store.UseLink.
func (s *Recovery) spendLink(ctx context.Context, kind CheckKind, purpose LinkPurpose, in LinkInput,
	prepare func(context.Context, LinkToken, User) (LinkUse, error)) (User, []string, error) {
	if in.Client != (Client{}) {
		ctx = WithClient(ctx, in.Client)
	}
	var used User
	var ended []string
	check := func(ctx context.Context) (checkOutcome, error) {
		hash, ok := ParseLinkToken(in.Token)
		if !ok {
			return checkOutcome{Reason: "malformed link"}, nil
		}
		tok, err := s.store.LinkToken(ctx, hash)
		if ErrorCode(err) == CodeNotFound {
			return checkOutcome{Reason: "unknown link"}, nil
		} else if err != nil {
			return checkOutcome{}, err
		}
		now := s.now()
		fail := func(reason string) (checkOutcome, error) {
			return checkOutcome{Reason: reason, UserID: tok.UserID}, nil
		}
		switch {
		case tok.Purpose != purpose:
			return fail("link of another purpose (" + string(tok.Purpose) + ")")
		case in.CallerID != "" && in.CallerID != tok.UserID:
			return checkOutcome{Reason: "link of another user", UserID: in.CallerID}, nil
		case !tok.UsedAt.IsZero():
			return fail("link already used or replaced")
		case !now.Before(tok.ExpiresAt):
			return fail("expired link")
		}
		u, err := s.store.User(ctx, tok.UserID)
		if err != nil {
			return checkOutcome{}, err
		}
		if u.Disabled {
			return fail("disabled account")
		}
		use := LinkUse{}
		if prepare != nil {
			if use, err = prepare(ctx, tok, u); err != nil {
				return checkOutcome{}, err
			}
		}
		use.Hash, use.Purpose, use.UserID, use.Email, use.Now = hash, purpose, tok.UserID, tok.Email, s.now()
		use.LiveUntil = s.liveUntil(use.Now)
		used, ended, err = s.store.UseLink(ctx, use)
		if errors.Is(err, ErrLinkSpent) {
			return fail("link already used, replaced or expired")
		}
		if err != nil {
			return checkOutcome{}, err
		}
		if len(use.Mails) > 0 {
			s.mailQueued()
		}
		return checkOutcome{OK: true}, nil
	}
	err := s.checks.guarded(ctx, secretCheck{Kind: kind, Client: in.Client, Secret: in.Token, Check: check,
		Unpadded: true, Refusal: errInvalidLink, FailEvent: EventLinkRefused})
	if err != nil {
		return User{}, nil, err
	}
	s.changedUser(ctx, used.ID)
	return used, ended, nil
}
