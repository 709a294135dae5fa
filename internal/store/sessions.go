package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/pressly/goose/v3"
)

// CreateSession inserts a session and its first refresh token, with no
// check (tools and tests; logins go through StartSession).
func (s *Store) CreateSession(ctx context.Context, sess auth.Session, t auth.RefreshToken) error {
	return s.inTx(ctx, func(e execer) error { return insertSession(ctx, e, sess, &t, time.Time{}) })
}

// StartSession creates a login's session in one transaction that first
// re-reads the user (locking its row on PostgreSQL, so a concurrent
// password change, disable or demotion is ordered before or after it): if
// its password hash or role differ from what the login saw, or it is
// disabled or gone, nothing is created (auth.ErrCredentialsChanged). Then
// it ends the user's least recently used live sessions beyond the cap.
func (s *Store) StartSession(ctx context.Context, st auth.SessionStart) ([]string, error) {
	lock := ""
	if s.dialect == goose.DialectPostgres {
		lock = " FOR UPDATE"
	}
	var ended []string
	err := s.inTx(ctx, func(e execer) error {
		var hash, role string
		var disabled sql.NullInt64
		err := e.queryRow(ctx, `SELECT password_hash, role, disabled_at FROM users WHERE id = ?`+lock, st.Session.UserID).
			Scan(&hash, &role, &disabled)
		if errors.Is(err, sql.ErrNoRows) {
			return auth.ErrCredentialsChanged
		} else if err != nil {
			return err
		}
		if hash != st.PasswordHash || role != st.Role || disabled.Valid {
			return auth.ErrCredentialsChanged
		}
		if ended, err = endBeyondCap(ctx, e, st.Session.UserID, "", st.MaxLive, st.Session.CreatedAt, st.IdleSince, st.LiveUntil); err != nil {
			return err
		}
		return insertSession(ctx, e, st.Session, &st.Refresh, time.Time{})
	})
	return ended, err
}

// endBeyondCap revokes the user's least recently used live sessions of one
// kind, first-party (clientID "") or of one client, so that a new one makes
// at most maxLive of that kind; it returns the ids it ended (with, for a
// first-party session, the client sessions it authorized).
func endBeyondCap(ctx context.Context, e execer, userID, clientID string, maxLive int, now, idleSince, liveUntil time.Time) ([]string, error) {
	if maxLive <= 0 {
		return nil, nil
	}
	live, err := queryAll(ctx, e, nil, scanColumn[string], `SELECT id FROM sessions
		WHERE user_id = ? AND COALESCE(client_id, '') = ? AND revoked_at IS NULL AND expires_at > ? AND last_used_at > ?
		ORDER BY last_used_at DESC, id DESC`, userID, clientID, ms(now), ms(idleSince))
	if err != nil {
		return nil, err
	}
	if len(live) < maxLive {
		return nil, nil
	}
	// Keep maxLive-1, newest first, beside the new one; end the rest in id
	// order, the order every writer of several sessions locks them in.
	beyond := slices.Sorted(slices.Values(live[maxLive-1:]))
	var ended []string
	for _, id := range beyond {
		ids, err := revokeSessions(ctx, e, auth.SessionFilter{SessionID: id}, now, liveUntil)
		if err != nil {
			return nil, err
		}
		ended = append(ended, ids...)
	}
	return ended, nil
}

// insertSession inserts a session with its live refresh token t (nil for a
// session that has none), recording that its access tokens live until
// liveUntil (t's AccessLiveUntil when it is later).
func insertSession(ctx context.Context, e execer, sess auth.Session, t *auth.RefreshToken, liveUntil time.Time) error {
	amr := strings.Join(sess.AMR, " ")
	if amr == "" {
		amr = auth.AMRPassword
	}
	var hash sql.NullString
	var created, expires sql.NullInt64
	if t != nil {
		hash, created, expires = nullString(t.Hash), nullMS(t.CreatedAt), nullMS(t.ExpiresAt)
		if t.AccessLiveUntil.After(liveUntil) {
			liveUntil = t.AccessLiveUntil
		}
	}
	_, err := e.exec(ctx, `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip,
		amr, auth_time, client_id, scope, parent_id, refresh_hash, refresh_created_at, refresh_expires_at, tokens_live_until, idp)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sess.ID, sess.UserID, ms(sess.CreatedAt), ms(sess.LastUsedAt), ms(sess.ExpiresAt), sess.UserAgent, sess.IP,
		amr, nullMS(sess.AuthTime), nullString(sess.ClientID), sess.Scope, nullString(sess.ParentID),
		hash, created, expires, nullMS(liveUntil), sess.IDP)
	if err != nil {
		return err
	}
	data := events.Data{"user_id": sess.UserID, "session_id": sess.ID}
	if sess.ClientID != "" {
		data["client_id"] = sess.ClientID
	}
	return emit(ctx, e, events.New(events.SessionCreated, sess.CreatedAt, data))
}

// replaceRefreshToken makes t the only refresh token of its session: its
// spent tokens go (a password change or re-authentication starts a new chain).
func replaceRefreshToken(ctx context.Context, e execer, t auth.RefreshToken) error {
	if _, err := e.exec(ctx, `UPDATE sessions SET refresh_hash = ?, refresh_created_at = ?, refresh_expires_at = ? WHERE id = ?`,
		t.Hash, ms(t.CreatedAt), ms(t.ExpiresAt), t.SessionID); err != nil {
		return err
	}
	if err := deleteSpentTokens(ctx, e, t.SessionID); err != nil {
		return err
	}
	return extendTokensLive(ctx, e, t.SessionID, t.AccessLiveUntil)
}

// deleteSpentTokens forgets a session's spent refresh tokens, and its token
// from before tokens named their session.
func deleteSpentTokens(ctx context.Context, e execer, sessionID string) error {
	if _, err := e.exec(ctx, `DELETE FROM spent_refresh_tokens WHERE session_id = ?`, sessionID); err != nil {
		return err
	}
	_, err := e.exec(ctx, `DELETE FROM legacy_refresh_tokens WHERE session_id = ?`, sessionID)
	return err
}

// extendTokensLive records that an access token of the session lives (with
// leeway) until until, unless a longer one was issued before: a revocation of
// the session is kept that long, whatever the access-token lifetime of the
// instance that ends it.
func extendTokensLive(ctx context.Context, e execer, sessionID string, until time.Time) error {
	if until.IsZero() {
		return nil
	}
	_, err := e.exec(ctx, `UPDATE sessions SET tokens_live_until = ?
		WHERE id = ? AND (tokens_live_until IS NULL OR tokens_live_until < ?)`, ms(until), sessionID, ms(until))
	return err
}

const sessionColumns = "s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.user_agent, s.ip, s.revoked_at, " +
	"s.amr, s.auth_time, s.client_id, s.scope, s.parent_id, s.idp"

func scanSession(dest *auth.Session) []any {
	return []any{&dest.ID, &dest.UserID, msDest{&dest.CreatedAt}, msDest{&dest.LastUsedAt}, msDest{&dest.ExpiresAt},
		&dest.UserAgent, &dest.IP, msDest{&dest.RevokedAt}, amrDest{&dest.AMR}, msDest{&dest.AuthTime},
		strDest{&dest.ClientID}, &dest.Scope, strDest{&dest.ParentID}, &dest.IDP}
}

// amrDest scans the space-separated amr column into a list.
type amrDest struct{ amr *[]string }

func (d amrDest) Scan(v any) error {
	var s sql.NullString
	if err := s.Scan(v); err != nil {
		return err
	}
	*d.amr = strings.Fields(s.String)
	return nil
}

// strDest scans a nullable text column into a string ("" for NULL).
type strDest struct{ s *string }

func (d strDest) Scan(v any) error {
	var n sql.NullString
	if err := n.Scan(v); err != nil {
		return err
	}
	*d.s = n.String
	return nil
}

// msDest scans a nullable Unix-millisecond column into a time.Time (zero for NULL).
type msDest struct{ t *time.Time }

func (d msDest) Scan(v any) error {
	var n sql.NullInt64
	if err := n.Scan(v); err != nil {
		return err
	}
	*d.t = fromNullMS(n)
	return nil
}

// Session returns the live session id of user userID.
func (s *Store) Session(ctx context.Context, id, userID string) (auth.Session, error) {
	var sess auth.Session
	err := s.reader().queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions s
		WHERE s.id = ? AND s.user_id = ? AND s.revoked_at IS NULL`, id, userID).Scan(scanSession(&sess)...)
	if errors.Is(err, sql.ErrNoRows) {
		return sess, notFound("The session")
	}
	return sess, err
}

// RefreshToken reads a refresh token, live or spent, with its session.
func (s *Store) RefreshToken(ctx context.Context, key auth.RefreshKey) (auth.RefreshToken, auth.Session, error) {
	st, err := readRefresh(ctx, s.reader(), key, "")
	return st.Token, st.Session, err
}

// LegacyRefreshSession finds the session of a token issued before tokens
// named their session (migration 00012), by the token's hash.
func (s *Store) LegacyRefreshSession(ctx context.Context, hash string) (string, error) {
	var id string
	err := s.reader().queryRow(ctx, `SELECT session_id FROM legacy_refresh_tokens WHERE hash = ?`, hash).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("The refresh token")
	}
	return id, err
}

// Rotate reads a refresh token's state and applies decide's answer in one
// write transaction, so two concurrent refreshes of one token are ordered
// and cannot both rotate it. It is group-committed (batch.go) in the lane of
// the token's session, so the rotations of one session never wait for each
// other's row lock across lanes: decide runs on the writer, so it must be
// quick (no signing); Rotate returns once the rotation is committed.
//
// A rotation is three statements, all on the session's rows: one read of
// the session with its user (the user is read here, not from a cache, so a
// disable stops the next refresh at once on every instance), one update of
// the session (its new live token, last use and the access tokens'
// lifetime), and one insert of the spent token beside the session's others;
// on PostgreSQL the last two are one statement.
func (s *Store) Rotate(ctx context.Context, key auth.RefreshKey, decide func(auth.RefreshState) (auth.Rotation, error)) error {
	return s.inBatch(ctx, key.SessionID, func(ctx context.Context, e execer) error {
		st, err := readRefresh(ctx, e, key, s.lockRows("s"))
		if err != nil {
			return err
		}
		rot, err := decide(st)
		if err != nil {
			return err
		}
		if rot.Revoke {
			_, err := revokeSessions(ctx, e, auth.SessionFilter{SessionID: st.Session.ID}, rot.Now, rot.LiveUntil)
			return err
		}
		if rot.Successor == nil {
			return extendTokensLive(ctx, e, st.Session.ID, rot.AccessLiveUntil)
		}
		t := rot.Successor
		live := t.AccessLiveUntil
		if rot.AccessLiveUntil.After(live) {
			live = rot.AccessLiveUntil
		}
		update := []any{t.Hash, ms(t.CreatedAt), ms(t.ExpiresAt), ms(rot.Now), nullMS(live), nullMS(live), st.Session.ID}
		spent := []any{st.Session.ID, key.Hash, ms(rot.Now), base64.StdEncoding.EncodeToString(rot.SealedSuccessor)}
		if s.dialect == goose.DialectPostgres { // one statement, one round trip
			_, err := e.exec(ctx, `WITH s AS (`+rotateSession+` RETURNING id) `+insertSpent+` SELECT ?, ?, ?, ? FROM s`,
				append(update, spent...)...)
			return err
		}
		if _, err := e.exec(ctx, rotateSession, update...); err != nil {
			return err
		}
		_, err = e.exec(ctx, insertSpent+` VALUES (?, ?, ?, ?)`, spent...)
		return err
	})
}

// rotateSession gives a session its new live refresh token, last use and
// access tokens' lifetime; insertSpent keeps the token it replaced.
const (
	rotateSession = `UPDATE sessions SET refresh_hash = ?, refresh_created_at = ?, refresh_expires_at = ?, last_used_at = ?,
		tokens_live_until = CASE WHEN tokens_live_until IS NULL OR tokens_live_until < ? THEN ? ELSE tokens_live_until END
		WHERE id = ?`
	insertSpent = `INSERT INTO spent_refresh_tokens (session_id, hash, spent_at, successor)`
)

// selectRefresh reads a session's live token with the session and its user.
var selectRefresh = `SELECT ` + userColumnsOf("u") + `, s.refresh_hash, s.refresh_created_at, s.refresh_expires_at, ` +
	sessionColumns + ` FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`

// readRefresh reads the refresh token key finds, with its session and user:
// the session's live token when key's hash is that one's, else the
// session's spent token with that hash. A hash that is neither (a made-up
// token naming a real session) is not found. lock, in a rotation on
// PostgreSQL, locks the session row.
func readRefresh(ctx context.Context, e execer, key auth.RefreshKey, lock string) (auth.RefreshState, error) {
	var st auth.RefreshState
	var hash sql.NullString
	var created, expires sql.NullInt64
	u, err := scanUser(e.queryRow(ctx, selectRefresh+lock, key.SessionID),
		append([]any{&hash, &created, &expires}, scanSession(&st.Session)...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return st, notFound("The refresh token")
	} else if err != nil {
		return st, err
	}
	st.User = u
	st.Token = auth.RefreshToken{Hash: key.Hash, SessionID: st.Session.ID}
	if hash.Valid && subtle.ConstantTimeCompare([]byte(hash.String), []byte(key.Hash)) == 1 {
		st.Token.CreatedAt, st.Token.ExpiresAt = fromNullMS(created), fromNullMS(expires)
		return st, nil
	}
	// A statement of its own: on PostgreSQL it sees a rotation of this token
	// that committed while the lock above waited.
	var successor sql.NullString
	err = e.queryRow(ctx, `SELECT spent_at, successor FROM spent_refresh_tokens WHERE session_id = ? AND hash = ?`,
		key.SessionID, key.Hash).Scan(msDest{&st.Token.SpentAt}, &successor)
	if errors.Is(err, sql.ErrNoRows) {
		return st, notFound("The refresh token")
	} else if err != nil {
		return st, err
	}
	if successor.Valid {
		if st.Token.Successor, err = base64.StdEncoding.DecodeString(successor.String); err != nil {
			return st, err
		}
	}
	return st, nil
}

// RevokeSessions ends the live sessions matching f.
func (s *Store) RevokeSessions(ctx context.Context, f auth.SessionFilter, now, liveUntil time.Time) ([]string, error) {
	var ended []string
	err := s.inTx(ctx, func(e execer) error {
		var err error
		ended, err = revokeSessions(ctx, e, f, now, liveUntil)
		return err
	})
	return ended, err
}

// revokeSessions marks matching live sessions revoked, deletes their refresh
// tokens (they can never be used again) and adds them to the change feed,
// each kept until the longest access token issued for it has expired (at
// least until liveUntil, the end of one issued now).
func revokeSessions(ctx context.Context, e execer, f auth.SessionFilter, now, liveUntil time.Time) ([]string, error) {
	if f.SessionID == "" && f.UserID == "" && f.ClientID == "" {
		return nil, errors.New("revoke sessions: refusing an empty filter")
	}
	ids, err := queryAll(ctx, e, nil, scanColumn[string], `SELECT id FROM sessions
		WHERE revoked_at IS NULL AND (? = '' OR id = ?) AND (? = '' OR user_id = ?) AND (? = '' OR client_id = ?) AND id <> ?
		ORDER BY id`, // the order every writer of several sessions locks them in (see batcher.commit)
		f.SessionID, f.SessionID, f.UserID, f.UserID, f.ClientID, f.ClientID, f.ExceptID)
	if err != nil {
		return nil, err
	}
	var ended []string
	for i := 0; i < len(ids); i++ {
		id := ids[i]
		// RETURNING reads tokens_live_until after any refresh that committed
		// while this UPDATE waited for the row (PostgreSQL re-reads it), so a
		// token issued just before the revocation is covered too; a session
		// another transaction ended meanwhile is skipped.
		var tokensLive sql.NullInt64
		var userID, clientID string
		err := e.queryRow(ctx, `UPDATE sessions SET revoked_at = ?, refresh_hash = NULL WHERE id = ? AND revoked_at IS NULL
			RETURNING tokens_live_until, user_id, COALESCE(client_id, '')`, ms(now), id).Scan(&tokensLive, &userID, &clientID)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		} else if err != nil {
			return nil, err
		}
		if err := deleteSpentTokens(ctx, e, id); err != nil {
			return nil, err
		}
		until := liveUntil
		if t := fromNullMS(tokensLive); t.After(until) {
			until = t
		}
		e.logChange("session", id, until)
		data := events.Data{"user_id": userID, "session_id": id}
		if clientID != "" {
			data["client_id"] = clientID
		}
		if err := emit(ctx, e, events.New(events.SessionEnded, now, data)); err != nil {
			return nil, err
		}
		ended = append(ended, id)
		// The sessions of the OpenID Connect clients this session authorized
		// end with it. Read after its UPDATE, so a client session created
		// while that UPDATE waited for the row is seen.
		children, err := childSessions(ctx, e, id)
		if err != nil {
			return nil, err
		}
		ids = append(ids, children...)
	}
	return ended, nil
}

func childSessions(ctx context.Context, e execer, parentID string) ([]string, error) {
	return queryAll(ctx, e, nil, scanColumn[string], `SELECT id FROM sessions WHERE parent_id = ? AND revoked_at IS NULL`, parentID)
}

// PruneOptions says what Prune removes; a zero time removes nothing of its kind.
type PruneOptions struct {
	Now time.Time
	// RevokedBefore: sessions revoked before it (their rows; the change feed
	// keeps the revocations themselves as long as their tokens live).
	RevokedBefore time.Time
	// IdleBefore: sessions last used before it are past the idle timeout and
	// can never be refreshed again; they go with their refresh tokens.
	IdleBefore time.Time
	// SpentBefore: refresh tokens spent before it (the refresh TTL ago).
	SpentBefore time.Time
	// AuditBefore: audit events older than the retention.
	AuditBefore time.Time
}

// Prune deletes what no longer serves anything and returns how many rows it
// removed: sessions past their absolute end, idle past the idle timeout, or
// revoked long enough ago that no access token of theirs can live; refresh
// tokens expired or spent longer than the refresh TTL ago; change-feed entries
// that cover no live token (never the newest, whose seq the next one follows);
// retired signing keys; old audit events.
//
// Spent refresh tokens are what reuse detection reads: presenting one ends
// its session. So a spent token stays while it could still be replayed
// against a live session, and goes when the session ends (revoked: at once;
// expired or idle: here) or when it is older than a refresh token may live.
// Dropping them sooner would turn a replayed stolen token into a plain
// invalid_grant that leaves the thief's session running.
func (s *Store) Prune(ctx context.Context, p PruneOptions) (int64, error) {
	var total int64
	err := s.inTx(ctx, func(e execer) error {
		total = 0
		for _, q := range []struct {
			sql  string
			when time.Time
			args []any
		}{
			{`DELETE FROM sessions WHERE expires_at < ?`, p.Now, []any{ms(p.Now)}},
			{`DELETE FROM sessions WHERE revoked_at < ?`, p.RevokedBefore, []any{ms(p.RevokedBefore)}},
			{`DELETE FROM sessions WHERE revoked_at IS NULL AND last_used_at < ?`, p.IdleBefore, []any{ms(p.IdleBefore)}},
			{`DELETE FROM spent_refresh_tokens WHERE spent_at < ?`, p.SpentBefore, []any{ms(p.SpentBefore)}},
			// A legacy lookup goes with the last token it finds.
			{`DELETE FROM legacy_refresh_tokens WHERE
				NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = legacy_refresh_tokens.session_id AND s.refresh_hash = legacy_refresh_tokens.hash)
				AND NOT EXISTS (SELECT 1 FROM spent_refresh_tokens sp
					WHERE sp.session_id = legacy_refresh_tokens.session_id AND sp.hash = legacy_refresh_tokens.hash)`, p.Now, nil},
			{`DELETE FROM changes WHERE expires_at < ? AND seq < (SELECT MAX(seq) FROM changes)`, p.Now, []any{ms(p.Now)}},
			// A retired key verifies nothing; after a day its private half goes.
			{`DELETE FROM signing_keys WHERE retired_at < ?`, p.Now, []any{ms(p.Now.Add(-24 * time.Hour))}},
			{`DELETE FROM audit_events WHERE at < ?`, p.AuditBefore, []any{ms(p.AuditBefore)}},
			{`DELETE FROM mfa_challenges WHERE expires_at < ?`, p.Now, []any{ms(p.Now)}},
			{`DELETE FROM webauthn_ceremonies WHERE expires_at < ?`, p.Now, []any{ms(p.Now)}},
			// One-time links a day past their expiry (spent ones expire too).
			{`DELETE FROM one_time_tokens WHERE expires_at < ?`, p.Now, []any{ms(p.Now.Add(-24 * time.Hour))}},
			{`DELETE FROM link_requests WHERE created_at < ?`, p.Now, []any{ms(p.Now.Add(-24 * time.Hour))}}, // link requests a day old
			{`DELETE FROM oauth_assertions WHERE expires_at < ?`, p.Now, []any{ms(p.Now)}},                   // jtis of expired assertions
			// API keys revoked longer ago than a token lives (no longer listed,
			// their revocation out of the feed), or expired a month ago.
			{`DELETE FROM api_keys WHERE revoked_at < ? OR expires_at < ?`, p.RevokedBefore,
				[]any{ms(p.RevokedBefore), ms(p.Now.Add(-30 * 24 * time.Hour))}},
		} {
			if q.when.IsZero() {
				continue
			}
			res, err := e.exec(ctx, q.sql, q.args...)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			total += n
		}
		return nil
	})
	return total, err
}

// Sessions lists a page of the user's sessions that are neither revoked,
// nor past their absolute end, nor unused since f.UsedSince, newest first
// (by id, UUIDv7), with ids below f.Before when it is set.
func (s *Store) Sessions(ctx context.Context, f auth.SessionListFilter) ([]auth.Session, error) {
	scanSessionRow := func(r scanner) (auth.Session, error) {
		var sess auth.Session
		err := r.Scan(scanSession(&sess)...)
		return sess, err
	}
	return queryAll(ctx, s.reader(), []auth.Session{}, scanSessionRow, `SELECT `+sessionColumns+` FROM sessions s
		WHERE s.user_id = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND s.last_used_at > ? AND (? = '' OR s.id < ?)
		ORDER BY s.id DESC LIMIT ?`, f.UserID, ms(f.Now), ms(f.UsedSince), f.Before, f.Before, f.Limit)
}

// CountActiveSessions counts sessions neither revoked nor past their end.
func (s *Store) CountActiveSessions(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.reader().queryRow(ctx, `SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > ?`, ms(now)).Scan(&n)
	return n, err
}
