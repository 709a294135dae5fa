package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/upstream"
)

// Upstream identity providers and the identities they vouch for
// (upstream.Store). Secrets and tokens arrive sealed and are stored as
// base64 text.

const providerColumns = "id, kind, name, issuer, client_id, client_secret, scopes, auth_url, token_url, api_url, " +
	"trust_email, keep_tokens, created_at, updated_at"

func scanProvider(r scanner) (upstream.Provider, error) {
	var p upstream.Provider
	var secret, scopes string
	var trust, keep int
	err := r.Scan(&p.ID, &p.Kind, &p.Name, &p.Issuer, &p.ClientID, &secret, &scopes, &p.AuthURL, &p.TokenURL, &p.APIURL,
		&trust, &keep, msDest{&p.CreatedAt}, msDest{&p.UpdatedAt})
	if err != nil {
		return p, err
	}
	p.Scopes, p.TrustEmail, p.KeepTokens = strings.Fields(scopes), trust == 1, keep == 1
	p.SealedSecret, err = base64.StdEncoding.DecodeString(secret)
	return p, err
}

// Providers lists the providers by id.
func (s *Store) Providers(ctx context.Context) ([]upstream.Provider, error) {
	return queryAll(ctx, s.reader(), nil, scanProvider, `SELECT `+providerColumns+` FROM upstream_providers ORDER BY id`)
}

// Provider reads one provider.
func (s *Store) Provider(ctx context.Context, id string) (upstream.Provider, error) {
	p, err := scanProvider(s.reader().queryRow(ctx, `SELECT `+providerColumns+` FROM upstream_providers WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound("The provider")
	}
	return p, err
}

// AddProvider stores a new provider (already_exists for a taken id).
func (s *Store) AddProvider(ctx context.Context, p upstream.Provider) error {
	_, err := s.writer().exec(ctx, `INSERT INTO upstream_providers (`+providerColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.Kind, p.Name, p.Issuer, p.ClientID, base64.StdEncoding.EncodeToString(p.SealedSecret), strings.Join(p.Scopes, " "),
		p.AuthURL, p.TokenURL, p.APIURL, boolInt(p.TrustEmail), boolInt(p.KeepTokens), ms(p.CreatedAt), ms(p.UpdatedAt))
	if isUniqueViolation(err) {
		return auth.Errorf(auth.CodeAlreadyExists, "A provider with this id exists already.")
	}
	return err
}

// UpdateProvider writes a provider's settings (not its id, kind or creation).
func (s *Store) UpdateProvider(ctx context.Context, p upstream.Provider) error {
	res, err := s.writer().exec(ctx, `UPDATE upstream_providers SET name = ?, issuer = ?, client_id = ?, client_secret = ?, scopes = ?,
		auth_url = ?, token_url = ?, api_url = ?, trust_email = ?, keep_tokens = ?, updated_at = ? WHERE id = ?`,
		p.Name, p.Issuer, p.ClientID, base64.StdEncoding.EncodeToString(p.SealedSecret), strings.Join(p.Scopes, " "),
		p.AuthURL, p.TokenURL, p.APIURL, boolInt(p.TrustEmail), boolInt(p.KeepTokens), ms(p.UpdatedAt), p.ID)
	return affectedOne(res, err, "The provider")
}

// RemoveProvider deletes a provider and its identities.
func (s *Store) RemoveProvider(ctx context.Context, id string) error {
	return s.inTx(ctx, func(e execer) error {
		if _, err := e.exec(ctx, `DELETE FROM user_identities WHERE provider_id = ?`, id); err != nil {
			return err
		}
		res, err := e.exec(ctx, `DELETE FROM upstream_providers WHERE id = ?`, id)
		return affectedOne(res, err, "The provider")
	})
}

const identityColumns = "id, user_id, provider_id, subject, email, tokens, created_at, last_login_at"

func scanIdentity(r scanner) (upstream.Identity, error) {
	var i upstream.Identity
	var tokens string
	err := r.Scan(&i.ID, &i.UserID, &i.ProviderID, &i.Subject, &i.Email, &tokens, msDest{&i.CreatedAt}, msDest{&i.LastLoginAt})
	if err != nil {
		return i, err
	}
	if tokens != "" {
		i.SealedTokens, err = base64.StdEncoding.DecodeString(tokens)
	}
	return i, err
}

func sealedText(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

// IdentityBySubject finds the identity (provider, subject).
func (s *Store) IdentityBySubject(ctx context.Context, providerID, subject string) (upstream.Identity, error) {
	i, err := scanIdentity(s.reader().queryRow(ctx, `SELECT `+identityColumns+` FROM user_identities
		WHERE provider_id = ? AND subject = ?`, providerID, subject))
	if errors.Is(err, sql.ErrNoRows) {
		return i, notFound("The identity")
	}
	return i, err
}

// Identities lists a user's identities, oldest first.
func (s *Store) Identities(ctx context.Context, userID string) ([]upstream.Identity, error) {
	return queryAll(ctx, s.reader(), nil, scanIdentity, `SELECT `+identityColumns+` FROM user_identities WHERE user_id = ? ORDER BY created_at, id`, userID)
}

// Identity reads one of the user's identities (not_found otherwise).
func (s *Store) Identity(ctx context.Context, userID, id string) (upstream.Identity, error) {
	i, err := scanIdentity(s.reader().queryRow(ctx, `SELECT `+identityColumns+` FROM user_identities WHERE id = ? AND user_id = ?`, id, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return i, notFound("The identity")
	}
	return i, err
}

func insertIdentity(ctx context.Context, e execer, i upstream.Identity) error {
	_, err := e.exec(ctx, `INSERT INTO user_identities (`+identityColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		i.ID, i.UserID, i.ProviderID, i.Subject, i.Email, sealedText(i.SealedTokens), ms(i.CreatedAt), nullMS(i.LastLoginAt))
	if isUniqueViolation(err) {
		return auth.Errorf(auth.CodeAlreadyExists, "This identity is linked to an account already.")
	} else if err != nil {
		return err
	}
	return emit(ctx, e, events.New(events.IdentityLinked, i.CreatedAt,
		events.Data{"user_id": i.UserID, "identity_id": i.ID, "provider": i.ProviderID}))
}

// AddIdentity links an identity to its user.
func (s *Store) AddIdentity(ctx context.Context, i upstream.Identity) error {
	return s.inTx(ctx, func(e execer) error { return insertIdentity(ctx, e, i) })
}

// CreateUserWithIdentity creates an account without a password and its
// identity in one transaction.
func (s *Store) CreateUserWithIdentity(ctx context.Context, u auth.User, i upstream.Identity) error {
	var verifiedAt sql.NullInt64
	if u.EmailVerified {
		verifiedAt = nullMS(u.CreatedAt)
	}
	return s.inTx(ctx, func(e execer) error {
		_, err := e.exec(ctx, `INSERT INTO users (id, email, username, name, password_hash, role, created_at, updated_at, email_verified_at)
			VALUES (?, ?, ?, ?, '', ?, ?, ?, ?)`,
			u.ID, nullString(u.Email), nullString(u.Username), u.Name, u.Role, ms(u.CreatedAt), ms(u.CreatedAt), verifiedAt)
		if isUniqueViolation(err) {
			return auth.Errorf(auth.CodeAlreadyExists, "An account with this email exists already.")
		} else if err != nil {
			return err
		}
		if err := emit(ctx, e, events.New(events.UserCreated, u.CreatedAt, events.Data{"user_id": u.ID})); err != nil {
			return err
		}
		return insertIdentity(ctx, e, i)
	})
}

// DeleteIdentity removes the identity only while its account keeps another
// way in, in one statement: a password, a passkey, or another identity.
func (s *Store) DeleteIdentity(ctx context.Context, userID, id string) error {
	return s.inTx(ctx, func(e execer) error {
		res, err := e.exec(ctx, `DELETE FROM user_identities WHERE id = ? AND user_id = ? AND (
			EXISTS (SELECT 1 FROM users u WHERE u.id = ? AND u.password_hash <> '')
			OR EXISTS (SELECT 1 FROM passkeys k WHERE k.user_id = ?)
			OR EXISTS (SELECT 1 FROM user_identities o WHERE o.user_id = ? AND o.id <> ?))`,
			id, userID, userID, userID, userID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var one int
		err = e.queryRow(ctx, `SELECT 1 FROM user_identities WHERE id = ? AND user_id = ?`, id, userID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("The identity")
		} else if err != nil {
			return err
		}
		return auth.Errorf(auth.CodeLastSignInMethod, "This is the account's last way to sign in: set a password or add a passkey first.")
	})
}

// IdentityLogin records a login through the identity.
func (s *Store) IdentityLogin(ctx context.Context, id, email string, sealedTokens []byte, at time.Time) error {
	if sealedTokens == nil {
		res, err := s.writer().exec(ctx, `UPDATE user_identities SET email = ?, last_login_at = ? WHERE id = ?`, email, ms(at), id)
		return affectedOne(res, err, "The identity")
	}
	res, err := s.writer().exec(ctx, `UPDATE user_identities SET email = ?, tokens = ?, last_login_at = ? WHERE id = ?`,
		email, sealedText(sealedTokens), ms(at), id)
	return affectedOne(res, err, "The identity")
}

var _ upstream.Store = (*Store)(nil)
