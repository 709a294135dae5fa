package auth

import (
	"context"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
)

// The ports: the persistence auth needs, cut by concern. Implementations
// (internal/store) return *Error with CodeNotFound and CodeAlreadyExists
// where those apply. Each service takes only the ports it uses (the narrow
// interfaces at the end of this file).

// Store is every port: what New takes and hands out in pieces.
type Store interface {
	UserStore
	SessionStore
	ChallengeStore
	FactorStore
	PasskeyStore
	LinkStore
	ChangeStore
	AuditStore
	APIKeyStore
}

// UserReader reads an account and its password hash.
type UserReader interface {
	User(ctx context.Context, id string) (User, error)
	// UserCredentials finds a user by email (when identifier contains "@")
	// or username, case-insensitively, with the password hash.
	UserCredentials(ctx context.Context, identifier string) (User, string, error)
	PasswordHash(ctx context.Context, userID string) (string, error)
}

// UserStore keeps the accounts.
type UserStore interface {
	UserReader
	CreateUser(ctx context.Context, u User, passwordHash string) error
	// SetPasswordHash replaces the user's hash old by hash, only if it is
	// still old (a compare-and-swap); swapped says whether it was.
	SetPasswordHash(ctx context.Context, userID, old, hash string) (swapped bool, err error)
	UpdateUser(ctx context.Context, id string, upd UserUpdate, now time.Time) (User, []string, error)
	ListUsers(ctx context.Context, f UserFilter) ([]User, error)
	// DeleteUser deletes the user and all it owns, recording its live
	// sessions as revoked; it returns their ids.
	DeleteUser(ctx context.Context, id string, now, liveUntil time.Time) ([]string, error)
}

// SessionStore keeps sessions and their refresh tokens.
type SessionStore interface {
	// StartSession creates a login's session and first refresh token in one
	// transaction that first re-checks what the login saw (see
	// SessionStart), and ends the user's least recently used live sessions
	// beyond the cap; it returns their ids.
	StartSession(ctx context.Context, start SessionStart) (ended []string, err error)
	// StartClientSession creates a client's session (see
	// ClientSessionStart) and ends the user's least recently used sessions
	// of that client beyond the cap; it returns their ids.
	StartClientSession(ctx context.Context, start ClientSessionStart) (ended []string, err error)
	// Session returns a live session of the user.
	Session(ctx context.Context, id, userID string) (Session, error)
	// LiveSession returns a session that is not revoked (not_found).
	LiveSession(ctx context.Context, id string) (Session, error)
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
	// ChangePassword sets a new hash, ends every session of the user but
	// keep, and replaces keep's refresh tokens by next.
	ChangePassword(ctx context.Context, userID, hash string, keep Session, next RefreshToken, now, liveUntil time.Time) ([]string, error)
	// Reauthenticate records a re-authentication of the session: its amr
	// and auth_time, and next replacing its refresh tokens.
	Reauthenticate(ctx context.Context, sessionID string, amr []string, authTime time.Time, next RefreshToken) error
}

// ChallengeStore keeps the second step of logins (mfa_token challenges).
type ChallengeStore interface {
	CreateMFAChallenge(ctx context.Context, c MFAChallenge) error
	// MFAChallenge reads a challenge by its hash (not_found).
	MFAChallenge(ctx context.Context, hash string) (MFAChallenge, error)
	// ChargeMFAChallenge counts one attempt against a live challenge (not
	// used, not expired, fewer than maxFailures attempts), before its code
	// is checked, in one statement: not_found when it is not live.
	ChargeMFAChallenge(ctx context.Context, hash string, now time.Time, maxFailures int) (MFAChallenge, error)
}

// FactorStore keeps second factors: authenticator apps and recovery codes.
type FactorStore interface {
	// TOTP returns the user's authenticator, confirmed or not (not_found).
	TOTP(ctx context.Context, userID string) (TOTPFactor, error)
	// PutPendingTOTP stores a new, unconfirmed authenticator that session
	// sessionID started, replacing an unconfirmed one; already_exists when a
	// confirmed one is there.
	PutPendingTOTP(ctx context.Context, userID, sessionID string, sealed []byte, now time.Time) error
	// ConfirmTOTP confirms the pending authenticator with the code of step
	// (accepted as used) and replaces the recovery codes by hashes; false
	// when pending is no longer the one waiting (confirmed, or replaced by
	// another enrolment) or step is not newer than its last.
	ConfirmTOTP(ctx context.Context, pending TOTPFactor, step int64, hashes []string, now time.Time) (bool, error)
	// UseTOTPStep accepts the code of step, atomically: false when the user
	// has no confirmed authenticator or a step at least as new was accepted.
	// With challengeHash, the challenge is marked used in the same
	// transaction (false, and nothing written, when it is not live).
	UseTOTPStep(ctx context.Context, userID string, step int64, challengeHash string, now time.Time) (bool, error)
	// DeleteTOTP removes the authenticator and the recovery codes; false
	// when there was none.
	DeleteTOTP(ctx context.Context, userID string, now time.Time) (bool, error)
	// ReplaceRecoveryCodes voids every recovery code of the user and stores hashes.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) error
	// RecoveryCodesLeft counts the unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	// UseRecoveryCode spends a code (see RecoveryUse); ok is false, and
	// nothing written, when the code is not an unused one of the user (or
	// the challenge is not live).
	UseRecoveryCode(ctx context.Context, u RecoveryUse) (remaining int, ok bool, err error)
	// RemoveFactors removes every second factor and pending challenge of the
	// user and ends its sessions; when anything was removed it enqueues
	// notice in the same transaction.
	RemoveFactors(ctx context.Context, userID string, now, liveUntil time.Time, notice []outbox.Message) (removed bool, ended []string, err error)
}

// PasskeyStore keeps passkeys and their ceremonies.
type PasskeyStore interface {
	CreateCeremony(ctx context.Context, c Ceremony) error
	// TakeCeremony marks the live (unused, unexpired) ceremony of hash and
	// purpose used and returns it, in one statement; not_found otherwise.
	TakeCeremony(ctx context.Context, hash, purpose string, now time.Time) (Ceremony, error)
	Passkeys(ctx context.Context, userID string) ([]Passkey, error)
	// PasskeyByCredential finds a passkey by its credential ID (not_found).
	PasskeyByCredential(ctx context.Context, credentialID []byte) (Passkey, error)
	// AddPasskey stores a new passkey: already_exists when its credential
	// is registered already, to this account or another.
	AddPasskey(ctx context.Context, p Passkey) error
	// UsePasskey applies u; false, and nothing written, when the counter
	// moved meanwhile or the challenge is no longer live.
	UsePasskey(ctx context.Context, u PasskeyUse) (bool, error)
	RenamePasskey(ctx context.Context, userID, id, name string) error
	DeletePasskey(ctx context.Context, userID, id string, now time.Time) error
}

// LinkStore keeps one-time links and the requests for them.
type LinkStore interface {
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
}

// ChangeStore reads the change feed.
type ChangeStore interface {
	// Changes reads the change feed (ended sessions, changed users) in commit
	// order after a cursor. Every write that ends sessions or changes a user
	// (name, role, disabled, deletion) adds to it in its own transaction.
	Changes(ctx context.Context, f ChangeFilter) (ChangePage, error)
}

// AuditStore keeps the audit log.
type AuditStore interface {
	RecordAudit(ctx context.Context, e AuditEvent) error
	AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}

// APIKeyStore keeps users' API keys (only their SHA-256).
type APIKeyStore interface {
	CreateAPIKey(ctx context.Context, k APIKey) error
	// APIKeyByHash finds a key, live or not, by the hex SHA-256 of the key
	// (not_found).
	APIKeyByHash(ctx context.Context, hash string) (APIKey, error)
	// APIKeys lists the user's unrevoked keys, newest first.
	APIKeys(ctx context.Context, userID string) ([]APIKey, error)
	// RevokeAPIKey revokes a live key of the user and adds its id to the
	// change feed, kept until liveUntil (not_found: no such live key).
	RevokeAPIKey(ctx context.Context, userID, id string, now, liveUntil time.Time) error
	// TouchAPIKeys sets keys' last-used times (key id → time), skipping a
	// key whose stored time is less than interval older.
	TouchAPIKeys(ctx context.Context, used map[string]time.Time, interval time.Duration) error
}

// What each service takes of the Store.
type (
	// coreStore: the audit log, and the session a recent-authentication
	// rule reads (with its user's password hash and factors, to say how
	// to re-authenticate).
	coreStore interface {
		RecordAudit(ctx context.Context, e AuditEvent) error
		LiveSession(ctx context.Context, id string) (Session, error)
		User(ctx context.Context, id string) (User, error)
		PasswordHash(ctx context.Context, userID string) (string, error)
	}
	checksStore interface {
		UserReader
		SetPasswordHash(ctx context.Context, userID, old, hash string) (swapped bool, err error)
	}
	accountsStore interface {
		UserStore
		AuditStore
	}
	sessionsStore interface {
		UserReader
		SessionStore
		ChallengeStore
	}
	// issuerStore: what creating a session and minting its tokens reads
	// and writes (the login's second step included).
	issuerStore interface {
		LegacyRefreshSession(ctx context.Context, hash string) (string, error)
		User(ctx context.Context, id string) (User, error)
		PasswordHash(ctx context.Context, userID string) (string, error)
		StartSession(ctx context.Context, start SessionStart) (ended []string, err error)
		RefreshToken(ctx context.Context, key RefreshKey) (RefreshToken, Session, error)
		RevokeSessions(ctx context.Context, f SessionFilter, now, liveUntil time.Time) ([]string, error)
		CreateMFAChallenge(ctx context.Context, c MFAChallenge) error
		ChargeMFAChallenge(ctx context.Context, hash string, now time.Time, maxFailures int) (MFAChallenge, error)
		Reauthenticate(ctx context.Context, sessionID string, amr []string, authTime time.Time, next RefreshToken) error
	}
	factorsStore interface {
		UserReader
		FactorStore
	}
	passkeysStore interface {
		UserReader
		PasskeyStore
		MFAChallenge(ctx context.Context, hash string) (MFAChallenge, error)
	}
	recoveryStore interface {
		UserReader
		LinkStore
	}
	apiKeysStore interface {
		User(ctx context.Context, id string) (User, error)
		APIKeyStore
	}
)
