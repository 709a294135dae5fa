// Package apptest serves a real Gatehouse on loopback for tests of things
// that talk to it over the network (the browser, the example service).
package apptest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
)

// Start serves the whole handler tree on a fresh database, with cheap
// password hashing, until t ends. host names the loopback host in the
// returned base URL (and issuer): "127.0.0.1", or "localhost" for a browser,
// for which it is a secure context. opts adjust the configuration first.
// The mail worker runs too, delivering what the server writes to the outbox.
func Start(t *testing.T, host string, opts ...func(*app.Config)) (string, *app.App) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://%s:%d", host, ln.Addr().(*net.TCPAddr).Port)
	masterKey, _ := seal.Generate()
	cfg := app.Config{
		Issuer: base, Audience: base, AccessTTL: 15 * time.Minute, RefreshTTL: time.Hour,
		ReuseGrace: 10 * time.Second, SessionMaxAge: time.Hour, IdleTimeout: time.Hour, SigningAlg: "EdDSA",
		Hashing:   password.Options{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}},
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		MasterKey: masterKey,
	}
	for _, o := range opts {
		o(&cfg)
	}
	a, err := app.New(context.Background(), cfg, storetest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	go a.Mail.Run(ctx)
	t.Cleanup(stop)
	srv := &http.Server{Handler: a.Handler}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return base, a
}
