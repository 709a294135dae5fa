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
	"syscall"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/web"
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
	log := newLogger(c.LogFormat, stderr)

	st, err := openStore(ctx, c.DB)
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

	handler, err := build(ctx, c, st, log)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go pruneLoop(ctx, st, c.AccessTTL, log)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "gatehouse serving on http://%s (database %s, issuer %s)\n", ln.Addr(), c.DB, c.Issuer)

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
	return nil
}

// build wires the server's parts: hasher, key ring, revocation set, service,
// guard and the handler tree.
func build(ctx context.Context, c config, st *store.Store, log *slog.Logger) (http.Handler, error) {
	hasher, err := password.NewHasher(password.Options{})
	if err != nil {
		return nil, err
	}
	keys, err := token.Load(ctx, st, c.SigningAlg, c.hmacSecret, time.Now())
	if err != nil {
		return nil, err
	}
	revocations := auth.NewRevocations(time.Now)
	svc := auth.NewService(auth.Config{
		Issuer: c.Issuer, Audience: c.Audience, AccessTTL: c.AccessTTL, RefreshTTL: c.RefreshTTL,
		ReuseGrace: c.ReuseGrace, MaxAge: c.SessionMaxAge, IdleTimeout: c.IdleTimeout,
	}, st, hasher, keys, revocations, log)
	if err := svc.LoadRevocations(ctx); err != nil {
		return nil, fmt.Errorf("load revocations: %w", err)
	}
	g, err := guard.New(guard.Config{
		Issuer: c.Issuer, Audience: c.Audience, Algorithms: []string{c.SigningAlg},
		Keys: keys, Revocations: revocations,
	})
	if err != nil {
		return nil, err
	}
	pages, err := web.New()
	if err != nil {
		return nil, err
	}
	return httpapi.NewServer(httpapi.Deps{
		Auth: svc, Guard: g, Books: st, Keys: keys, Pages: pages, Ready: st.Ping, Log: log,
		Issuer: c.Issuer, TrustedProxies: c.proxies, AccessTTL: c.AccessTTL,
	}), nil
}

// openStore opens the database and applies pending migrations.
func openStore(ctx context.Context, dsn string) (*store.Store, error) {
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// pruneLoop removes dead sessions and stale revocations every hour.
func pruneLoop(ctx context.Context, st *store.Store, accessTTL time.Duration, log *slog.Logger) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		now := time.Now()
		if n, err := st.Prune(ctx, now, now.Add(-accessTTL-time.Minute)); err != nil && ctx.Err() == nil {
			log.Warn("prune failed", "err", err)
		} else if n > 0 {
			log.Info("pruned expired sessions", "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// migrate applies pending migrations and reports how many ran.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c config
	if _, err := parseConfig(newFlagSet("migrate", &c, false, stderr), args, getenv, &c); err != nil {
		return err
	}
	st, err := store.Open(ctx, c.DB)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s) to %s\n", n, c.DB)
	return nil
}
