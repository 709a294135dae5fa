package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/golang-jwt/jwt/v5"
)

// Sessions of OpenID Connect clients. A client's tokens live in a session of
// their own, a child of the browser session that authorized them, so they
// rotate with the same reuse detection (RefreshFor) and end, through the
// change feed, with that browser session, with the user (disabled, password
// reset, deleted), with the user's grant, or with the client.

// Audit events of the OpenID Connect provider.
const (
	EventClientCreated       = "oauth_client_created"
	EventClientUpdated       = "oauth_client_updated"
	EventClientDeleted       = "oauth_client_deleted"
	EventClientSecretRotated = "oauth_client_secret_rotated"
	EventGrantCreated        = "oauth_grant_created"
	EventGrantRevoked        = "oauth_grant_revoked"
	EventCodeReplayed        = "oauth_code_replayed"
	EventOAuthCheckFailed    = "oauth_check_failed"
	EventClientSessionEnded  = "oauth_session_ended"
)

// Kinds of guarded checks of the OpenID Connect provider.
const (
	CheckClientSecret      CheckKind = "client secret"
	CheckAuthorizationCode CheckKind = "authorization code"
	CheckClientAssertion   CheckKind = "client assertion" // private_key_jwt (RFC 7523)
)

// ErrInvalidAuthorizationCode refuses the exchange of an authorization code,
// whatever was wrong with it (the provider's own checks answer it too).
var ErrInvalidAuthorizationCode = Errorf(CodeInvalidGrant, "The authorization code is not valid.")

// CodeInvalidScope is OAuth's refusal of a scope beyond the grant (RFC 6749
// 5.2), which the provider's token endpoint answers.
const CodeInvalidScope = "invalid_scope"

// clientClaims turns an access token's claims into those of a client's
// session (RFC 9068): audience the client, its client_id and scope, and no
// role: a client's token never acts as the user at Gatehouse's own API
// (whose audience is the issuer).
func clientClaims(c *guard.Claims, clientID, scope string) {
	c.Audience = jwt.ClaimStrings{clientID}
	c.Role = ""
	c.ClientID = clientID
	c.Scope = scope
}

// ClientSessionInput is an authorization code being exchanged: whose, for
// which client, from which browser session, and what was granted.
type ClientSessionInput struct {
	UserID   string
	ParentID string // the browser session that authorized
	ClientID string
	Scope    string
	AuthTime time.Time
	Offline  bool   // a refresh token too (scope offline_access)
	CodeHash string // the code this spends
	Client   Client // the client's address and user agent, for the sessions list
}

// StartClientSession spends an authorization code and creates the client's
// session with its access token (and refresh token when Offline), in one
// transaction: a code already spent is ErrCodeSpent, and an authorizing
// session that has ended, a disabled user or a revoked grant is
// invalid_grant. Beyond MaxSessionsPerUser live sessions of the user with
// this client, the least recently used of them end (the browser session
// that authorized them never does: first-party sessions have their own cap).
func (s *Sessions) StartClientSession(ctx context.Context, in ClientSessionInput) (*Tokens, error) {
	u, err := s.store.User(ctx, in.UserID)
	if ErrorCode(err) == CodeNotFound {
		return nil, ErrInvalidAuthorizationCode
	} else if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, ErrInvalidAuthorizationCode
	}
	if err := s.checkVerified(ctx, u); err != nil { // a browser session from before --require-verified-email
		return nil, ErrInvalidAuthorizationCode
	}
	// The client's session says how the user signed in to the browser
	// session that authorized it (amr: a second factor counts there too).
	parent, err := s.store.Session(ctx, in.ParentID, u.ID)
	if ErrorCode(err) == CodeNotFound {
		return nil, ErrInvalidAuthorizationCode
	} else if err != nil {
		return nil, err
	}
	now := s.now()
	sess := Session{ID: newID(), UserID: u.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(s.cfg.MaxAge),
		UserAgent: truncate(in.Client.UserAgent, 512), IP: in.Client.IP, AMR: parent.AMR, IDP: parent.IDP,
		ClientID: in.ClientID, Scope: in.Scope, ParentID: in.ParentID, AuthTime: in.AuthTime.UTC().Truncate(time.Millisecond)}
	start := ClientSessionStart{Session: sess, CodeHash: in.CodeHash, AccessLiveUntil: s.liveUntil(now),
		MaxLive: s.cfg.MaxSessionsPerUser, IdleSince: now.Add(-s.cfg.IdleTimeout), LiveUntil: s.liveUntil(now)}
	// Asked before the code is spent: a refused exchange leaves no session,
	// and the client may present the code again while it lasts.
	extra, err := s.hookBeforeStart(ctx, u, sess, "")
	if err != nil {
		return nil, err
	}
	raw, rt := "", RefreshToken{ExpiresAt: now}
	if in.Offline {
		raw, rt = s.newRefreshToken(sess, now)
		start.Refresh = &rt
	}
	ended, err := s.store.StartClientSession(ctx, start)
	if err != nil {
		if errors.Is(err, ErrCodeSpent) {
			return nil, ErrCodeSpent
		}
		if errors.Is(err, ErrCredentialsChanged) {
			return nil, ErrInvalidAuthorizationCode
		}
		return nil, fmt.Errorf("start client session: %w", err)
	}
	if len(ended) > 0 {
		s.ended(ctx, now, ended...)
		s.audit(ctx, EventClientSessionEnded, u.ID, fmt.Sprintf("%d least recently used sessions of client %s ended: at most %d live sessions per client",
			len(ended), in.ClientID, s.cfg.MaxSessionsPerUser))
	}
	return s.firstTokens(ctx, u, sess, raw, rt, now, extra)
}

// EndSessions ends the live sessions matching f (at once here, through the
// change feed elsewhere) and returns their ids.
func (s *Sessions) EndSessions(ctx context.Context, f SessionFilter) ([]string, error) {
	now := s.now()
	ids, err := s.store.RevokeSessions(ctx, f, now, s.liveUntil(now))
	if err != nil {
		return nil, fmt.Errorf("end sessions: %w", err)
	}
	s.ended(ctx, now, ids...)
	return ids, nil
}

// BrowserSession returns the live session id of userID with when its user
// authenticated (AuthTime: set by a login that records it, else the
// session's start, which is the password login's time).
func (s *Sessions) BrowserSession(ctx context.Context, id, userID string) (Session, error) {
	sess, err := s.store.Session(ctx, id, userID)
	if err != nil {
		return Session{}, err
	}
	if !s.now().Before(sess.ExpiresAt) {
		return Session{}, Errorf(CodeNotFound, "The session was not found.")
	}
	if sess.AuthTime.IsZero() {
		sess.AuthTime = sess.CreatedAt
	}
	return sess, nil
}
