package upstream

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events/outbound"
	"github.com/google/uuid"
)

// Identity is an account's identity at a provider: (ProviderID, Subject)
// names one person there and belongs to one account here.
type Identity struct {
	ID, UserID, ProviderID, Subject string
	Email                           string // what the provider said at the last login; shown, never trusted
	CreatedAt, LastLoginAt          time.Time
	SealedTokens                    []byte // the provider's tokens (KeepTokens), sealed; nil otherwise
}

// Store is the persistence the service needs (internal/store). It returns
// *auth.Error with CodeNotFound and CodeAlreadyExists where those apply.
type Store interface {
	Providers(ctx context.Context) ([]Provider, error)
	Provider(ctx context.Context, id string) (Provider, error)
	AddProvider(ctx context.Context, p Provider) error
	UpdateProvider(ctx context.Context, p Provider) error
	// RemoveProvider deletes a provider and every identity at it.
	RemoveProvider(ctx context.Context, id string) error

	IdentityBySubject(ctx context.Context, providerID, subject string) (Identity, error)
	Identities(ctx context.Context, userID string) ([]Identity, error)
	Identity(ctx context.Context, userID, id string) (Identity, error)
	// AddIdentity links an identity to its user: already_exists when
	// (provider, subject) belongs to an account already.
	AddIdentity(ctx context.Context, id Identity) error
	// CreateUserWithIdentity creates the account u (no password; its email
	// verified when u.EmailVerified) and its identity in one transaction:
	// already_exists, and nothing written, when either exists.
	CreateUserWithIdentity(ctx context.Context, u auth.User, id Identity) error
	// DeleteIdentity removes one of the user's identities, in one statement,
	// only while the account keeps another way in (a password, a passkey or
	// another identity): not_found, or CodeLastSignInMethod.
	DeleteIdentity(ctx context.Context, userID, id string) error
	// IdentityLogin records a login through the identity: the provider's
	// email now, and its sealed tokens (nil leaves them).
	IdentityLogin(ctx context.Context, id, email string, sealedTokens []byte, at time.Time) error

	// The login flow's single-use record (webauthn_ceremonies, purpose
	// "upstream"): taking it marks it used.
	CreateCeremony(ctx context.Context, c auth.Ceremony) error
	TakeCeremony(ctx context.Context, hash, purpose string, now time.Time) (auth.Ceremony, error)
	// UserCredentials finds the account with an email (with its hash,
	// unused here).
	UserCredentials(ctx context.Context, identifier string) (auth.User, string, error)
}

// Sessions starts the session of a user a provider vouched for
// (auth.Sessions).
type Sessions interface {
	FederatedLogin(ctx context.Context, u auth.User, idp string, c auth.Client) (*auth.Tokens, error)
	RequireRecentAuth(ctx context.Context, sessionID string) error
	// BrowserSession reads a live session of the user (not_found otherwise).
	BrowserSession(ctx context.Context, id, userID string) (auth.Session, error)
	// FederatedReauthenticate renews the session's sign-in time after
	// the provider signed the user in afresh.
	FederatedReauthenticate(ctx context.Context, userID, sessionID, idp string) (*auth.Tokens, error)
}

// Accounts reads users and records audit events (auth.Accounts).
type Accounts interface {
	User(ctx context.Context, id string) (auth.User, error)
	Audit(ctx context.Context, event, userID, detail string)
}

// Audit event names.
const (
	EventIdentityLinked      = "identity_linked"
	EventIdentityUnlinked    = "identity_unlinked"
	EventUpstreamLogin       = "upstream_login"
	EventUpstreamLoginFailed = "upstream_login_failed"
	EventProviderAdded       = "provider_added"
	EventProviderUpdated     = "provider_updated"
	EventProviderRemoved     = "provider_removed"
)

// Config is the service's setting.
type Config struct {
	// PublicURL is where browsers reach Gatehouse: the callback registered
	// at each provider is PublicURL + "/login/{id}/callback".
	PublicURL string
	Now       func() time.Time
	// Timeout bounds everything a callback asks of the provider (the code
	// exchange, discovery, keys, the user API). 0 means 10 s.
	Timeout time.Duration
}

// Deps are the service's collaborators.
type Deps struct {
	Store    Store
	Sessions Sessions
	Accounts Accounts
	// Sealer seals client secrets, the flow cookie, pending links and kept
	// tokens (the master key).
	Sealer auth.Sealer
	Log    *slog.Logger
	// Public calls providers on public addresses only; Local calls a
	// provider whose every URL is on a loopback host (tests, development).
	// Nil: outbound.NewClient with the time budget (and AllowLoopback for
	// Local: loopback besides public addresses, never another private
	// network, whatever the provider's discovery document names).
	Public, Local *http.Client
}

// Service is the upstream login: providers, the flow, linking, identities.
type Service struct {
	cfg             Config
	store           Store
	sessions        Sessions
	accounts        Accounts
	sealer          auth.Sealer
	log             *slog.Logger
	public, private *http.Client

	mu        sync.Mutex
	discovery map[string]*discovered // by issuer
}

// New returns the service.
func New(cfg Config, d Deps) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Public == nil {
		d.Public = outbound.NewClient(outbound.Options{Timeout: cfg.Timeout})
	}
	if d.Local == nil {
		d.Local = outbound.NewClient(outbound.Options{Timeout: cfg.Timeout, AllowLoopback: true})
	}
	return &Service{cfg: cfg, store: d.Store, sessions: d.Sessions, accounts: d.Accounts, sealer: d.Sealer, log: d.Log,
		public: d.Public, private: d.Local, discovery: map[string]*discovered{}}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// client is the HTTP client for calls to p.
func (s *Service) client(p Provider) *http.Client {
	if p.local() {
		return s.private
	}
	return s.public
}

// CallbackURL is the redirect URI to register at provider id.
func (s *Service) CallbackURL(id string) string {
	return s.cfg.PublicURL + "/login/" + id + "/callback"
}

// secretAAD binds a sealed client secret to its provider.
func secretAAD(id string) []byte { return []byte("gatehouse upstream client secret\x00" + id) }

// ProviderInput is a provider to add, or the changes to one (nil fields
// unchanged; ClientSecret "" unchanged).
type ProviderInput struct {
	ID, Kind                  string
	Name, Issuer, ClientID    *string
	ClientSecret              string
	Scopes                    *[]string
	AuthURL, TokenURL, APIURL *string
	TrustEmail, KeepTokens    *bool
}

func (in ProviderInput) apply(p *Provider) {
	for _, f := range []struct {
		dst *string
		src *string
	}{{&p.Name, in.Name}, {&p.Issuer, in.Issuer}, {&p.ClientID, in.ClientID}, {&p.AuthURL, in.AuthURL},
		{&p.TokenURL, in.TokenURL}, {&p.APIURL, in.APIURL}} {
		if f.src != nil {
			*f.dst = strings.TrimSpace(*f.src)
		}
	}
	if in.Scopes != nil {
		p.Scopes = nil
		for _, sc := range *in.Scopes {
			if sc = strings.TrimSpace(sc); sc != "" && !slices.Contains(p.Scopes, sc) {
				p.Scopes = append(p.Scopes, sc)
			}
		}
	}
	if in.TrustEmail != nil {
		p.TrustEmail = *in.TrustEmail
	}
	if in.KeepTokens != nil {
		p.KeepTokens = *in.KeepTokens
	}
}

// AddProvider configures a provider: a preset's defaults (google,
// microsoft, gitlab, github) fill what in leaves out.
func (s *Service) AddProvider(ctx context.Context, in ProviderInput) (Provider, error) {
	p := Provider{ID: strings.TrimSpace(in.ID), Kind: strings.TrimSpace(in.Kind)}
	in.apply(&p)
	p.ApplyPreset()
	if p.Name == "" {
		p.Name = p.ID
	}
	if err := p.validate(); err != nil {
		return Provider{}, err
	}
	if in.ClientSecret == "" || len(in.ClientSecret) > 4096 {
		return Provider{}, auth.Errorf(auth.CodeInvalidRequest, "The client secret is required (at most 4096 bytes).")
	}
	sealed, err := s.sealSecret(p.ID, in.ClientSecret)
	if err != nil {
		return Provider{}, err
	}
	p.SealedSecret = sealed
	p.CreatedAt, p.UpdatedAt = s.now(), s.now()
	if err := s.store.AddProvider(ctx, p); err != nil {
		return Provider{}, fmt.Errorf("add provider: %w", err)
	}
	s.accounts.Audit(ctx, EventProviderAdded, "", "provider "+p.ID+" ("+p.Kind+")")
	return p, nil
}

// UpdateProvider changes a provider; the kind and id stay.
func (s *Service) UpdateProvider(ctx context.Context, in ProviderInput) (Provider, error) {
	p, err := s.store.Provider(ctx, in.ID)
	if err != nil {
		return Provider{}, err
	}
	if in.Kind != "" && in.Kind != p.Kind {
		return Provider{}, auth.Errorf(auth.CodeInvalidRequest, "A provider's kind cannot change; remove it and add it again.")
	}
	in.apply(&p)
	if err := p.validate(); err != nil {
		return Provider{}, err
	}
	if in.ClientSecret != "" {
		if len(in.ClientSecret) > 4096 {
			return Provider{}, auth.Errorf(auth.CodeInvalidRequest, "The client secret must be at most 4096 bytes.")
		}
		if p.SealedSecret, err = s.sealSecret(p.ID, in.ClientSecret); err != nil {
			return Provider{}, err
		}
	}
	p.UpdatedAt = s.now()
	if err := s.store.UpdateProvider(ctx, p); err != nil {
		return Provider{}, fmt.Errorf("update provider: %w", err)
	}
	s.accounts.Audit(ctx, EventProviderUpdated, "", "provider "+p.ID)
	return p, nil
}

// RemoveProvider removes a provider and the identities at it.
func (s *Service) RemoveProvider(ctx context.Context, id string) error {
	if err := s.store.RemoveProvider(ctx, id); err != nil {
		return err
	}
	s.accounts.Audit(ctx, EventProviderRemoved, "", "provider "+id)
	return nil
}

// Providers lists the configured providers, by id.
func (s *Service) Providers(ctx context.Context) ([]Provider, error) { return s.store.Providers(ctx) }

// Provider reads one provider.
func (s *Service) Provider(ctx context.Context, id string) (Provider, error) {
	return s.store.Provider(ctx, id)
}

func (s *Service) sealSecret(id, secret string) ([]byte, error) {
	if s.sealer == nil {
		return nil, auth.Errorf(auth.CodeUnavailable, "Upstream providers need the master key.")
	}
	return s.sealer.Seal([]byte(secret), secretAAD(id))
}

func (s *Service) openSecret(p Provider) (string, error) {
	if s.sealer == nil {
		return "", fmt.Errorf("no master key to open the client secret")
	}
	plain, err := s.sealer.Open(p.SealedSecret, secretAAD(p.ID))
	return string(plain), err
}

// IdentityView is an identity as GET /me/identities shows it.
type IdentityView struct {
	ID, Provider, ProviderName, Subject, Email string
	CreatedAt                                  time.Time
}

// Identities lists the user's identities.
func (s *Service) Identities(ctx context.Context, userID string) ([]IdentityView, error) {
	list, err := s.store.Identities(ctx, userID)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	if ps, err := s.store.Providers(ctx); err == nil {
		for _, p := range ps {
			names[p.ID] = p.Name
		}
	}
	out := make([]IdentityView, 0, len(list))
	for _, id := range list {
		out = append(out, IdentityView{ID: id.ID, Provider: id.ProviderID, ProviderName: names[id.ProviderID],
			Subject: id.Subject, Email: id.Email, CreatedAt: id.CreatedAt})
	}
	return out, nil
}

// Unlink removes one of the user's identities, never the account's last
// way in (409 last_sign_in_method).
func (s *Service) Unlink(ctx context.Context, userID, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return auth.Errorf(auth.CodeNotFound, "The identity was not found.")
	}
	ident, err := s.store.Identity(ctx, userID, id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteIdentity(ctx, userID, id); err != nil {
		return err
	}
	s.accounts.Audit(ctx, EventIdentityUnlinked, userID, "provider "+ident.ProviderID+" subject "+ident.Subject)
	return nil
}

// Button is a provider as the login page offers it.
type Button struct{ ID, Name string }

// Buttons lists the providers for the login and sign-up pages; a failure
// to read them shows no buttons rather than no page.
func (s *Service) Buttons(ctx context.Context) []Button {
	ps, err := s.store.Providers(ctx)
	if err != nil {
		s.log.Warn("upstream providers unreadable", "err", err)
		return nil
	}
	out := make([]Button, 0, len(ps))
	for _, p := range ps {
		out = append(out, Button{ID: p.ID, Name: p.Name})
	}
	return out
}
