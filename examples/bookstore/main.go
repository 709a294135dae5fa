// Command bookstore is an example service protected by Gatehouse: it serves
// the books API from its own SQLite file and knows users only through guard,
// which verifies Gatehouse's tokens offline (JWKS) and polls its revocation
// log, so a logout at Gatehouse reaches this service within --poll.
// Deleting a book asks for more than a valid token: a sign-in with a second
// factor (guard.RequireMFA) no older than --delete-auth-age
// (guard.MaxAuthAge); anything less is 403 reauthentication_required.
//
// Scripts and other services call it too: with --client-id and
// --client-secret (a client registered with "gatehouse client add
// --introspect") it accepts users' API keys ("Authorization: Bearer
// gh_pat_..."), checked once at Gatehouse's introspection endpoint and then
// held until they expire or the revocation log ends them. A token that
// carries scopes (an API key, a service client's token for --audience)
// needs books:read to read and books:write to write; a user's own sign-in
// carries none and may do both.
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
	var o options
	fs.StringVar(&o.audience, "audience", "", "the audience tokens must name (default: Gatehouse's issuer; a service client's token names the one it asked for)")
	fs.StringVar(&o.clientID, "client-id", "", "a Gatehouse client registered with --introspect: API keys are accepted")
	fs.StringVar(&o.clientSecret, "client-secret", os.Getenv("BOOKSTORE_CLIENT_SECRET"), "its secret (default: $BOOKSTORE_CLIENT_SECRET)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := serve(ctx, *addr, *dbPath, *issuer, *poll, *deleteAge, o, log, stdout); err != nil {
		fmt.Fprintln(stderr, "bookstore:", err)
		return 1
	}
	return 0
}

// options are how the bookstore accepts tokens beside users' sign-ins.
type options struct {
	audience               string
	clientID, clientSecret string
}

func serve(ctx context.Context, addr, dbPath, issuer string, poll, deleteAge time.Duration, o options, log *slog.Logger, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := openStore(ctx, dbPath)
	if err != nil {
		return err
	}
	defer st.Close()
	g, err := guard.NewRemote(ctx, guard.RemoteConfig{
		Issuer: issuer, Audience: o.audience, PollInterval: poll, ClientID: o.clientID, ClientSecret: o.clientSecret,
		OnError: func(err error) { log.Warn("gatehouse poll failed", "err", err) },
	})
	if err != nil {
		return err
	}

	h := books{store: st, log: log, now: time.Now}
	user := g.Require()
	read := func(next http.Handler) http.Handler { return user(scoped("books:read", next)) }
	write := func(next http.Handler) http.Handler { return user(scoped("books:write", next)) }
	mux := http.NewServeMux()
	mux.Handle("POST /books", write(http.HandlerFunc(h.create)))
	mux.Handle("GET /books", read(http.HandlerFunc(h.list)))
	mux.Handle("GET /books/{id}", read(http.HandlerFunc(h.get)))
	mux.Handle("PATCH /books/{id}", write(http.HandlerFunc(h.update)))
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

// scoped lets through a token without scopes (a user's own sign-in, which
// may do all a user may) and one that holds scope (an API key, a service
// token); others get 403 forbidden.
func scoped(scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, _ := guard.ClaimsFrom(r.Context()); c != nil && c.Scope != "" {
			if err := guard.CheckScope(c, scope); err != nil {
				guard.WriteError(w, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
