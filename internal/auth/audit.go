package auth

import (
	"context"
	"strings"
	"time"
)

// Audit event names.
const (
	EventLoginSucceeded = "login_succeeded"
	EventLoginFailed    = "login_failed"
	// EventReauthFailed is a wrong secret from a signed-in user: the current
	// password of a password change or account deletion (later a
	// re-authentication or MFA code); Detail names the check.
	EventReauthFailed  = "reauthentication_failed"
	EventAccountLocked = "account_locked"
	EventRegistered    = "registered"
	EventRefreshReuse  = "refresh_token_reused"
	// EventRefreshRefused is a refresh token that was not honoured: not
	// one of ours, expired, of an ended session or of another client (a
	// spent one is EventRefreshReuse).
	EventRefreshRefused = "refresh_token_refused"
	EventLogout         = "logout"
	EventSessionEnded   = "session_ended"
	EventPasswordChange = "password_changed"
	EventAccountDeleted = "account_deleted"
	EventAdminUpdate    = "admin_user_updated"
	EventAdminDelete    = "admin_user_deleted"
	EventUserImported   = "user_imported"
	// Second factors (factors.go).
	EventMFAChallenge     = "mfa_challenge_started" // password right, second step handed out
	EventTOTPEnrolStarted = "totp_enrolment_started"
	EventTOTPEnabled      = "totp_enabled"
	EventTOTPRemoved      = "totp_removed"
	EventRecoveryCodesNew = "recovery_codes_replaced"
	EventRecoveryCodeUsed = "recovery_code_used"
	EventReauthenticated  = "reauthenticated"
	EventMFAReset         = "admin_mfa_reset"
	EventPasskeyAdded     = "passkey_added"
	EventPasskeyRenamed   = "passkey_renamed"
	EventPasskeyRemoved   = "passkey_removed"
	EventPasskeyRefused   = "passkey_registration_refused"
	EventPasskeyCloned    = "passkey_possible_clone" // a signature counter that did not advance
	// Recovery (recovery.go). A "requested" event says whether a link was
	// written to the outbox; its delivery is the outbox's record.
	EventVerificationRequested = "email_verification_requested"
	EventEmailVerified         = "email_verified"
	EventResetRequested        = "password_reset_requested"
	EventPasswordReset         = "password_reset"
	EventEmailChangeRequested  = "email_change_requested"
	EventEmailChanged          = "email_changed"
	EventLinkRefused           = "recovery_link_refused" // a wrong, used, expired or misdirected link
)

// AuditEvent is one security event. It never holds a password, token or hash.
type AuditEvent struct {
	ID        string
	At        time.Time
	Event     string
	UserID    string // the account concerned, if known
	ActorID   string // who acted on it, when not the user (an admin, or "cli")
	IP        string
	UserAgent string
	Detail    string
}

// AuditFilter selects audit events, newest first.
type AuditFilter struct {
	UserID string
	Event  string
	Before string // event id cursor: events older than it
	Limit  int
}

type clientKey struct{}
type actorKey struct{}
type apiKeyKey struct{}

// WithClient records in ctx who is calling, for the audit log.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// WithActor records in ctx who acts on other accounts: an admin's user id,
// or "cli" for the command line.
func WithActor(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, actorKey{}, id)
}

// WithAPIKey records in ctx that the caller acts through the API key id,
// not a signed-in session: rules that a key may never pass (a role change)
// read it, and every audit event of the request names the key.
func WithAPIKey(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, apiKeyKey{}, id)
}

// APIKeyOf is the id of the API key the caller acts through, or "" (a
// signed-in session, the command line).
func APIKeyOf(ctx context.Context) string {
	id, _ := ctx.Value(apiKeyKey{}).(string)
	return id
}

// audit records an event; a failure to record is logged, not returned: the
// action it describes has already happened.
func (s *core) audit(ctx context.Context, event, userID, detail string) {
	s.count(event)
	c, _ := ctx.Value(clientKey{}).(Client)
	actor, _ := ctx.Value(actorKey{}).(string)
	if key := APIKeyOf(ctx); key != "" {
		detail = strings.TrimSpace(detail + " (through API key " + key + ")")
	}
	e := AuditEvent{ID: newID(), At: s.now(), Event: event, UserID: userID, ActorID: actor,
		IP: c.IP, UserAgent: truncate(c.UserAgent, 512), Detail: detail}
	if err := s.store.RecordAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("audit record failed", "event", event, "err", err)
	}
}

// AuditEvents returns a page of events, newest first, and the cursor of the
// next page ("" at the end).
func (s *Accounts) AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, string, error) {
	want := f.Limit
	f.Limit++
	events, err := s.store.AuditEvents(ctx, f)
	if err != nil {
		return nil, "", err
	}
	if len(events) > want {
		events = events[:want]
		return events, events[want-1].ID, nil
	}
	return events, "", nil
}

// Audit records a security event about userID (the provider's client and
// grant events).
func (s *Accounts) Audit(ctx context.Context, event, userID, detail string) {
	s.audit(ctx, event, userID, detail)
}
