// Package app wires Gatehouse's parts into one server: hasher, key ring,
// revocation set, auth service, guard and the HTTP handler tree. The
// gatehouse command and the end-to-end tests build the server the same way.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/books"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/events/outbound"
	"github.com/gatehouse-auth/gatehouse/internal/fanout"
	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/metrics"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/upstream"
	"github.com/gatehouse-auth/gatehouse/internal/web"
	"github.com/redis/go-redis/v9"
)

// Config is what the server needs beyond its database. Defaults gives every
// default; New fills the zero fields from it (ReuseGrace excepted: zero
// there means no grace).
type Config struct {
	Issuer, Audience string
	AccessTTL        time.Duration
	RefreshTTL       time.Duration
	ReuseGrace       time.Duration
	SessionMaxAge    time.Duration
	IdleTimeout      time.Duration
	// MaxSessionsPerUser caps each user's live sessions (0: the default, 100).
	MaxSessionsPerUser int
	SigningAlg         string
	HMACSecret         []byte // HS256 only
	TrustedProxies     []netip.Prefix
	RevocationPoll     time.Duration    // how often the revocation log is read
	AuditRetention     time.Duration    // audit events older are pruned
	Hashing            password.Options // zero: production defaults
	Limits             *ratelimit.Policy
	// Redis, when set, shares rate limits and lockouts between instances
	// and fans revocations out to them at once.
	Redis *redis.Client
	Now   func() time.Time // zero: time.Now
	Log   *slog.Logger
	// Mail delivers the outbox; nil: the log sender (one warning at start).
	Mail mail.Sender
	// MasterKey seals the secrets kept in the database: the signing private
	// keys, the TOTP secrets, the bodies of queued mail (required; see
	// MasterKeyFile).
	MasterKey *seal.Key
	// CORSOrigins are the exact origins whose pages may call the JSON API
	// (--cors-origins); none by default.
	CORSOrigins []string
	// ReauthMaxAge is how recent a sign-in must be for sensitive account
	// changes (--reauth-max-age).
	ReauthMaxAge time.Duration
	// PublicURL is what links in mail are built from (zero: the issuer),
	// never a request's Host. RequireVerifiedEmail refuses logins of
	// unverified addresses; VerifyTTL and ResetTTL are the links' lifetimes.
	PublicURL            string
	RequireVerifiedEmail bool
	VerifyTTL, ResetTTL  time.Duration
	// WebAuthnRPID is the passkeys' relying party ID (--webauthn-rp-id):
	// the public URL's host, or a parent domain of it. Its default, "",
	// means the public URL's host; the origin is the public URL's.
	WebAuthnRPID string
	// JWKSClient fetches service clients' JWK Set URIs; nil: internal/
	// outbound's SSRF-safe client (tests pass one that reaches loopback).
	JWKSClient *http.Client
	// OrgCreation says who may create organizations (--org-creation):
	// "users" (the default: any user whose address is verified) or "admins".
	OrgCreation string
	// WebhookAllowPrivate lets webhooks and the token hook reach loopback
	// and private addresses (--webhook-allow-private).
	WebhookAllowPrivate bool
	// TokenHook, when its URL is set, is called before every access token
	// is minted (--hook-token-url and the flags beside it).
	TokenHook events.HookConfig
}

// MasterKeyFile is where the master key is read from when
// --master-key-file is not given: <db>.key beside an SQLite database,
// created at the first start. PostgreSQL has no default (""): the
// database and the key must not travel together, so the operator names the
// key file, which every instance shares.
func MasterKeyFile(db string) string {
	if store.IsPostgres(db) {
		return ""
	}
	return db + ".key"
}

// Defaults is the one source of the server's default lifetimes, algorithm
// and limits: the gatehouse command's flags take their defaults from it, and
// New fills a Config's zero fields from it.
func Defaults() Config {
	limits := ratelimit.DefaultPolicy()
	return Config{
		AccessTTL:          15 * time.Minute,
		RefreshTTL:         720 * time.Hour,
		ReuseGrace:         10 * time.Second,
		SessionMaxAge:      720 * time.Hour,
		IdleTimeout:        168 * time.Hour,
		MaxSessionsPerUser: auth.DefaultMaxSessionsPerUser,
		SigningAlg:         "EdDSA",
		RevocationPoll:     500 * time.Millisecond,
		AuditRetention:     90 * 24 * time.Hour,
		ReauthMaxAge:       auth.DefaultReauthMaxAge,
		VerifyTTL:          auth.DefaultVerifyTTL,
		ResetTTL:           auth.DefaultResetTTL,
		Limits:             &limits,
		Now:                time.Now,
	}
}

// withDefaults fills c's zero fields from Defaults. ReuseGrace stays as it
// is: zero is a setting (no grace), not an absence.
func (c Config) withDefaults() Config {
	def := Defaults()
	for _, f := range []struct{ v, def *time.Duration }{
		{&c.AccessTTL, &def.AccessTTL}, {&c.RefreshTTL, &def.RefreshTTL}, {&c.SessionMaxAge, &def.SessionMaxAge},
		{&c.IdleTimeout, &def.IdleTimeout}, {&c.RevocationPoll, &def.RevocationPoll}, {&c.AuditRetention, &def.AuditRetention},
		{&c.ReauthMaxAge, &def.ReauthMaxAge},
		{&c.VerifyTTL, &def.VerifyTTL}, {&c.ResetTTL, &def.ResetTTL},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	if c.SigningAlg == "" {
		c.SigningAlg = def.SigningAlg
	}
	if c.MaxSessionsPerUser <= 0 {
		c.MaxSessionsPerUser = def.MaxSessionsPerUser
	}
	if c.Limits == nil {
		c.Limits = def.Limits
	}
	if c.Limits.Client == (ratelimit.Limit{}) { // a policy written before the client bucket existed
		l := *c.Limits
		l.Client = def.Limits.Client
		c.Limits = &l
	}
	if c.Now == nil {
		c.Now = def.Now
	}
	if c.PublicURL == "" {
		c.PublicURL = c.Issuer
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.JWKSClient == nil { // public addresses only, a few seconds, a JWK Set's size
		c.JWKSClient = outbound.NewClient(outbound.Options{Timeout: 5 * time.Second, MaxBody: 64 << 10})
	}
	return c
}

// App is a wired server.
type App struct {
	cfg         Config
	store       *store.Store
	fanout      *fanout.Redis // nil without Redis
	Handler     http.Handler
	Services    *auth.Services
	OIDC        *oidc.Service
	Clients     *oidc.Clients     // the provider's client registration
	Upstream    *upstream.Service // sign-in through other identity providers
	Guard       *guard.Guard
	Keys        *token.KeyRing
	Revocations *auth.Revocations
	Mail        *mail.Worker // delivers the outbox; Wake it after an enqueue
	Orgs        *orgs.Service
	Webhooks    *events.Webhooks
	Deliveries  *events.Deliverer // delivers the webhook queue
}

// New builds the server on st, whose migrations must have run.
func New(ctx context.Context, c Config, st *store.Store) (*App, error) {
	c = c.withDefaults()
	if _, err := httpapi.ParseOrigins(strings.Join(c.CORSOrigins, ",")); err != nil {
		return nil, fmt.Errorf("cors origins: %w", err)
	}
	var hasher *password.Hasher
	m := metrics.New(metrics.Sources{
		HashQueueDepth: func() int { return hasher.QueueDepth() },
		ActiveSessions: func(ctx context.Context) (int, error) { return st.CountActiveSessions(ctx, c.Now()) },
		DBErrors:       st.Errors,
	})
	hashing := c.Hashing
	hashing.OnWait = m.HashWait
	hasher, err := password.NewHasher(hashing)
	if err != nil {
		return nil, err
	}
	if c.MasterKey == nil {
		return nil, errors.New("app: Config.MasterKey is required: it seals the signing keys")
	}
	st.SealMailWith(c.MasterKey)
	if n, err := st.SealQueuedMail(ctx); err != nil {
		return nil, fmt.Errorf("seal queued mail: %w", err)
	} else if n > 0 {
		c.Log.Info("sealed the bodies of mails queued before mail was sealed", "mails", n)
	}
	keys, err := token.Load(ctx, token.Options{
		Store: st, Algorithm: c.SigningAlg, HMACSecret: c.HMACSecret, Now: c.Now,
		RetireAfter: KeyRetirement(c.AccessTTL), MasterKey: c.MasterKey, Log: c.Log,
		Keep: IDTokenKeep(c.SigningAlg), // ID tokens of clients registered with another algorithm
	})
	if err != nil {
		return nil, err
	}
	revocations := auth.NewRevocations(c.Now)
	lockoutPolicy := c.Limits.Lockout
	if lockoutPolicy.Wait == 0 { // a check waits for a lockout slot as long as for a hashing worker
		lockoutPolicy.Wait = hashing.MaxWait
	}
	memoryLimiter, memoryLockout := ratelimit.NewMemory(c.Now), ratelimit.NewMemoryLockout(lockoutPolicy, c.Now)
	var limiter ratelimit.Limiter = memoryLimiter
	var lockout auth.Lockout = memoryLockout
	var fan *fanout.Redis
	if c.Redis != nil { // one deployment's instances share the issuer: it names their keys
		limiter = ratelimit.NewRedis(c.Redis, c.Issuer, memoryLimiter, c.Log)
		lockout = ratelimit.NewRedisLockout(c.Redis, c.Issuer, lockoutPolicy, memoryLockout, c.Log)
		fan = fanout.New(c.Redis, c.Issuer, c.Log)
	}
	mailTemplates, err := mail.NewTemplates("", c.PublicURL)
	if err != nil {
		return nil, err
	}
	worker := newMailWorker(c, st, m)
	passkeys, err := passkeyConfig(c)
	if err != nil {
		return nil, err
	}
	var tokenHook auth.TokenHook
	if c.TokenHook.URL != "" {
		hc := c.TokenHook
		if u, err := url.Parse(hc.URL); err != nil || outbound.CheckTarget(u.Hostname(), c.WebhookAllowPrivate) != nil {
			return nil, fmt.Errorf("token hook: %q is not a public http(s) URL (--webhook-allow-private allows private ones)", hc.URL)
		}
		if hc.Timeout <= 0 {
			hc.Timeout = events.DefaultHookTimeout
		}
		hc.Client = outbound.NewClient(outbound.Options{AllowPrivate: c.WebhookAllowPrivate, Timeout: hc.Timeout, MaxBody: 64 << 10,
			IdleConnsPerHost: 256})
		hc.Log, hc.Now = c.Log, c.Now
		h, err := events.NewTokenHook(hc)
		if err != nil {
			return nil, fmt.Errorf("token hook: %w", err)
		}
		tokenHook = h
	}
	services := auth.New(auth.Config{
		Passkeys: passkeys,
		Issuer:   c.Issuer, Audience: c.Audience, AccessTTL: c.AccessTTL, RefreshTTL: c.RefreshTTL,
		ReuseGrace: c.ReuseGrace, MaxAge: c.SessionMaxAge, IdleTimeout: c.IdleTimeout,
		MaxSessionsPerUser: c.MaxSessionsPerUser, ReauthMaxAge: c.ReauthMaxAge, Now: c.Now,
		Recovery: auth.RecoveryConfig{PublicURL: c.PublicURL, VerifyTTL: c.VerifyTTL, ResetTTL: c.ResetTTL,
			RequireVerifiedEmail: c.RequireVerifiedEmail, PerAddress: c.Limits.Recovery, PerAccount: c.Limits.RecoveryAccount},
	}, auth.Deps{Store: st, Hasher: hasher, Signer: keys, Revocations: revocations,
		Lockout: lockout, Limiter: limiter, CheckLimit: c.Limits.Login, RateLimited: m.RateLimited,
		Log: c.Log, Count: m.Event, Fanout: fanOrNil(fan),
		Sealer: c.MasterKey, Mailer: mailTemplates, MailQueued: worker.Wake, Orgs: orgs.NewSessions(st), TokenHook: tokenHook})
	orgService := orgs.New(orgs.Deps{Store: st, Users: st, Feed: services.Feed, Checks: services.Checks, Audit: services.Accounts.Audit,
		Mailer: mailTemplates, MailQueued: worker.Wake, PublicURL: c.PublicURL, Creation: c.OrgCreation, Limiter: limiter,
		InvitesSent: c.Limits.InvitationsSent, InvitesReceived: c.Limits.InvitationsReceived, Now: c.Now, Log: c.Log})
	if err := services.Feed.SyncChanges(ctx); err != nil {
		return nil, fmt.Errorf("load revocations: %w", err)
	}
	g, err := guard.New(guard.Config{
		Issuer: c.Issuer, Audience: c.Audience, Algorithms: []string{c.SigningAlg},
		Keys: keys, Revocations: revocations, Now: c.Now,
	})
	if err != nil {
		return nil, err
	}
	pages, err := web.New()
	if err != nil {
		return nil, err
	}
	provider := oidc.NewService(oidc.Config{Issuer: c.Issuer, APIAudience: c.Audience, AccessTTL: c.AccessTTL, AccessAlgs: []string{c.SigningAlg},
		ClientLimit: c.Limits.Client, Now: c.Now},
		oidc.Deps{Store: st, Sessions: services.Sessions, Accounts: services.Accounts, Checks: services.Checks, Feed: services.Feed, APIKeys: services.APIKeys, Keys: keys, Revocations: revocations, Sealer: c.MasterKey, Log: c.Log,
			HTTP: c.JWKSClient, CountGrant: m.ClientGrant, Orgs: orgs.NewSessions(st), TokenHook: tokenHook})
	services.Feed.OnClientChanged(provider.ForgetClient) // a client changed here, at another instance or by the command line
	clients := oidc.NewClients(oidc.ClientsDeps{Store: st, Accounts: services.Accounts, Feed: services.Feed, Keys: keys,
		Now: c.Now, HTTP: c.JWKSClient})
	federation := upstream.New(upstream.Config{PublicURL: c.PublicURL, Now: c.Now},
		upstream.Deps{Store: st, Sessions: services.Sessions, Accounts: services.Accounts, Sealer: c.MasterKey, Log: c.Log})
	deliveries := events.NewDeliverer(events.DelivererConfig{Store: st, Sealer: c.MasterKey, Log: c.Log, Now: c.Now,
		Client: outbound.NewClient(outbound.Options{AllowPrivate: c.WebhookAllowPrivate, MaxBody: 64 << 10}),
		Mailer: mailTemplates, MailQueued: worker.Wake})
	st.OnEventsQueued(deliveries.Wake)
	webhooks := events.NewWebhooks(events.WebhooksConfig{Store: st, Sealer: c.MasterKey, AllowPrivate: c.WebhookAllowPrivate,
		Now: c.Now, Audit: services.Accounts.Audit, Wake: deliveries.Wake})
	handler := httpapi.NewServer(httpapi.Deps{
		Auth: services, Guard: g, Books: books.NewService(st, c.Now), OIDC: provider, Clients: clients, Upstream: federation, Webhooks: webhooks, Keys: keys, Pages: pages, Ready: st.Ping, Log: c.Log,
		Issuer: c.Issuer, TrustedProxies: c.TrustedProxies, Now: c.Now,
		Limiter: limiter, Limits: *c.Limits, Metrics: m, CORSOrigins: c.CORSOrigins, Orgs: orgService,
	})
	return &App{cfg: c, store: st, fanout: fan, Handler: handler, Services: services, OIDC: provider, Clients: clients, Upstream: federation, Guard: g, Keys: keys, Revocations: revocations,
		Mail: worker, Orgs: orgService, Webhooks: webhooks, Deliveries: deliveries}, nil
}

// passkeyConfig is the passkeys' relying party: the public URL's host (or
// --webauthn-rp-id). A public URL whose host is an IP address (the default
// http://127.0.0.1:8080) can have none, as WebAuthn says: passkeys are off,
// with a warning, unless --webauthn-rp-id asked for them.
func passkeyConfig(c Config) (auth.PasskeyConfig, error) {
	if c.PublicURL == "" && c.WebAuthnRPID == "" {
		return auth.PasskeyConfig{}, nil
	}
	pk, err := auth.PasskeyConfigFor(c.PublicURL, c.WebAuthnRPID)
	if err != nil {
		return pk, err
	}
	if _, isIP := netip.ParseAddr(pk.RPID); isIP == nil && c.WebAuthnRPID == "" {
		c.Log.Warn("passkeys are off: the public URL's host is an IP address; set --public-url with a host name (http://localhost:8080 works)")
		return auth.PasskeyConfig{}, nil
	}
	if err := pk.Validate(); err != nil {
		return pk, fmt.Errorf("passkeys: %w", err)
	}
	return pk, nil
}

// newMailWorker builds the outbox worker on c.Mail, or on the log sender.
func newMailWorker(c Config, st *store.Store, m *metrics.Metrics) *mail.Worker {
	sender := c.Mail
	if sender == nil {
		sender = mail.NewLogSender(c.Log)
	}
	counters := m.Mail(st.OutboxDepth)
	return mail.NewWorker(mail.WorkerConfig{Outbox: st, Sender: sender, Log: c.Log, Now: c.Now,
		OnSent: counters.Sent, OnFailed: counters.Failed})
}

// fanOrNil keeps a nil *fanout.Redis from becoming a non-nil auth.Fanout.
func fanOrNil(f *fanout.Redis) auth.Fanout {
	if f == nil {
		return nil
	}
	return f
}

// IDTokenKeep is what the key ring keeps beside the server's own algorithm:
// the other algorithms a client may ask its ID tokens in, whose newest key
// (made when such a client is registered) stays held and published.
func IDTokenKeep(signingAlg string) []string {
	var keep []string
	for _, a := range oidc.IDTokenAlgorithms {
		if a != signingAlg {
			keep = append(keep, a)
		}
	}
	return keep
}

// KeyReload is how often every instance re-reads the signing keys, so a key
// rotated anywhere becomes active everywhere within it.
const KeyReload = 10 * time.Second

// KeyRetirement is how long a replaced key keeps verifying: until every token
// it may have signed (up to KeyReload after its replacement, on an instance
// that had not reloaded yet) has expired, with a minute for clock leeway.
func KeyRetirement(accessTTL time.Duration) time.Duration {
	return accessTTL + KeyReload + time.Minute
}

// Run does the server's background work until ctx ends: it follows the
// change feed (so logouts on other instances take effect here within a poll
// interval), reloads signing keys, delivers the mail outbox, serves the
// link requests left behind (auth.Recovery.SweepLinkRequests), and prunes
// hourly (Prune). It returns once all of it has stopped (the workers'
// deliveries in flight recorded, the last API key uses written), so the
// caller closes the database after it.
func (a *App) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	if a.fanout != nil {
		wg.Go(func() { a.fanout.Follow(ctx, a.Services.Feed) })
	}
	wg.Go(func() { every(ctx, a.cfg.RevocationPoll, "change feed", a.cfg.Log, a.Services.Feed.SyncChanges) })
	wg.Go(func() { every(ctx, KeyReload, "signing key reload", a.cfg.Log, a.Keys.Reload) })
	wg.Go(func() { a.Mail.Run(ctx) })       // delivers the outbox, prunes delivered mail
	wg.Go(func() { a.Deliveries.Run(ctx) }) // delivers the webhook queue, prunes delivered events
	// API keys' last-used times, off the request path; once more at the end.
	wg.Go(func() {
		every(ctx, 5*time.Second, "api key last use", a.cfg.Log, a.Services.APIKeys.FlushLastUsed)
		if err := a.Services.APIKeys.FlushLastUsed(context.WithoutCancel(ctx)); err != nil {
			a.cfg.Log.Warn("api key last use failed", "err", err)
		}
	})
	// The link requests a killed process (or a full queue) left: at start,
	// then every few seconds.
	wg.Go(func() {
		if err := a.Services.Recovery.SweepLinkRequests(ctx); err != nil && ctx.Err() == nil {
			a.cfg.Log.Warn("link request sweep failed", "err", err)
		}
		every(ctx, 5*time.Second, "link request sweep", a.cfg.Log, a.Services.Recovery.SweepLinkRequests)
	})
	prune := func(ctx context.Context) error {
		n, err := a.Prune(ctx)
		if n > 0 {
			a.cfg.Log.Info("pruned expired rows", "rows", n)
		}
		return err
	}
	if err := prune(ctx); err != nil && ctx.Err() == nil {
		a.cfg.Log.Warn("prune failed", "err", err)
	}
	every(ctx, time.Hour, "prune", a.cfg.Log, prune)
}

// Prune deletes, once, what the hourly job deletes: sessions past their end,
// idle past --session-idle-timeout or revoked longer than a token lives;
// refresh tokens expired or spent longer than --refresh-ttl ago (spent ones
// of live sessions stay for reuse detection); change-feed entries covering
// no live token; retired keys; audit events older than --audit-retention.
func (a *App) Prune(ctx context.Context) (int64, error) {
	now := a.cfg.Now()
	return a.store.Prune(ctx, store.PruneOptions{
		Now:           now,
		RevokedBefore: now.Add(-a.cfg.AccessTTL - time.Minute),
		IdleBefore:    now.Add(-a.cfg.IdleTimeout),
		SpentBefore:   now.Add(-a.cfg.RefreshTTL),
		AuditBefore:   now.Add(-a.cfg.AuditRetention),
	})
}

// every runs job every interval until ctx ends, logging its failures.
func every(ctx context.Context, interval time.Duration, name string, log *slog.Logger, job func(context.Context) error) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := job(ctx); err != nil && ctx.Err() == nil {
				log.Warn(name+" failed", "err", err)
			}
		}
	}
}
