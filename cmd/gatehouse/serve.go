package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/redact"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/redis/go-redis/v9"
)

// serve runs the server until ctx ends or SIGINT/SIGTERM arrives, then lets
// in-flight requests finish and closes the database.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c config
	if _, err := parseConfig(newFlagSet("serve", &c, true, stderr), args, getenv, &c); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	logs := newLogWriter(stderr)
	defer logs.Close()
	log := newLogger(c.LogFormat, logs)

	st, err := openStore(ctx, c.DB, log)
	if err != nil {
		return err
	}
	defer st.Close()

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return &configError{fmt.Sprintf("invalid --addr (%s): %v", envName("addr"), err)}
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
		Hashing:   password.Options{OnIdle: debug.FreeOSMemory},
		Mail:      mailer,
		PublicURL: c.publicURL(), RequireVerifiedEmail: c.RequireVerified, VerifyTTL: c.VerifyTTL, ResetTTL: c.ResetTTL,
	}, st)
	if err != nil {
		return err
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
	go a.Run(ctx)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "gatehouse serving on http://%s (database %s, issuer %s)\n", ln.Addr(), redact.URL(c.DB), c.Issuer)

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
	a.Auth.WaitRecovery() // links asked for just before the end reach the outbox
	return nil
}

// openStore opens the database and applies pending migrations. Errors never
// carry the database URL's password; database files whose permissions were
// too wide are logged once (they are 0600 now).
func openStore(ctx context.Context, dsn string, log *slog.Logger) (*store.Store, error) {
	st, err := openDatabase(ctx, dsn, log)
	if err != nil {
		return nil, err
	}
	if _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, redact.Error(err, dsn)
	}
	return st, nil
}

// openDatabase opens the database without migrating it.
func openDatabase(ctx context.Context, dsn string, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, redact.Error(err, dsn)
	}
	if files := st.Tightened(); len(files) > 0 {
		log.Warn("database files were readable by other users; their permissions are now 0600", "files", files)
	}
	return st, nil
}

// migrate applies pending migrations and reports how many ran.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c config
	if _, err := parseConfig(newFlagSet("migrate", &c, false, stderr), args, getenv, &c); err != nil {
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

// redisLogger sends go-redis's own messages (reconnect attempts) to the log at
// debug level: the limiter and the fan-out report outages once, as warnings.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
