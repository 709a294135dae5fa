// Command bookstore is an example service protected by Gatehouse: it serves
// the books API from its own SQLite file and knows users only through guard,
// which verifies Gatehouse's tokens offline (JWKS) and polls its revocation
// log, so a logout at Gatehouse reaches this service within --poll.
// Deleting a book asks for more than a valid token: a sign-in with a second
// factor (guard.RequireMFA) no older than --delete-auth-age
// (guard.MaxAuthAge); anything less is 403 reauthentication_required.
//
// It imports nothing of Gatehouse but the public guard package, so it can
// be copied out as the start of a service of your own: main.go wires guard
// and the routes, books.go serves the books API and holds its rules, and
// store.go keeps the books in SQLite.
//
//	go run ./cmd/gatehouse &                       # Gatehouse on :8080
//	go run ./examples/bookstore --gatehouse http://127.0.0.1:8080
package main

import (
	"context"
	"errors"
	"flag"
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
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bookstore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "address to listen on")
	dbPath := fs.String("db", "bookstore.db", "SQLite file for the books")
	issuer := fs.String("gatehouse", "http://127.0.0.1:8080", "Gatehouse's issuer URL")
	poll := fs.Duration("poll", 5*time.Second, "how often Gatehouse's revocation log is read")
	deleteAge := fs.Duration("delete-auth-age", 15*time.Minute, "deleting a book needs a sign-in with a second factor at most this old")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := serve(ctx, *addr, *dbPath, *issuer, *poll, *deleteAge, log, stdout); err != nil {
		fmt.Fprintln(stderr, "bookstore:", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, addr, dbPath, issuer string, poll, deleteAge time.Duration, log *slog.Logger, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := openStore(ctx, dbPath)
	if err != nil {
		return err
	}
	defer st.Close()
	g, err := guard.NewRemote(ctx, guard.RemoteConfig{
		Issuer: issuer, PollInterval: poll,
		OnError: func(err error) { log.Warn("gatehouse poll failed", "err", err) },
	})
	if err != nil {
		return err
	}

	h := books{store: st, log: log, now: time.Now}
	user := g.Require()
	mux := http.NewServeMux()
	mux.Handle("POST /books", user(http.HandlerFunc(h.create)))
	mux.Handle("GET /books", user(http.HandlerFunc(h.list)))
	mux.Handle("GET /books/{id}", user(http.HandlerFunc(h.get)))
	mux.Handle("PATCH /books/{id}", user(http.HandlerFunc(h.update)))
	// Deleting is for a recent sign-in with two factors.
	strict := g.Require(guard.RequireMFA(), guard.MaxAuthAge(deleteAge))
	mux.Handle("DELETE /books/{id}", strict(http.HandlerFunc(h.remove)))

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "bookstore serving on http://%s (tokens from %s)\n", ln.Addr(), issuer)
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
