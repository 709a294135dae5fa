package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
)

// The OpenID Connect provider's tables (migration 00009): clients, codes,
// grants; client sessions are rows of sessions with client_id set.

const clientColumns = "id, name, secret_hash, redirect_uris, post_logout_redirect_uris, public, scopes, id_token_alg, require_consent, require_pkce, created_at, " +
	"grant_types, audiences, jwks, jwks_uri, disabled, revocation_id, introspect"

func scanClient(row scanner) (oidc.Client, error) {
	var c oidc.Client
	var secret sql.NullString
	var redirects, logouts, scopes, grants, audiences string
	var public, consent, pkce, disabled, introspect int64
	err := row.Scan(&c.ID, &c.Name, &secret, &redirects, &logouts, &public, &scopes, &c.IDTokenAlg, &consent, &pkce, msDest{&c.CreatedAt},
		&grants, &audiences, &c.JWKS, &c.JWKSURI, &disabled, &c.RevocationID, &introspect)
	c.SecretHash, c.Public, c.RequireConsent, c.RequirePKCE, c.Disabled = secret.String, public != 0, consent != 0, pkce != 0, disabled != 0
	c.Introspect = introspect != 0
	c.RedirectURIs, c.PostLogoutRedirectURIs, c.Scopes = strings.Fields(redirects), strings.Fields(logouts), strings.Fields(scopes)
	c.GrantTypes, c.Audiences = strings.Fields(grants), strings.Fields(audiences)
	return c, err
}

// CreateClient inserts a client.
func (s *Store) CreateClient(ctx context.Context, c oidc.Client) error {
	return s.inTx(ctx, func(e execer) error {
		_, err := e.exec(ctx, `INSERT INTO oauth_clients (`+clientColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Name, nullString(c.SecretHash), strings.Join(c.RedirectURIs, " "), strings.Join(c.PostLogoutRedirectURIs, " "),
			boolInt(c.Public), strings.Join(c.Scopes, " "), c.IDTokenAlg, boolInt(c.RequireConsent), boolInt(c.RequirePKCE), ms(c.CreatedAt),
			strings.Join(c.GrantTypes, " "), strings.Join(c.Audiences, " "), c.JWKS, c.JWKSURI, boolInt(c.Disabled), c.RevocationID, boolInt(c.Introspect))
		if isUniqueViolation(err) {
			return auth.Errorf(auth.CodeAlreadyExists, "A client with this id already exists.")
		} else if err != nil {
			return err
		}
		return emit(ctx, e, events.New(events.ClientCreated, c.CreatedAt, events.Data{"client_id": c.ID}))
	})
}

// Client returns the client with id.
func (s *Store) Client(ctx context.Context, id string) (oidc.Client, error) {
	c, err := scanClient(s.reader().queryRow(ctx, `SELECT `+clientColumns+` FROM oauth_clients WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("The client")
	}
	return c, err
}

// Clients lists every client, oldest first.
func (s *Store) Clients(ctx context.Context) ([]oidc.Client, error) {
	return queryAll(ctx, s.reader(), []oidc.Client{}, scanClient, `SELECT `+clientColumns+` FROM oauth_clients ORDER BY created_at, id`)
}

// UpdateClient replaces a client's settings (not its id, secret, public
// flag or grant types) at now, and puts the client in the change feed; end,
// when set, ends its client_credentials tokens in the same transaction.
func (s *Store) UpdateClient(ctx context.Context, c oidc.Client, now time.Time, end *oidc.TokensEnd) error {
	return s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `UPDATE oauth_clients SET name = ?, redirect_uris = ?, post_logout_redirect_uris = ?,
			scopes = ?, id_token_alg = ?, require_consent = ?, require_pkce = ?, audiences = ?, jwks = ?, jwks_uri = ?, disabled = ?, introspect = ?
			WHERE id = ?`,
			c.Name, strings.Join(c.RedirectURIs, " "), strings.Join(c.PostLogoutRedirectURIs, " "), strings.Join(c.Scopes, " "),
			c.IDTokenAlg, boolInt(c.RequireConsent), boolInt(c.RequirePKCE), strings.Join(c.Audiences, " "), c.JWKS, c.JWKSURI,
			boolInt(c.Disabled), boolInt(c.Introspect), c.ID)
		if err := affectedOne(res, err, "The client"); err != nil {
			return err
		}
		return clientChanged(ctx, e, c.ID, now, end)
	})
}

// SetClientSecret replaces a confidential client's secret hash at now, and
// puts the client in the change feed; end, when set, ends its
// client_credentials tokens in the same transaction.
func (s *Store) SetClientSecret(ctx context.Context, id, hash string, now time.Time, end *oidc.TokensEnd) error {
	return s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `UPDATE oauth_clients SET secret_hash = ? WHERE id = ? AND public = 0`, hash, id)
		if err := affectedOne(res, err, "The confidential client"); err != nil {
			return err
		}
		return clientChanged(ctx, e, id, now, end)
	})
}

// clientChanged ends a service client's tokens with end (when set) and puts
// the client in the change feed, so that every instance forgets its copy
// (auth.Feed.SyncChanges), however the change was made.
func clientChanged(ctx context.Context, e execer, id string, now time.Time, end *oidc.TokensEnd) error {
	if err := endClientTokens(ctx, e, id, end); err != nil {
		return err
	}
	e.logChange("client", id, now.Add(clientChangesKept))
	return nil
}

// endClientTokens puts a service client's revocation id in the change feed
// and gives it the next, if it still has end.Old (a concurrent end already
// did, or will, publish it otherwise).
func endClientTokens(ctx context.Context, e execer, id string, end *oidc.TokensEnd) error {
	if end == nil {
		return nil
	}
	res, err := e.exec(ctx, `UPDATE oauth_clients SET revocation_id = ? WHERE id = ? AND revocation_id = ?`, end.New, id, end.Old)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return auth.Errorf(auth.CodeAlreadyExists, "The client changed meanwhile; try again.")
	}
	if end.Old != "" {
		e.logChange("session", end.Old, end.LiveUntil)
	}
	return nil
}

// DeleteClient ends the client's sessions and client_credentials tokens,
// and deletes it with its codes, grants and assertions, in one transaction
// that puts the client in the change feed.
func (s *Store) DeleteClient(ctx context.Context, id string, now, liveUntil time.Time) ([]string, error) {
	var ended []string
	err := s.inTx(ctx, func(e execer) error {
		var err error
		if ended, err = revokeSessions(ctx, e, auth.SessionFilter{ClientID: id}, now, liveUntil); err != nil {
			return err
		}
		var rid string
		if err := e.queryRow(ctx, `SELECT revocation_id FROM oauth_clients WHERE id = ?`, id).Scan(&rid); errors.Is(err, sql.ErrNoRows) {
			return notFound("The client")
		} else if err != nil {
			return err
		}
		if rid != "" {
			e.logChange("session", rid, liveUntil)
			ended = append(ended, rid)
		}
		for _, q := range []string{`DELETE FROM oauth_codes WHERE client_id = ?`, `DELETE FROM oauth_grants WHERE client_id = ?`,
			`DELETE FROM oauth_assertions WHERE client_id = ?`} {
			if _, err := e.exec(ctx, q, id); err != nil {
				return err
			}
		}
		res, err := e.exec(ctx, `DELETE FROM oauth_clients WHERE id = ?`, id)
		if err := affectedOne(res, err, "The client"); err != nil {
			return err
		}
		e.logChange("client", id, now.Add(clientChangesKept))
		return emit(ctx, e, events.New(events.ClientRemoved, now, events.Data{"client_id": id}))
	})
	return ended, err
}

// SpendAssertion records a private_key_jwt assertion's jti until it
// expires. A jti the client used before is refused while its row lives; an
// expired row (not yet pruned) is taken over. The primary key decides
// between instances. It is group-committed with the other short writes
// (batch.go): one insert a grant would otherwise be one commit a grant.
func (s *Store) SpendAssertion(ctx context.Context, clientID, jti string, expires, now time.Time) (bool, error) {
	var n int64
	err := s.inBatch(ctx, clientID, func(ctx context.Context, e execer) error {
		res, err := e.exec(ctx, `INSERT INTO oauth_assertions (client_id, jti, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE oauth_assertions.expires_at < ?`,
			clientID, jti, ms(expires), ms(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

// CreateCode stores an authorization code.
func (s *Store) CreateCode(ctx context.Context, c oidc.Code) error {
	_, err := s.writer().exec(ctx, `INSERT INTO oauth_codes (hash, client_id, user_id, session_id, redirect_uri, code_challenge,
		scope, nonce, auth_time, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Hash, c.ClientID, c.UserID, c.SessionID, c.RedirectURI, c.CodeChallenge, c.Scope, c.Nonce,
		ms(c.AuthTime), ms(c.CreatedAt), ms(c.ExpiresAt))
	return err
}

// Code returns the code with this hash, used or not.
func (s *Store) Code(ctx context.Context, hash string) (oidc.Code, error) {
	var c oidc.Code
	err := s.writer().queryRow(ctx, `SELECT hash, client_id, user_id, session_id, redirect_uri, code_challenge, scope, nonce,
		auth_time, created_at, expires_at, used_at, issued_session_id FROM oauth_codes WHERE hash = ?`, hash).
		Scan(&c.Hash, &c.ClientID, &c.UserID, &c.SessionID, &c.RedirectURI, &c.CodeChallenge, &c.Scope, &c.Nonce,
			msDest{&c.AuthTime}, msDest{&c.CreatedAt}, msDest{&c.ExpiresAt}, msDest{&c.UsedAt}, strDest{&c.IssuedSessionID})
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("The code")
	}
	return c, err
}

// StartClientSession spends a code and creates the client session of its
// exchange (auth.ClientSessionStart), in one transaction, ending the user's
// least recently used sessions of that client beyond the cap.
func (s *Store) StartClientSession(ctx context.Context, st auth.ClientSessionStart) ([]string, error) {
	sess := st.Session
	var ended []string
	err := s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `UPDATE oauth_codes SET used_at = ?, issued_session_id = ? WHERE hash = ? AND used_at IS NULL`,
			ms(sess.CreatedAt), sess.ID, st.CodeHash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return auth.ErrCodeSpent
		}
		// The authorizing session must still be live, its user enabled, and
		// the user's grant to the client still there. On PostgreSQL the
		// session's row is locked, so a logout is ordered before or after
		// this, and the grant's, so the exchanges of one user and client
		// count that client's sessions one after the other.
		var parent string
		err = e.queryRow(ctx, `SELECT p.id FROM sessions p JOIN users u ON u.id = p.user_id
			JOIN oauth_grants g ON g.user_id = p.user_id AND g.client_id = ?
			WHERE p.id = ? AND p.user_id = ? AND p.revoked_at IS NULL AND p.expires_at > ? AND u.disabled_at IS NULL`+s.lockRows("p, g"),
			sess.ClientID, sess.ParentID, sess.UserID, ms(sess.CreatedAt)).Scan(&parent)
		if errors.Is(err, sql.ErrNoRows) {
			return auth.ErrCredentialsChanged
		} else if err != nil {
			return err
		}
		if ended, err = endBeyondCap(ctx, e, sess.UserID, sess.ClientID, st.MaxLive, sess.CreatedAt, st.IdleSince, st.LiveUntil); err != nil {
			return err
		}
		return insertSession(ctx, e, sess, st.Refresh, st.AccessLiveUntil)
	})
	return ended, err
}

// Grant returns a user's grant to a client.
func (s *Store) Grant(ctx context.Context, userID, clientID string) (oidc.Grant, error) {
	g := oidc.Grant{UserID: userID, ClientID: clientID}
	err := s.reader().queryRow(ctx, `SELECT scope, created_at FROM oauth_grants WHERE user_id = ? AND client_id = ?`,
		userID, clientID).Scan(&g.Scope, msDest{&g.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return g, notFound("The grant")
	}
	return g, err
}

// SaveGrant records a grant; an existing one widens to the union of scopes.
func (s *Store) SaveGrant(ctx context.Context, g oidc.Grant) error {
	return s.inTx(ctx, func(e execer) error {
		var old string
		err := e.queryRow(ctx, `SELECT scope FROM oauth_grants g WHERE user_id = ? AND client_id = ?`+s.lockRows("g"),
			g.UserID, g.ClientID).Scan(&old)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = e.exec(ctx, `INSERT INTO oauth_grants (user_id, client_id, scope, created_at) VALUES (?, ?, ?, ?)`,
				g.UserID, g.ClientID, g.Scope, ms(g.CreatedAt))
			return err
		case err != nil:
			return err
		}
		scopes := strings.Fields(old)
		for _, v := range strings.Fields(g.Scope) {
			if !strings.Contains(" "+old+" ", " "+v+" ") {
				scopes = append(scopes, v)
			}
		}
		_, err = e.exec(ctx, `UPDATE oauth_grants SET scope = ? WHERE user_id = ? AND client_id = ?`,
			strings.Join(scopes, " "), g.UserID, g.ClientID)
		return err
	})
}

// Grants lists a user's grants with their clients' names, newest first.
func (s *Store) Grants(ctx context.Context, userID string) ([]oidc.Grant, error) {
	scanGrant := func(r scanner) (oidc.Grant, error) {
		g := oidc.Grant{UserID: userID}
		err := r.Scan(&g.ClientID, &g.ClientName, &g.Scope, msDest{&g.CreatedAt})
		return g, err
	}
	return queryAll(ctx, s.reader(), []oidc.Grant{}, scanGrant, `SELECT g.client_id, c.name, g.scope, g.created_at FROM oauth_grants g
		JOIN oauth_clients c ON c.id = g.client_id WHERE g.user_id = ? ORDER BY g.created_at DESC, g.client_id`, userID)
}

// DeleteGrant deletes a user's grant to a client and ends that client's
// sessions of the user, in one transaction.
func (s *Store) DeleteGrant(ctx context.Context, userID, clientID string, now, liveUntil time.Time) (bool, []string, error) {
	var found bool
	var ended []string
	err := s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `DELETE FROM oauth_grants WHERE user_id = ? AND client_id = ?`, userID, clientID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		found = n > 0
		ended, err = revokeSessions(ctx, e, auth.SessionFilter{UserID: userID, ClientID: clientID}, now, liveUntil)
		return err
	})
	return found, ended, err
}
