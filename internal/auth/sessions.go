package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Sessions are logins and what follows them: the MFA step, refresh,
// logout, the sessions list, re-authentication, a password change that
// keeps the session, and the OpenID Connect clients' sessions.
type Sessions struct {
	*core
	*issuer
	store   sessionsStore
	hasher  Hasher
	checks  *Checks
	factors *Factors // the second step of a login
}

// issuer signs a session's access tokens and mints its refresh tokens.
type issuer struct {
	*core
	store  issuerStore
	signer Signer
	orgs   OrgSessions // nil: no organizations
	hook   TokenHook   // nil: none
}

// startSession creates the session of a login that verified hash for u:
// every login, whatever proved who the user is, ends here, so the rules of
// the account itself (--require-verified-email) are checked here. amr says
// how the user authenticated (RFC 8176). The store re-checks, in the
// transaction that creates it, that u's hash, role and disabled state are
// still what the login saw (else ErrCredentialsChanged), and ends u's least
// recently used live sessions beyond the cap.
//
// orgID, when not empty, is the organization the session acts in from the
// start (the caller checked the membership; a membership gone meanwhile
// leaves the session in none); idp, when not empty, the upstream provider
// the login came through (the session's tokens name it).
//
// The token hook is asked before the session is written (hookBeforeStart).
func (s *issuer) startSession(ctx context.Context, u User, hash string, c Client, amr []string, orgID, idp string) (*Tokens, error) {
	if err := s.checkVerified(ctx, u); err != nil {
		return nil, err
	}
	now := s.now()
	sess := Session{
		ID: newID(), UserID: u.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(s.cfg.MaxAge),
		UserAgent: truncate(c.UserAgent, 512), IP: c.IP, AMR: amr, AuthTime: now, IDP: idp,
	}
	extra, err := s.hookBeforeStart(ctx, u, sess, orgID)
	if err != nil {
		return nil, err
	}
	raw, rt := s.newRefreshToken(sess, now)
	ended, err := s.store.StartSession(ctx, SessionStart{Session: sess, Refresh: rt, PasswordHash: hash, Role: u.Role,
		MaxLive: s.cfg.MaxSessionsPerUser, IdleSince: now.Add(-s.cfg.IdleTimeout), LiveUntil: s.liveUntil(now)})
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	if len(ended) > 0 {
		s.ended(ctx, now, ended...)
		s.audit(ctx, EventSessionEnded, u.ID, fmt.Sprintf("%d least recently used sessions ended: at most %d live sessions",
			len(ended), s.cfg.MaxSessionsPerUser))
	}
	if orgID != "" {
		if err := s.enterOrg(ctx, sess, orgID); err != nil && ErrorCode(err) != CodeNotFound {
			return nil, err
		}
	}
	return s.firstTokens(ctx, u, sess, raw, rt, now, extra)
}

// hookBeforeStart asks the token hook, if there is one, for the claims of
// the first access token of sess, a session not yet written (acting in
// orgID from the start, when not empty): a login or code exchange the hook
// refuses leaves no session behind, nor its session.created and
// session.ended events, and is audited as a failed login. The hook is told
// the organization's membership as it is now; the token carries it as it
// is when signed (none, should it end in between).
func (s *issuer) hookBeforeStart(ctx context.Context, u User, sess Session, orgID string) (map[string]any, error) {
	if s.hook == nil {
		return nil, nil
	}
	in := TokenHookInput{User: u, Session: sess, ClientID: sess.ClientID, Scope: sess.Scope}
	if orgID != "" && sess.ClientID == "" {
		role, err := s.memberRole(ctx, orgID, u.ID)
		if err == nil {
			in.OrgID, in.OrgRole = orgID, role
		} else if ErrorCode(err) != CodeNotFound {
			return nil, err
		}
	}
	extra, err := s.hook.Claims(ctx, in)
	if err != nil {
		detail := "no session: the token hook failed or refused"
		if sess.ClientID != "" {
			detail += " (client " + sess.ClientID + ")"
		}
		s.audit(ctx, EventLoginFailed, u.ID, detail)
		return nil, err
	}
	return extra, nil
}

// Refresh rotates a refresh token. A spent token replayed within the grace
// window gets the same successor; outside it, the session is revoked.
//
// The store group-commits rotations on its writer, where decide runs: so
// decide only decides. The successor and its sealed copy are made before,
// and the access token is signed after the commit, never on the writer.
func (s *Sessions) Refresh(ctx context.Context, raw string) (*Tokens, error) {
	return s.RefreshFor(ctx, raw, "", "")
}

// RefreshFor is Refresh for the refresh tokens of one OpenID Connect client
// (clientID; "" for Gatehouse's own sessions): a token of another client's
// session, or of a first-party one, is invalid_grant and left untouched.
// scope, when it has values, narrows the access token to them (RFC 6749 6;
// Tokens.Scope): a value the session was not granted is invalid_scope, and
// the token is not spent. The session keeps its granted scope, which a
// later refresh without scope gets again.
func (s *Sessions) RefreshFor(ctx context.Context, raw, clientID, scope string) (*Tokens, error) {
	return s.refresh(ctx, raw, clientID, scope, "")
}

// refresh is RefreshFor; orgID, when not empty, is the organization the
// session acts in from this rotation on (entered once the rotation
// committed, before the access token is signed).
func (s *Sessions) refresh(ctx context.Context, raw, clientID, scope, orgID string) (_ *Tokens, err error) {
	defer func() {
		if err != nil {
			s.count("refresh_failed")
		} else {
			s.count("refresh_succeeded")
		}
	}()
	// A refresh token is a secret: every refusal is audited (reuse with
	// its own event); the route's per-address limit bounds the guessing.
	refused := func(why string) (*Tokens, error) {
		s.audit(ctx, EventRefreshRefused, "", why)
		return nil, errInvalidGrant
	}
	key, err := s.refreshKey(ctx, raw)
	if ErrorCode(err) == CodeNotFound {
		return refused("not a refresh token of this server")
	} else if err != nil {
		return nil, err
	}
	// The token hook is asked before the rotation: when it refuses, the
	// presented token stays unspent and the client may simply try again.
	extra, err := s.hookBeforeRotation(ctx, key, clientID, scope)
	if ErrorCode(err) == CodeNotFound {
		return refused("session " + key.SessionID + ": no such live token for this client")
	} else if err != nil {
		return nil, err
	}
	next := newRefreshSecret(key.SessionID)
	sealed, err := sealSuccessor(raw, next)
	if err != nil {
		return nil, err
	}
	ask := refreshAsk{ClientID: clientID, Scope: scope}
	p, err := rotateWith(ctx, s.store, key, func(state RefreshState) refreshPlan {
		return s.planRefresh(state, ask, raw, next, sealed)
	})
	if ErrorCode(err) == CodeNotFound {
		return refused("session " + key.SessionID + ": unknown, expired or ended token, or another client's")
	}
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	st := p.State
	if p.Decision.Outcome == revokeForReuse {
		s.ended(ctx, s.now(), st.Session.ID)
		s.log.Warn("security: refresh token reuse detected; session revoked", "session", st.Session.ID)
		s.audit(ctx, EventRefreshReuse, st.User.ID, "session "+st.Session.ID+" revoked")
		return nil, errInvalidGrant
	}
	if orgID != "" {
		if err := s.enterOrg(ctx, st.Session, orgID); err != nil && ErrorCode(err) != CodeNotFound {
			return nil, err
		}
	}
	return s.mint(ctx, st.User, st.Session, p.Decision.Scope, p.Issue, p.Refresh, p.IssuedAt, extra)
}

// hookBeforeRotation asks the token hook, if there is one, for the claims
// of the access token a refresh of key's token would mint, from the token's
// session and user as they are now (two reads, only with a hook). A token
// the rotation would refuse anyway (another client's, an ended session's)
// is not shown to the hook.
func (s *issuer) hookBeforeRotation(ctx context.Context, key RefreshKey, clientID, scope string) (map[string]any, error) {
	if s.hook == nil {
		return nil, nil
	}
	_, sess, err := s.store.RefreshToken(ctx, key)
	if err != nil {
		return nil, err
	}
	if sess.ClientID != clientID || !sess.RevokedAt.IsZero() {
		return nil, errNoRefreshToken
	}
	u, err := s.store.User(ctx, sess.UserID)
	if err != nil {
		return nil, err
	}
	if narrowed, ok := narrowScope(sess.Scope, scope); ok {
		scope = narrowed
	}
	// The organization the session acts in now (a refresh that switches
	// it is told of the one it leaves: the hook runs before the switch).
	var org guard.Claims
	if err := s.orgClaims(ctx, &org, sess); err != nil {
		return nil, err
	}
	return s.hook.Claims(ctx, TokenHookInput{User: u, Session: sess, ClientID: sess.ClientID, Scope: scope, OrgID: org.OrgID, OrgRole: org.OrgRole})
}

// refreshPlan is what a refresh decided inside the rotation's transaction:
// the store's part (Rotation, or Err to write nothing) and what to answer
// with once it has committed.
type refreshPlan struct {
	Rotation Rotation
	Err      error
	State    RefreshState // what the store read
	Decision rotationDecision
	IssuedAt time.Time
	Issue    string       // the refresh token to hand out; "" for none
	Refresh  RefreshToken // what the answer says of it
}

// planRefresh decides, at the time it runs, the refresh of state's token
// presented as raw with ask: next is the successor to issue on a rotation,
// sealed is next sealed under raw.
func (s *issuer) planRefresh(state RefreshState, ask refreshAsk, raw, next string, sealed []byte) refreshPlan {
	now := s.now()
	var successor string
	if !state.Token.SpentAt.IsZero() {
		var err error
		successor, err = openSuccessor(raw, state.Token.Successor)
		ask.OpensSuccessor = err == nil
	}
	rules := rotationRules{IdleTimeout: s.cfg.IdleTimeout, ReuseGrace: s.cfg.ReuseGrace, RefreshTTL: s.cfg.RefreshTTL}
	p := refreshPlan{State: state, Decision: decideRotation(state, ask, now, rules), IssuedAt: now}
	switch p.Decision.Outcome {
	case refuseRefresh:
		p.Err = p.Decision.Err
	case revokeForReuse:
		p.Rotation = Rotation{Revoke: true, LiveUntil: s.liveUntil(now), Now: now}
	case replaySuccessor:
		// An access token goes out without a new refresh token: its
		// session's revocation must cover it.
		p.Issue, p.Refresh = successor, RefreshToken{ExpiresAt: p.Decision.ReplayExpiresAt}
		p.Rotation = Rotation{AccessLiveUntil: s.liveUntil(now)}
	default:
		p.Issue, p.Refresh = next, s.refreshToken(state.Session, next, now)
		p.Rotation = Rotation{Successor: &p.Refresh, SealedSuccessor: sealed, Now: now}
	}
	return p
}

// rotateWith runs the store's rotation of key's token with plan deciding it,
// and returns the plan the store applied (the last asked, should the store
// ask again).
func rotateWith(ctx context.Context, store sessionsStore, key RefreshKey, plan func(RefreshState) refreshPlan) (refreshPlan, error) {
	var applied refreshPlan
	err := store.Rotate(ctx, key, func(state RefreshState) (Rotation, error) {
		applied = plan(state)
		return applied.Rotation, applied.Err
	})
	return applied, err
}

// narrowScope is the scope a refresh asking for asked gets of a session
// granted granted: asked's distinct values, each of which granted must
// have (else ok is false); asked without values is the whole grant.
func narrowScope(granted, asked string) (scope string, ok bool) {
	have := strings.Fields(granted)
	var out []string
	for _, v := range strings.Fields(asked) {
		if !slices.Contains(have, v) {
			return "", false
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return granted, true
	}
	return strings.Join(out, " "), true
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
func (s *Sessions) Logout(ctx context.Context, in LogoutInput) error {
	f, detail := SessionFilter{SessionID: in.SessionID}, "session "+in.SessionID
	if in.All {
		f, detail = SessionFilter{UserID: in.UserID}, "all sessions"
	}
	if _, err := s.EndSessions(ctx, f); err != nil {
		return err
	}
	s.audit(ctx, EventLogout, in.UserID, detail)
	return nil
}

// LogoutRefresh ends the session of a refresh token (the web UI's cookie).
func (s *Sessions) LogoutRefresh(ctx context.Context, raw string, all bool) error {
	_, sess, err := s.RefreshTokenState(ctx, raw)
	if ErrorCode(err) == CodeNotFound {
		return errInvalidGrant
	} else if err != nil {
		return err
	}
	return s.Logout(ctx, LogoutInput{SessionID: sess.ID, UserID: sess.UserID, All: all})
}

// SessionPage selects a page of GET /me/sessions: Limit (1 to 200; 0 means
// 50) sessions older than the one whose id is Cursor ("" for the newest).
type SessionPage struct {
	Cursor string
	Limit  int
}

// Sessions lists a page of the user's live sessions (not revoked, not past
// their absolute end, not idle past the idle timeout), newest first, and the
// cursor of the next page ("" when this is the last).
func (s *Sessions) Sessions(ctx context.Context, userID string, p SessionPage) ([]Session, string, error) {
	if p.Limit == 0 {
		p.Limit = 50
	}
	if p.Limit < 1 || p.Limit > 200 {
		return nil, "", Errorf(CodeInvalidRequest, "The limit must be a whole number from 1 to 200.")
	}
	now := s.now()
	list, err := s.store.Sessions(ctx, SessionListFilter{UserID: userID, Before: p.Cursor, Limit: p.Limit + 1,
		Now: now, UsedSince: now.Add(-s.cfg.IdleTimeout)})
	if err != nil {
		return nil, "", err
	}
	if len(list) > p.Limit {
		return list[:p.Limit], list[p.Limit-1].ID, nil
	}
	return list, "", nil
}

// EndSession ends one of the user's own sessions; another user's session is
// not found.
func (s *Sessions) EndSession(ctx context.Context, userID, sessionID string) error {
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
func (s *Sessions) EndOtherSessions(ctx context.Context, userID, currentSessionID string) error {
	now := s.now()
	ended, err := s.store.RevokeSessions(ctx, SessionFilter{UserID: userID, ExceptID: currentSessionID}, now, s.liveUntil(now))
	if err != nil {
		return fmt.Errorf("end other sessions: %w", err)
	}
	s.ended(ctx, now, ended...)
	s.audit(ctx, EventSessionEnded, userID, fmt.Sprintf("%d other sessions", len(ended)))
	return nil
}

func (s *issuer) tokens(ctx context.Context, u User, sess Session, rawRefresh string, rt RefreshToken, now time.Time) (*Tokens, error) {
	return s.scopedTokens(ctx, u, sess, sess.Scope, rawRefresh, rt, now)
}

// firstTokens is tokens for a session just started, with extra, the claims
// the token hook gave before it was (hookBeforeStart): should they not be
// issued after all (organization claims unreadable, the signer failing),
// the session ends at once rather than stay behind without anyone holding
// its refresh token.
func (s *issuer) firstTokens(ctx context.Context, u User, sess Session, rawRefresh string, rt RefreshToken, now time.Time, extra map[string]any) (*Tokens, error) {
	t, err := s.mint(ctx, u, sess, sess.Scope, rawRefresh, rt, now, extra)
	if err == nil {
		return t, nil
	}
	ended, rerr := s.store.RevokeSessions(context.WithoutCancel(ctx), SessionFilter{SessionID: sess.ID}, now, s.liveUntil(now))
	if rerr != nil {
		s.log.Error("a session whose tokens were refused was not ended", "session", sess.ID, "err", rerr)
	}
	s.ended(ctx, now, ended...)
	return nil, err
}

// scopedTokens is tokens whose access token, for a client session, carries
// scope (the session's granted scope or, after a narrowed refresh, less).
//
// A first-party session acting in an organization (OrgSessions) gets its
// membership's claims as they are now, read after the session's rotation
// committed: never wider than the membership at this moment.
//
// The token hook is asked here, once, for the access tokens of a session
// that goes on (a password change, a re-authentication): a refresh's is
// asked before its rotation (hookBeforeRotation), a new session's before it
// is written (hookBeforeStart). Its claims join the token's, or its refusal
// is the answer.
func (s *issuer) scopedTokens(ctx context.Context, u User, sess Session, scope, rawRefresh string, rt RefreshToken, now time.Time) (*Tokens, error) {
	extra, err := s.hookClaims(ctx, u, sess, scope)
	if err != nil {
		return nil, err
	}
	return s.mint(ctx, u, sess, scope, rawRefresh, rt, now, extra)
}

// hookClaims asks the token hook, if there is one, for the claims of an
// access token of sess (a session that exists) with scope.
func (s *issuer) hookClaims(ctx context.Context, u User, sess Session, scope string) (map[string]any, error) {
	if s.hook == nil {
		return nil, nil
	}
	var org guard.Claims
	if err := s.orgClaims(ctx, &org, sess); err != nil {
		return nil, err
	}
	return s.hook.Claims(ctx, TokenHookInput{User: u, Session: sess, ClientID: sess.ClientID, Scope: scope,
		OrgID: org.OrgID, OrgRole: org.OrgRole})
}

// mint signs the access token of sess (with extra, the token hook's
// claims) and makes the answer: every access token is minted here.
func (s *issuer) mint(ctx context.Context, u User, sess Session, scope, rawRefresh string, rt RefreshToken, now time.Time, extra map[string]any) (*Tokens, error) {
	exp := now.Add(s.cfg.AccessTTL)
	claims := &guard.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.cfg.Issuer, Subject: u.ID, Audience: jwt.ClaimStrings{s.cfg.Audience},
			ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ID: newID(),
		},
		SessionID: sess.ID, Role: u.Role, EmailVerified: u.EmailVerified, AMR: sess.AMR, AuthTime: authTime(sess),
		IDP: sess.IDP,
	}
	if sess.ClientID != "" {
		clientClaims(claims, sess.ClientID, scope)
	}
	if err := s.orgClaims(ctx, claims, sess); err != nil {
		return nil, err
	}
	claims.Extra = extra
	access, err := s.signer.Sign(claims)
	if err != nil {
		return nil, fmt.Errorf("sign access token: %w", err)
	}
	out := &Tokens{
		AccessToken: access, ExpiresIn: s.cfg.AccessTTL,
		RefreshToken: rawRefresh, RefreshExpiresIn: rt.ExpiresAt.Sub(now),
		SessionID: sess.ID, User: u, Session: sess, Scope: scope,
	}
	if rawRefresh == "" {
		out.RefreshExpiresIn = 0
	}
	return out, nil
}

// authTime is the session's auth_time claim: when its user last proved who
// they are (its start, for sessions older than the column).
func authTime(sess Session) *jwt.NumericDate {
	t := sess.AuthTime
	if t.IsZero() {
		t = sess.CreatedAt
	}
	return jwt.NewNumericDate(t)
}

// newRefreshToken makes a refresh token of sess and its stored form; it
// never outlives its session.
func (s *issuer) newRefreshToken(sess Session, now time.Time) (string, RefreshToken) {
	raw := newRefreshSecret(sess.ID)
	return raw, s.refreshToken(sess, raw, now)
}

// newRefreshSecret is a refresh token of the session sessionID:
// "<session id>.<256 random bits, base64url>". The session id lets the
// store find the token by its session's rows (see RefreshKey); only the
// random part is secret, and only a hash of the whole is stored.
func newRefreshSecret(sessionID string) string {
	return sessionID + "." + newSecretToken()
}

// errNoRefreshToken is a presented refresh token that is not one of ours.
var errNoRefreshToken = Errorf(CodeNotFound, "The refresh token was not found.")

// refreshKey is how the store finds the refresh token raw. A token from
// before tokens named their session (43 characters, no dot) is found by its
// hash; anything that is neither form is not found, without a read.
func (s *issuer) refreshKey(ctx context.Context, raw string) (RefreshKey, error) {
	sessionID, secret, named := strings.Cut(raw, ".")
	if !named {
		if !isSecretToken(raw) {
			return RefreshKey{}, errNoRefreshToken
		}
		hash := hashToken(raw)
		sessionID, err := s.store.LegacyRefreshSession(ctx, hash)
		return RefreshKey{SessionID: sessionID, Hash: hash}, err
	}
	if len(sessionID) != 36 || uuid.Validate(sessionID) != nil || !isSecretToken(secret) { // the canonical form only
		return RefreshKey{}, errNoRefreshToken
	}
	return RefreshKey{SessionID: sessionID, Hash: hashToken(raw)}, nil
}

// RefreshTokenState reads the refresh token raw (live or spent) with its
// session: not_found for anything else.
func (s *Sessions) RefreshTokenState(ctx context.Context, raw string) (RefreshToken, Session, error) {
	key, err := s.refreshKey(ctx, raw)
	if err != nil {
		return RefreshToken{}, Session{}, err
	}
	return s.store.RefreshToken(ctx, key)
}

// refreshToken is the stored form of raw, issued at now for sess.
func (s *issuer) refreshToken(sess Session, raw string, now time.Time) RefreshToken {
	exp := now.Add(s.cfg.RefreshTTL)
	if sess.ExpiresAt.Before(exp) {
		exp = sess.ExpiresAt
	}
	// Every refresh token goes out with an access token signed at now.
	return RefreshToken{Hash: hashToken(raw), SessionID: sess.ID, CreatedAt: now, ExpiresAt: exp,
		AccessLiveUntil: s.liveUntil(now)}
}

var (
	errInvalidGrant = Errorf(CodeInvalidGrant, "The refresh token is not valid.")
	errInvalidScope = Errorf(CodeInvalidScope, "The scope asked exceeds what was granted.")
)

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

// ChangePassword checks the current password (through the guarded path,
// like a login), sets the new one and ends every other session of the user.
// The caller's session goes on with new tokens: its earlier refresh tokens
// are spent, so one stolen under the old password is worthless too.
func (s *Sessions) ChangePassword(ctx context.Context, in ChangePasswordInput) (*Tokens, error) {
	userID, next := in.UserID, in.New
	u, err := s.checks.checkPassword(ctx, CheckPasswordChange, userID, in.Current, in.Client)
	if err != nil {
		return nil, err
	}
	sess, err := s.store.Session(ctx, in.SessionID, userID)
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
	return s.tokens(ctx, u, sess, raw, rt, now)
}

// Reauthenticate checks one secret through the guarded path (the same
// limits as a login) and renews the session's auth_time; the method joins
// the session's amr (a password session re-authenticated with a code has
// proved two factors: mfa). The session goes on with new tokens.
func (s *Sessions) Reauthenticate(ctx context.Context, in ReauthInput) (*Tokens, error) {
	given := 0
	for _, v := range []string{in.Password, in.Code, in.RecoveryCode} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		return nil, Errorf(CodeInvalidRequest, "Send one of password, code or recovery_code.")
	}
	if in.Client != (Client{}) {
		ctx = WithClient(ctx, in.Client)
	}
	sess, err := s.store.Session(ctx, in.SessionID, in.UserID)
	if err != nil {
		return nil, err
	}
	var u User
	method := AMRPassword
	if in.Password != "" {
		if u, err = s.checks.checkPassword(ctx, CheckReauth, in.UserID, in.Password, in.Client); err != nil {
			return nil, err
		}
	} else {
		if u, err = s.store.User(ctx, in.UserID); err != nil {
			return nil, err
		}
		method = AMROTP
		if err := s.factors.checkSecondFactor(ctx, u, in.Code, in.RecoveryCode, errInvalidCode); err != nil {
			return nil, err
		}
	}
	now := s.now()
	sess.AMR, sess.AuthTime = addAMR(sess.AMR, method), now
	return s.reauthenticated(ctx, u, sess, now, "session "+sess.ID+" with "+method)
}

// reauthenticated records sess (its new AMR and auth time) as proven again
// at now, with a new refresh token, and answers its tokens. The token hook
// is asked first: a refusal leaves the session as it was, not recently
// authenticated (sensitive actions read the stored auth time).
func (s *issuer) reauthenticated(ctx context.Context, u User, sess Session, now time.Time, detail string) (*Tokens, error) {
	extra, err := s.hookClaims(ctx, u, sess, sess.Scope)
	if err != nil {
		return nil, err
	}
	raw, rt := s.newRefreshToken(sess, now)
	if err := s.store.Reauthenticate(ctx, sess.ID, sess.AMR, now, rt); err != nil {
		return nil, fmt.Errorf("reauthenticate: %w", err)
	}
	s.audit(ctx, EventReauthenticated, u.ID, detail)
	return s.mint(ctx, u, sess, sess.Scope, raw, rt, now, extra)
}
