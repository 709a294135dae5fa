package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/gatehouse-auth/gatehouse/internal/redact"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/redis/go-redis/v9"
)

// config is every setting of the server, from flags and GATEHOUSE_* variables.
type config struct {
	Addr               string
	DB                 string
	Issuer             string
	Audience           string
	AccessTTL          time.Duration
	RefreshTTL         time.Duration
	ReuseGrace         time.Duration
	SessionMaxAge      time.Duration
	IdleTimeout        time.Duration
	MaxSessionsPerUser int
	SigningAlg         string
	HS256SecretFile    string
	TrustedProxies     string
	LogFormat          string
	LimitLogin         string
	LimitRegister      string
	LimitRefresh       string
	LimitClient        string
	LockoutFailures    int
	LockoutMax         time.Duration
	Redis              string
	AuditRetention     time.Duration
	SMTPURL            string
	MailFrom           string
	MasterKeyFile      string
	CORSOrigins        string
	SQLiteSynchronous  string
	ReauthMaxAge       time.Duration
	PublicURL          string
	RequireVerified    bool
	VerifyTTL          time.Duration
	ResetTTL           time.Duration
	WebAuthnRPID       string
	OrgCreation        string
	WebhookPrivate     bool
	HookTokenURL       string
	HookTokenSecret    string // the file's path
	HookTokenTimeout   time.Duration
	HookTokenFailure   string

	proxies    []netip.Prefix   // parsed TrustedProxies
	hmacSecret []byte           // read from HS256SecretFile
	limits     ratelimit.Policy // parsed Limit* and Lockout*
	redis      *redis.Options   // parsed Redis
	smtp       *mail.SMTPConfig // parsed SMTPURL; nil: mail goes to the log
	origins    []string         // parsed CORSOrigins
	hookSecret string           // read from HookTokenSecret
}

// invalidFlagValue matches the flag package's message for a value that does
// not parse, to say it again in the same form as every other config error.
var invalidFlagValue = regexp.MustCompile(`^invalid (?:boolean )?value (".*") for (?:flag )?-([a-z0-9-]+): (.*)$`)

// configError is bad configuration: one line naming the flag, exit status 2.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func badFlag(name, format string, args ...any) error {
	return &configError{fmt.Sprintf("invalid --%s (%s): %s", name, envName(name), fmt.Sprintf(format, args...))}
}

// envName is the environment variable of a flag: --access-ttl → GATEHOUSE_ACCESS_TTL.
func envName(flagName string) string {
	return "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet makes a FlagSet for a command: with withServer every server
// flag (serve), else --db and --log-format only; a command that reads more
// of the server's settings adds them with addServerFlags, so that its help
// lists exactly the flags it takes. Either way every field of c starts at
// its server default.
func newFlagSet(name string, c *config, withServer bool, stderr io.Writer) *flag.FlagSet {
	if !withServer {
		return newCommandFlagSet(name, c, stderr, "db", "log-format")
	}
	fs := newCommandFlagSet(name, c, stderr)
	serverFlags(c).VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	return fs
}

// newCommandFlagSet makes a FlagSet for a command with exactly the named
// server flags, every field of c at its server default.
func newCommandFlagSet(name string, c *config, stderr io.Writer, serverFlagNames ...string) *flag.FlagSet {
	fs := flag.NewFlagSet("gatehouse "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addServerFlags(fs, c, serverFlagNames...)
	return fs
}

// addServerFlags adds the named server flags to a command's flags. It sets
// every field of c to its default again: call it before the command's own
// flags.
func addServerFlags(fs *flag.FlagSet, c *config, names ...string) {
	all := serverFlags(c)
	for _, name := range names {
		f := all.Lookup(name)
		if f == nil {
			panic("no server flag --" + name)
		}
		fs.Var(f.Value, f.Name, f.Usage)
	}
}

// serverFlags defines every flag of the server on c: the one place each
// flag's name, default and help text are written.
func serverFlags(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.StringVar(&c.DB, "db", "gatehouse.db", "database: an SQLite file path, or a postgres:// URL")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	def := app.Defaults() // the one source of default lifetimes and limits
	// Every command that ends sessions must know how long their tokens live.
	fs.DurationVar(&c.AccessTTL, "access-ttl", def.AccessTTL, "access token lifetime")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", "",
		"file of the master key (32 random bytes) sealing signing keys and TOTP secrets; default with SQLite: <db>.key, created 0600 at the first start; required with PostgreSQL")
	fs.StringVar(&c.Addr, "addr", defaultAddr, "address to listen on")
	fs.StringVar(&c.SQLiteSynchronous, "sqlite-synchronous", store.DefaultSynchronous,
		"SQLite durability: FULL (a commit survives power loss) or NORMAL (survives a crash of the process only)")
	fs.StringVar(&c.Issuer, "issuer", "", "token issuer URL (default http://<addr>)")
	fs.StringVar(&c.Audience, "audience", "", "token audience (default: the issuer)")
	fs.DurationVar(&c.RefreshTTL, "refresh-ttl", def.RefreshTTL, "refresh token lifetime")
	fs.DurationVar(&c.ReuseGrace, "refresh-reuse-grace", def.ReuseGrace, "window in which a spent refresh token returns its successor")
	fs.DurationVar(&c.SessionMaxAge, "session-max-age", def.SessionMaxAge, "absolute session lifetime")
	fs.DurationVar(&c.IdleTimeout, "session-idle-timeout", def.IdleTimeout, "a session not refreshed for this long ends")
	fs.IntVar(&c.MaxSessionsPerUser, "max-sessions-per-user", def.MaxSessionsPerUser,
		"live sessions a user may have; a login beyond it ends the least recently used")
	fs.StringVar(&c.SigningAlg, "signing-alg", def.SigningAlg, "access token algorithm: EdDSA, ES256, RS256 or HS256")
	fs.StringVar(&c.HS256SecretFile, "hs256-secret-file", "", "file holding the HS256 secret (at least 32 bytes)")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-For is believed")
	fs.StringVar(&c.Redis, "redis", "", "optional redis:// URL: rate limits shared by instances, revocations fanned out at once")
	fs.StringVar(&c.LimitLogin, "limit-login", limitFlag(def.Limits.Login), "login attempts per client address: N/duration")
	fs.StringVar(&c.LimitRegister, "limit-register", limitFlag(def.Limits.Register), "sign-ups per client address: N/duration")
	fs.StringVar(&c.LimitRefresh, "limit-refresh", limitFlag(def.Limits.Refresh), "token refreshes per client address: N/duration")
	fs.StringVar(&c.LimitClient, "limit-client", limitFlag(def.Limits.Client),
		"requests to /oauth/token per client address, and failed client authentications (token, introspection, revocation): N/duration")
	fs.IntVar(&c.LockoutFailures, "lockout-failures", def.Limits.Lockout.FreeFailures, "failed logins of one account before it locks")
	fs.DurationVar(&c.LockoutMax, "lockout-max", def.Limits.Lockout.MaxLock, "longest lock; locks double from 1s up to it")
	fs.DurationVar(&c.AuditRetention, "audit-retention", def.AuditRetention, "audit events older than this are pruned (hourly)")
	fs.StringVar(&c.SMTPURL, "smtp-url", "", "mail server: smtp://user:pass@host:587 (STARTTLS required), smtps://user:pass@host:465, or plain smtp://127.0.0.1:2525 to loopback only; unset: mail is written to the log")
	fs.StringVar(&c.MailFrom, "mail-from", "", `From address of mail, e.g. "Gatehouse <noreply@example.com>" (required with --smtp-url)`)
	fs.StringVar(&c.CORSOrigins, "cors-origins", "", "comma-separated exact origins (scheme://host[:port]) whose pages may call the JSON API, e.g. http://localhost:3000; no wildcards")
	fs.DurationVar(&c.ReauthMaxAge, "reauth-max-age", def.ReauthMaxAge,
		"how recent a sign-in must be to add or remove a second factor, make recovery codes, change the email or delete the account")
	fs.StringVar(&c.PublicURL, "public-url", "", "URL users reach the server by, which links in mail are built from (default: the issuer)")
	fs.BoolVar(&c.RequireVerified, "require-verified-email", def.RequireVerifiedEmail, "refuse logins (403 email_not_verified) until the address is verified")
	fs.DurationVar(&c.VerifyTTL, "verify-ttl", def.VerifyTTL, "lifetime of email verification and email change links")
	fs.DurationVar(&c.ResetTTL, "reset-ttl", def.ResetTTL, "lifetime of password reset links")
	fs.StringVar(&c.WebAuthnRPID, "webauthn-rp-id", def.WebAuthnRPID,
		"passkeys' relying party ID: the public URL's host or a parent domain of it (default: the public URL's host); origins are the public URL's")
	fs.StringVar(&c.OrgCreation, "org-creation", orgs.CreationUsers, "who may create organizations: users (any user with a verified address) or admins")
	fs.BoolVar(&c.WebhookPrivate, "webhook-allow-private", false,
		"let webhooks and the token hook reach loopback, private and link-local addresses (tests, single-machine set-ups)")
	fs.StringVar(&c.HookTokenURL, "hook-token-url", "", "URL called before every access token is minted; its {\"claims\": {...}} join the token")
	fs.StringVar(&c.HookTokenSecret, "hook-token-secret-file", "", "file holding the token hook's whsec_ secret, which signs its calls (required with --hook-token-url)")
	fs.DurationVar(&c.HookTokenTimeout, "hook-token-timeout", events.DefaultHookTimeout, "time budget of one token hook call")
	fs.StringVar(&c.HookTokenFailure, "hook-token-failure", "deny",
		"when the token hook fails or is late: deny (503, no token) or allow (the token without its claims)")
	return fs
}

// keywordDSN matches the start of a libpq key=value connection string.
var keywordDSN = regexp.MustCompile(`^\s*(host|hostaddr|port|user|password|dbname|sslmode|service|connect_timeout)\s*=`)

// looksLikeKeywordDSN reports whether --db is a key=value connection string
// ("host=db user=app password=..."), not a file path or a URL.
func looksLikeKeywordDSN(db string) bool {
	if strings.Contains(db, "://") {
		return false
	}
	return keywordDSN.MatchString(db) || (strings.Contains(db, "=") && strings.ContainsAny(db, " \t"))
}

// limitFlag writes a limit the way its flag reads it: N/duration, like 20/1m.
func limitFlag(l ratelimit.Limit) string {
	d := l.Period.String() // 1m0s, 1h0m0s
	if strings.HasSuffix(d, "m0s") {
		d = strings.TrimSuffix(d, "0s")
	}
	if strings.HasSuffix(d, "h0m") {
		d = strings.TrimSuffix(d, "0m")
	}
	return fmt.Sprintf("%d/%s", l.Count, d)
}

// parseConfig parses args, then fills every flag not given from its
// GATEHOUSE_* variable (a flag wins), then validates.
func parseConfig(fs *flag.FlagSet, args []string, getenv func(string) string, c *config) ([]string, error) {
	help := fs.Output()
	fs.SetOutput(io.Discard) // errors are reported as one line by run, not with the usage text
	// Flags may come after the arguments too ("client rotate-secret ID
	// --db x"), as people type them: parse, set the next argument aside,
	// parse the rest, until none is left ("--" ends the flags).
	var positional []string
	err := fs.Parse(args)
	for err == nil && fs.NArg() > 0 {
		rest := fs.Args()
		if consumedDashes(args, rest) {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
		err = fs.Parse(args)
	}
	fs.SetOutput(help)
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(help, strings.TrimPrefix(fs.Name(), "gatehouse "), fs)
		return nil, err
	}
	if err != nil {
		if m := invalidFlagValue.FindStringSubmatch(err.Error()); m != nil {
			return nil, badFlag(m[2], "%s: %s", m[1], m[3])
		}
		return nil, &configError{err.Error()}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	// GATEHOUSE_<FLAG> sets the server's settings only: a command's own
	// flags (--email, --name, --print ...) are never read from the
	// environment, where a variable meant for something else may sit.
	server := serverFlags(new(config))
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if server.Lookup(f.Name) == nil {
			return
		}
		if v := getenv(envName(f.Name)); v != "" && !given[f.Name] && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = badFlag(f.Name, "%q: %v", v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	return positional, c.validate(fs.Lookup("hs256-secret-file") != nil)
}

// consumedDashes reports whether the parse of args that left rest stopped
// at a "--" (everything after it is arguments, whatever it looks like).
func consumedDashes(args, rest []string) bool {
	i := len(args) - len(rest) - 1
	return i >= 0 && args[i] == "--"
}

// validate checks every setting; a flag the command does not take holds its
// default. readsSecret: the command takes --hs256-secret-file, and reads it.
func (c *config) validate(readsSecret bool) error {
	if c.DB == "" {
		return badFlag("db", "must not be empty")
	}
	if looksLikeKeywordDSN(c.DB) {
		// Never echo it: such strings carry password=...
		return badFlag("db", "looks like a key=value PostgreSQL connection string, which would be taken for an SQLite file name; give a URL instead: postgres://user:password@host:5432/dbname")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return badFlag("log-format", "%q is not text or json", c.LogFormat)
	}
	if c.AccessTTL < 10*time.Second || c.AccessTTL > 24*time.Hour {
		return badFlag("access-ttl", "%s is outside 10s to 24h", c.AccessTTL)
	}
	if s := strings.ToUpper(c.SQLiteSynchronous); s != "FULL" && s != "NORMAL" {
		return badFlag("sqlite-synchronous", "%q is not FULL or NORMAL", c.SQLiteSynchronous)
	}
	for _, d := range []struct {
		name     string
		v        time.Duration
		min, max time.Duration
	}{
		{"refresh-ttl", c.RefreshTTL, time.Minute, 8760 * time.Hour},
		{"refresh-reuse-grace", c.ReuseGrace, 0, 5 * time.Minute},
		{"session-max-age", c.SessionMaxAge, time.Minute, 8760 * time.Hour},
		{"session-idle-timeout", c.IdleTimeout, time.Minute, 8760 * time.Hour},
		{"audit-retention", c.AuditRetention, time.Hour, 87600 * time.Hour},
		{"reauth-max-age", c.ReauthMaxAge, time.Minute, 24 * time.Hour},
		{"verify-ttl", c.VerifyTTL, time.Minute, 720 * time.Hour},
		{"reset-ttl", c.ResetTTL, time.Minute, 24 * time.Hour},
	} {
		if d.v < d.min || d.v > d.max {
			return badFlag(d.name, "%s is outside %s to %s", d.v, d.min, d.max)
		}
	}
	if c.MaxSessionsPerUser < 1 || c.MaxSessionsPerUser > 100_000 {
		return badFlag("max-sessions-per-user", "%d is outside 1 to 100000", c.MaxSessionsPerUser)
	}
	if c.RefreshTTL < c.AccessTTL {
		return badFlag("refresh-ttl", "must be at least --access-ttl (%s)", c.AccessTTL)
	}
	if c.Issuer != "" {
		u, err := url.Parse(c.Issuer)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.HasSuffix(c.Issuer, "/") ||
			u.RawQuery != "" || u.Fragment != "" {
			return badFlag("issuer", "%q is not an http(s) URL without a trailing slash", c.Issuer)
		}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.HasSuffix(c.PublicURL, "/") ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return badFlag("public-url", "%q is not an http(s) URL without a trailing slash", c.PublicURL)
		}
	}
	if c.WebAuthnRPID != "" && (c.PublicURL != "" || c.Issuer != "") {
		if _, err := auth.PasskeyConfigFor(c.publicURL(), c.WebAuthnRPID); err != nil {
			return badFlag("webauthn-rp-id", "%q is neither the public URL's host nor a parent domain of it", c.WebAuthnRPID)
		}
	}
	if c.OrgCreation != orgs.CreationUsers && c.OrgCreation != orgs.CreationAdmins {
		return badFlag("org-creation", "%q is neither users nor admins", c.OrgCreation)
	}
	if !slices.Contains(token.Algorithms, c.SigningAlg) {
		return badFlag("signing-alg", "%q is not one of %s", c.SigningAlg, strings.Join(token.Algorithms, ", "))
	}
	if c.SigningAlg == "HS256" && readsSecret {
		if c.HS256SecretFile == "" {
			return badFlag("hs256-secret-file", "is required with --signing-alg HS256")
		}
		secret, err := os.ReadFile(c.HS256SecretFile)
		if err != nil {
			return badFlag("hs256-secret-file", "%v", err)
		}
		if secret = []byte(strings.TrimSpace(string(secret))); len(secret) < 32 {
			return badFlag("hs256-secret-file", "the secret is %d bytes; at least 32 random bytes are required", len(secret))
		}
		c.hmacSecret = secret
	}
	c.limits = *app.Defaults().Limits
	for _, l := range []struct {
		name, value string
		dst         *ratelimit.Limit
	}{
		{"limit-login", c.LimitLogin, &c.limits.Login},
		{"limit-register", c.LimitRegister, &c.limits.Register},
		{"limit-refresh", c.LimitRefresh, &c.limits.Refresh},
		{"limit-client", c.LimitClient, &c.limits.Client},
	} {
		if l.value == limitFlag(*l.dst) {
			continue // the default, with its own burst
		}
		n, per, ok := strings.Cut(l.value, "/")
		count, err1 := strconv.Atoi(n)
		period, err2 := time.ParseDuration(per)
		if !ok || err1 != nil || err2 != nil || count < 1 || period <= 0 {
			return badFlag(l.name, "%q is not N/duration, like 20/1m", l.value)
		}
		*l.dst = ratelimit.Per(count, period, count)
	}
	if c.LockoutFailures < 1 {
		return badFlag("lockout-failures", "must be at least 1")
	}
	if c.LockoutMax < time.Second || c.LockoutMax > 24*time.Hour {
		return badFlag("lockout-max", "%s is outside 1s to 24h", c.LockoutMax)
	}
	c.limits.Lockout.FreeFailures, c.limits.Lockout.MaxLock = c.LockoutFailures, c.LockoutMax
	c.redis = nil
	if c.Redis != "" {
		opts, err := redis.ParseURL(c.Redis)
		if err != nil {
			return badFlag("redis", "%v", redact.Error(err, c.Redis))
		}
		c.redis = opts
	}
	if err := c.validateMail(); err != nil {
		return err
	}
	if err := c.validateHook(); err != nil {
		return err
	}
	origins, err := httpapi.ParseOrigins(c.CORSOrigins)
	if err != nil {
		return badFlag("cors-origins", "%v", err)
	}
	c.origins = origins
	c.proxies = nil
	for _, s := range strings.Split(c.TrustedProxies, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return badFlag("trusted-proxies", "%q is not a CIDR", s)
		}
		c.proxies = append(c.proxies, p.Masked())
	}
	return nil
}

// publicURL is what links in mail are built from: --public-url, else the
// issuer, else http://<addr>.
func (c *config) publicURL() string {
	for _, u := range []string{c.PublicURL, c.Issuer} {
		if u != "" {
			return u
		}
	}
	return "http://" + c.Addr
}

// validateHook checks the token hook's settings and reads its secret.
func (c *config) validateHook() error {
	if c.HookTokenFailure != "deny" && c.HookTokenFailure != "allow" {
		return badFlag("hook-token-failure", "%q is not deny or allow", c.HookTokenFailure)
	}
	if c.HookTokenTimeout < 10*time.Millisecond || c.HookTokenTimeout > 30*time.Second {
		return badFlag("hook-token-timeout", "%s is outside 10ms to 30s", c.HookTokenTimeout)
	}
	c.hookSecret = ""
	if c.HookTokenURL == "" {
		return nil
	}
	u, err := url.Parse(c.HookTokenURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return badFlag("hook-token-url", "%q is not an http(s) URL without credentials", c.HookTokenURL)
	}
	if c.HookTokenSecret == "" {
		return badFlag("hook-token-secret-file", "is required with --hook-token-url")
	}
	secret, err := os.ReadFile(c.HookTokenSecret)
	if err != nil {
		return badFlag("hook-token-secret-file", "%v", err)
	}
	if _, err := events.SecretKey(string(secret)); err != nil {
		return badFlag("hook-token-secret-file", "%v", err)
	}
	c.hookSecret = strings.TrimSpace(string(secret))
	return nil
}
