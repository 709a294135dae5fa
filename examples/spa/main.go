// Command spa serves a single-page login (seed 001's React form, rebuilt
// on the Gatehouse browser client) from its own origin, to show a browser
// app calling Gatehouse across origins:
//
//	(cd clients/js && npm ci && npm run build)
//	go run ./cmd/gatehouse --cors-origins http://127.0.0.1:3000 &
//	go run ./examples/spa --gatehouse http://127.0.0.1:8080
//
// and open http://127.0.0.1:3000. It serves the page at / and the built
// client (clients/js/dist) under /gatehouse/, the page's script at /app.js;
// nothing else.
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

//go:embed index.html app.js
var pages embed.FS

var page = template.Must(template.ParseFS(pages, "index.html"))

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("spa", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:3000", "address to listen on (its origin must be in Gatehouse's --cors-origins)")
	gatehouse := fs.String("gatehouse", "http://127.0.0.1:8080", "Gatehouse's URL")
	client := fs.String("client", "clients/js/dist", "directory of the built browser client")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	h, err := newHandler(*gatehouse, *client)
	if err != nil {
		fmt.Fprintln(stderr, "spa:", err)
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "spa:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	fmt.Fprintf(stdout, "spa serving on http://%s (Gatehouse %s)\n", ln.Addr(), *gatehouse)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "spa:", err)
		return 1
	}
	return 0
}

// newHandler serves the page, which calls Gatehouse at gatehouse, and the
// built client from dir.
func newHandler(gatehouse, dir string) (http.Handler, error) {
	u, err := url.Parse(gatehouse)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--gatehouse %q is not an http(s) URL", gatehouse)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.js")); err != nil {
		return nil, fmt.Errorf("the browser client is not built (%v): run npm ci && npm run build in clients/js", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The page's scripts are its own; it talks to Gatehouse only.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' "+u.Scheme+"://"+u.Host+"; style-src 'self' 'unsafe-inline'")
		page.Execute(w, map[string]string{"Gatehouse": gatehouse})
	})
	mux.HandleFunc("GET /app.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFileFS(w, r, pages, "app.js")
	})
	mux.Handle("GET /gatehouse/", http.StripPrefix("/gatehouse/", http.FileServer(http.Dir(dir))))
	return mux, nil
}
