package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/redact"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/redis/go-redis/v9"
)

// serve runs the server until ctx ends or SIGINT/SIGTERM arrives, then lets
// in-flight requests finish and closes the database.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c config
	rest, err := parseConfig(newFlagSet("serve", &c, true, stderr), args, getenv, &c)
	if err != nil {
		return err
	}
	if err := noArguments("serve", rest); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	logs := newLogWriter(stderr)
	defer logs.Close()
	log := newLogger(c.LogFormat, logs)
	keyFile, defaultKeyFile, err := c.masterKeyFile()
	if err != nil {
		return err
	}

	st, err := openStore(ctx, c.DB, log, store.Options{Synchronous: c.SQLiteSynchronous})
	if err != nil {
		return err
	}
	defer st.Close()
	masterKey, err := loadMasterKey(ctx, st, keyFile, defaultKeyFile, log)
	if err != nil {
		return err
	}
	warnKeyFileInGit(ctx, keyFile, log)

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return listenError(c.Addr, err)
	}
	defer ln.Close()
	if c.Issuer == "" {
		c.Issuer = "http://" + ln.Addr().String()
	}
	if c.Audience == "" {
		c.Audience = c.Issuer
	}

	var rdb *redis.Client
	if c.redis != nil {
		// Short timeouts and one retry: with Redis down, requests go on with
		// per-instance limits instead of waiting for it.
		opts := *c.redis
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout = time.Second, 500*time.Millisecond, 500*time.Millisecond, time.Second
		opts.MaxRetries = 1
		redis.SetLogger(redisLogger{log})
		rdb = redis.NewClient(&opts)
		defer rdb.Close()
		if err := checkRedis(ctx, rdb, c.Redis, log); err != nil {
			return err
		}
	}
	mailer, err := c.mailSender(log)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, app.Config{
		Issuer: c.Issuer, Audience: c.Audience, AccessTTL: c.AccessTTL, RefreshTTL: c.RefreshTTL,
		ReuseGrace: c.ReuseGrace, SessionMaxAge: c.SessionMaxAge, IdleTimeout: c.IdleTimeout, AuditRetention: c.AuditRetention,
		MaxSessionsPerUser: c.MaxSessionsPerUser,
		SigningAlg:         c.SigningAlg, HMACSecret: c.hmacSecret, TrustedProxies: c.proxies, Limits: &c.limits, Log: log, Redis: rdb,
		// After a burst of logins, hand the memory their argon2id blocks used
		// (19 MiB each) back to the system rather than keep it resident.
		Hashing:      password.Options{OnIdle: debug.FreeOSMemory},
		Mail:         mailer,
		MasterKey:    masterKey,
		CORSOrigins:  c.origins,
		ReauthMaxAge: c.ReauthMaxAge,
		PublicURL:    c.publicURL(), RequireVerifiedEmail: c.RequireVerified, VerifyTTL: c.VerifyTTL, ResetTTL: c.ResetTTL,
		WebAuthnRPID:        c.WebAuthnRPID,
		OrgCreation:         c.OrgCreation,
		WebhookAllowPrivate: c.WebhookPrivate,
		TokenHook: events.HookConfig{URL: c.HookTokenURL, Secret: c.hookSecret, Timeout: c.HookTokenTimeout,
			AllowOnFailure: c.HookTokenFailure == "allow"},
	}, st)
	if err != nil {
		return sealedKeyError(err, keyFile)
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	background := make(chan struct{})
	go func() { a.Run(ctx); close(background) }()
	// Every failed password check ends no sooner than the slowest check
	// expected: measure the hash schemes in the database now and hourly.
	go a.Services.Checks.WatchCheckFloor(ctx, time.Hour)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	cors := ""
	if len(c.origins) > 0 {
		// An origin not listed exactly is the usual "Failed to fetch": show the list.
		cors = ", cors-origins " + strings.Join(c.origins, ",")
	}
	// The start-up warnings (Redis, mail, key file) come out before the
	// serving line, not up to 100 ms after it.
	logs.Flush()
	fmt.Fprintf(stdout, "gatehouse serving on http://%s (database %s, issuer %s%s)\n", ln.Addr(), redact.URL(c.DB), c.Issuer, cors)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	a.Services.Recovery.WaitRecovery() // links asked for just before the end reach the outbox
	// The background work ends before the database closes (deferred
	// above): deliveries in flight are recorded, the last key uses written.
	select {
	case <-background:
	case <-time.After(15 * time.Second):
		log.Warn("background work still running at shutdown: closing the database under it")
	}
	return nil
}

// defaultAddr is --addr's default.
const defaultAddr = "127.0.0.1:8080"

// listenError says why addr cannot be served. The default address in use
// is most often another Gatehouse (the quick start's): blaming --addr, which
// the user did not set, would send them looking in the wrong place.
func listenError(addr string, err error) error {
	if addr == defaultAddr && errors.Is(err, syscall.EADDRINUSE) {
		return &configError{fmt.Sprintf("%s is already in use: another Gatehouse (the quick start's?) may be running there; stop it, or choose another address with --addr (%s)", addr, envName("addr"))}
	}
	return badFlag("addr", "%v", err)
}

// noArguments refuses the words left after cmd's flags: run as serve, the
// default command, "gatehouse --db X client list" would otherwise start a
// server instead of listing clients.
func noArguments(cmd string, rest []string) error {
	if len(rest) == 0 {
		return nil
	}
	if words := commandWords(rest); len(words) > 0 {
		name := strings.Join(words, " ")
		return &configError{fmt.Sprintf("unexpected arguments %q: %q is a command, which comes before the flags: gatehouse %s --flags", strings.Join(rest, " "), name, name)}
	}
	return &configError{fmt.Sprintf("unexpected arguments %q: %s takes only flags (gatehouse %s --help lists them)", strings.Join(rest, " "), cmd, cmd)}
}

// openStore opens the database and applies pending migrations. Errors never
// carry the database URL's password; database files whose permissions were
// too wide are logged once (they are 0600 now).
func openStore(ctx context.Context, dsn string, log *slog.Logger, opt ...store.Options) (*store.Store, error) {
	st, err := openDatabase(ctx, dsn, log, opt...)
	if err != nil {
		return nil, err
	}
	if _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, redact.Error(err, dsn)
	}
	return st, nil
}

// openDatabase opens the database without migrating it, with the default
// store.Options unless opt gives others.
func openDatabase(ctx context.Context, dsn string, log *slog.Logger, opt ...store.Options) (*store.Store, error) {
	var o store.Options
	if len(opt) > 0 {
		o = opt[0]
	}
	st, err := store.OpenWith(ctx, dsn, o)
	if err != nil {
		return nil, redact.Error(err, dsn)
	}
	if files := st.Tightened(); len(files) > 0 {
		log.Warn("database files were readable by other users; their permissions are now 0600", "files", files)
	}
	if st.HasSampleStats(ctx) {
		log.Warn("the database holds ANALYZE samples (sqlite_stat4), which make SQLite re-plan every lookup at each use; "+
			"Gatehouse needs no statistics: remove them with DELETE FROM sqlite_stat4 (see docs/production.md)", "db", redact.URL(dsn))
	}
	return st, nil
}

// migrate applies pending migrations and reports how many ran.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c config
	rest, err := parseConfig(newFlagSet("migrate", &c, false, stderr), args, getenv, &c)
	if err != nil {
		return err
	}
	if err := noArguments("migrate", rest); err != nil {
		return err
	}
	st, err := openDatabase(ctx, c.DB, newLogger(c.LogFormat, stderr))
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.Migrate(ctx)
	if err != nil {
		return redact.Error(err, c.DB)
	}
	fmt.Fprintf(stdout, "applied %d migration(s) to %s\n", n, redact.URL(c.DB))
	return nil
}

// checkRedis pings Redis once at start. Redis answering with a refusal (a
// wrong password, WRONGPASS or NOAUTH; a database index it does not have)
// or with something that is not Redis's protocol is bad configuration: the
// start stops, naming the flag, the URL's password redacted. Redis not
// answering at all (refused, timed out, cut) is an outage: a warning, and
// the server starts with per-instance limits until Redis is back.
func checkRedis(ctx context.Context, rdb *redis.Client, raw string, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	err := rdb.Ping(ctx).Err()
	if err == nil {
		return nil
	}
	var refused redis.Error
	if errors.As(err, &refused) || strings.HasPrefix(err.Error(), "redis: invalid reply") || strings.HasPrefix(err.Error(), "redis: can't parse") {
		return badFlag("redis", "Redis refused the connection: %v", redact.Error(err, raw))
	}
	log.Warn("redis unavailable at start: rate limits and lockouts are per instance until it answers", "err", redact.Error(err, raw))
	return nil
}

// redisLogger sends go-redis's own messages (reconnect attempts) to the log at
// debug level: the limiter and the fan-out report outages once, as warnings.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// masterKeyFile is the master key file the command uses: --master-key-file,
// else app.MasterKeyFile's default (<db>.key for SQLite). PostgreSQL has no
// default: the start is refused, naming the flag, before the database is
// opened.
func (c *config) masterKeyFile() (path string, isDefault bool, err error) {
	if c.MasterKeyFile != "" {
		return c.MasterKeyFile, false, nil
	}
	if path = app.MasterKeyFile(c.DB); path == "" {
		return "", false, badFlag("master-key-file", "is required with PostgreSQL: the master key must not live in the database it protects (create one with: umask 077; openssl rand -base64 32 > master.key)")
	}
	return path, true, nil
}

// loadMasterKey reads the master key from path. A file named by the flag
// must exist. The default <db>.key is created (0600) when missing, unless
// the database already holds sealed secrets: a new key would open none of
// them, so the start is refused and the operator restores the file.
func loadMasterKey(ctx context.Context, st *store.Store, path string, isDefault bool, log *slog.Logger) (*seal.Key, error) {
	if !isDefault {
		k, err := seal.LoadFile(path)
		if err != nil {
			return nil, badFlag("master-key-file", "%v", err)
		}
		return k, nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		sealed, err := st.HoldsSealedSecrets(ctx)
		if err != nil {
			return nil, err
		}
		if sealed {
			return nil, badFlag("master-key-file", "the database holds secrets sealed with a master key, but its key file %s is missing: restore it from your backup, or name it with --master-key-file", path)
		}
	}
	k, created, err := seal.LoadOrCreateFile(path)
	if err != nil {
		return nil, badFlag("master-key-file", "%v", err)
	}
	if created {
		log.Warn("created a master key file: back it up apart from the database; without it the signing keys and TOTP secrets cannot be opened", "file", path, "master_key", k.ID())
	}
	return k, nil
}

// sealedKeyError turns a sealed secret that the master key does not open
// into a configuration error naming the flag and the file.
func sealedKeyError(err error, path string) error {
	if !errors.Is(err, seal.ErrOpen) {
		return err
	}
	return badFlag("master-key-file", "%v; start with the key file it was sealed with (%s is not it). No new key was made: that would end every session", err, path)
}
