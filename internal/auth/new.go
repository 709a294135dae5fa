package auth

import (
	"log/slog"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// Services are Gatehouse's use cases, one service per concern, sharing one
// core (clock, audit, revocation fan-out). New wires them together.
type Services struct {
	Accounts *Accounts
	Sessions *Sessions
	Recovery *Recovery
	Factors  *Factors
	Passkeys *Passkeys
	Feed     *Feed
	Checks   *Checks
	APIKeys  *APIKeys
}

// New wires the services. Deps.Signer may be nil only where no token is
// issued: then Sessions and Passkeys (which issue them) are nil.
func New(cfg Config, d Deps) *Services {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Count == nil {
		d.Count = func(string) {}
	}
	if d.RateLimited == nil {
		d.RateLimited = func(string) {}
	}
	if cfg.MaxSessionsPerUser <= 0 {
		cfg.MaxSessionsPerUser = DefaultMaxSessionsPerUser
	}
	if cfg.APIKeyLimit == (ratelimit.Limit{}) {
		cfg.APIKeyLimit = DefaultAPIKeyLimit
	}
	if cfg.ReauthMaxAge <= 0 {
		cfg.ReauthMaxAge = DefaultReauthMaxAge
	}
	c := &core{store: d.Store, revocations: d.Revocations, count: d.Count, fanout: d.Fanout, mailer: d.Mailer,
		onMail: d.MailQueued, users: newUserCache(100_000), cfg: cfg, log: d.Log}
	checks := &Checks{core: c, store: d.Store, hasher: d.Hasher, lockout: d.Lockout, limiter: d.Limiter, checkLimit: d.CheckLimit,
		rateLimited: d.RateLimited, floor: newCheckFloor()}
	factors := &Factors{core: c, store: d.Store, sealer: d.Sealer, checks: checks}
	recovery := &Recovery{core: c, store: d.Store, hasher: d.Hasher, rec: newRecovery(cfg.Recovery, d.Log), checks: checks, factors: factors}
	s := &Services{
		Accounts: &Accounts{core: c, store: d.Store, hasher: d.Hasher, checks: checks, recovery: recovery},
		Recovery: recovery,
		Factors:  factors,
		Feed:     &Feed{core: c, store: d.Store},
		Checks:   checks,
		APIKeys:  &APIKeys{core: c, store: d.Store, checks: checks, limit: cfg.APIKeyLimit},
	}
	if d.Signer != nil {
		s.Sessions = &Sessions{core: c, store: d.Store, issuer: &issuer{core: c, store: d.Store, signer: d.Signer, hook: d.TokenHook, orgs: d.Orgs},
			hasher: d.Hasher, checks: checks, factors: factors}
		wa, err := newWebAuthn(cfg.Passkeys)
		if err != nil { // app.New validates the config first
			d.Log.Error("passkeys disabled", "err", err)
		}
		s.Passkeys = &Passkeys{core: c, store: d.Store, webauthn: wa, checks: checks, sessions: s.Sessions}
	}
	return s
}
