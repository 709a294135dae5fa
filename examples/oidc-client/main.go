// Command oidc-client is a tiny web application that signs its users in with
// Gatehouse ("Sign in with Gatehouse"): OpenID Connect's authorization code
// flow with PKCE, built on golang.org/x/oauth2 and github.com/coreos/go-oidc.
//
//	go run ./cmd/gatehouse &
//	gatehouse client add --name "Example" --redirect-uri http://127.0.0.1:8090/callback \
//	    --post-logout-redirect-uri http://127.0.0.1:8090/      # prints client_id and client_secret
//	go run ./examples/oidc-client --issuer http://127.0.0.1:8080 --client-id ID --client-secret SECRET
//
// Open http://127.0.0.1:8090 and press "Sign in with Gatehouse". A public
// client (gatehouse client add --public) runs without --client-secret.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run serves until ctx ends; it prints "serving on http://ADDR" once ready.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("oidc-client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	issuer := fs.String("issuer", "http://127.0.0.1:8080", "Gatehouse's issuer URL")
	clientID := fs.String("client-id", "", "client_id from gatehouse client add")
	secret := fs.String("client-secret", "", "client_secret (confidential clients; empty for a public client)")
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on")
	public := fs.String("url", "", "this app's own URL (default http://<addr>); the redirect URI is <url>/callback")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *clientID == "" {
		fmt.Fprintln(stderr, "oidc-client: --client-id is required")
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	provider, err := oidc.NewProvider(ctx, *issuer)
	if err != nil {
		fmt.Fprintln(stderr, "oidc-client: discovery:", err)
		return 1
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "oidc-client:", err)
		return 2
	}
	self := *public
	if self == "" {
		self = "http://" + ln.Addr().String()
	}
	a := &app{provider: provider, issuer: *issuer, self: self, log: log, flows: map[string]flow{}, sessions: map[string]*session{},
		cfg: oauth2.Config{ClientID: *clientID, ClientSecret: *secret, Endpoint: provider.Endpoint(), RedirectURL: self + "/callback",
			Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}},
		verifier: provider.Verifier(&oidc.Config{ClientID: *clientID})}
	if err := provider.Claims(&a.meta); err != nil {
		fmt.Fprintln(stderr, "oidc-client: discovery:", err)
		return 1
	}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	fmt.Fprintf(stdout, "serving on %s (issuer %s)\n", self, *issuer)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "oidc-client:", err)
		return 1
	}
	return 0
}

// flow is a sign-in under way: what the callback must see again.
type flow struct{ state, nonce, verifier string }

// session is a signed-in user of this app.
type session struct {
	token   *oauth2.Token
	idToken string
	name    string
	email   string
	notice  string
}

type app struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	cfg      oauth2.Config
	issuer   string
	self     string
	log      *slog.Logger
	meta     struct {
		EndSession string `json:"end_session_endpoint"`
	}

	mu       sync.Mutex
	flows    map[string]flow     // by the rp_flow cookie
	sessions map[string]*session // by the rp_session cookie
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("POST /refresh", a.refresh)
	mux.HandleFunc("POST /logout", a.logout)
	return mux
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Example app</title></head>
<body>
<h1>Example app</h1>
{{with .Notice}}<p id="notice">{{.}}</p>{{end}}
{{if .Signed}}
<p id="signed-in">Signed in as <strong>{{.Name}}</strong> ({{.Email}}).</p>
<form method="post" action="/refresh"><button id="refresh" type="submit">Refresh tokens</button></form>
<form method="post" action="/logout"><button id="logout" type="submit">Log out</button></form>
{{else}}
<form method="post" action="/login"><button id="sign-in" type="submit">Sign in with Gatehouse</button></form>
{{end}}
</body></html>`))

func (a *app) current(r *http.Request) (string, *session) {
	c, err := r.Cookie("rp_session")
	if err != nil {
		return "", nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return c.Value, a.sessions[c.Value]
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	_, s := a.current(r)
	data := map[string]any{"Signed": s != nil}
	if s != nil {
		data["Name"], data["Email"], data["Notice"] = s.name, s.email, s.notice
	} else if n := r.URL.Query().Get("notice"); n != "" {
		data["Notice"] = n
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, data)
}

// login starts the code flow: state, nonce and a PKCE verifier, kept for the
// callback under a cookie of this browser.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	f := flow{state: rand.Text(), nonce: rand.Text(), verifier: oauth2.GenerateVerifier()}
	id := rand.Text()
	a.mu.Lock()
	a.flows[id] = f
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "rp_flow", Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 600})
	http.Redirect(w, r, a.cfg.AuthCodeURL(f.state, oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce)), http.StatusSeeOther)
}

// callback checks state and iss (RFC 9207), exchanges the code with the
// verifier, and verifies the ID token and its nonce.
func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie("rp_flow")
	a.mu.Lock()
	f, ok := a.flows[cookieValue(c, err)]
	delete(a.flows, cookieValue(c, err))
	a.mu.Unlock()
	q := r.URL.Query()
	switch {
	case !ok || q.Get("state") != f.state:
		http.Error(w, "unknown or tampered sign-in (state)", http.StatusBadRequest)
		return
	case q.Get("iss") != a.issuer:
		http.Error(w, "the answer comes from another issuer (iss)", http.StatusBadRequest)
		return
	case q.Get("error") != "":
		http.Redirect(w, r, "/?notice="+url.QueryEscape("Sign-in failed: "+q.Get("error")), http.StatusSeeOther)
		return
	}
	tok, err := a.cfg.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(f.verifier))
	if err != nil {
		a.log.Warn("code exchange failed", "err", err)
		http.Error(w, "code exchange failed", http.StatusBadGateway)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.verifier.Verify(r.Context(), raw)
	if err != nil || idt.Nonce != f.nonce {
		http.Error(w, "the ID token is not valid", http.StatusBadGateway)
		return
	}
	var claims struct {
		Name     string `json:"name"`
		Username string `json:"preferred_username"`
		Email    string `json:"email"`
	}
	_ = idt.Claims(&claims)
	s := &session{token: tok, idToken: raw, name: claims.Name, email: claims.Email}
	if s.name == "" {
		s.name = claims.Username
	}
	id := rand.Text()
	a.mu.Lock()
	a.sessions[id] = s
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "rp_session", Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// refresh rotates the refresh token now; when Gatehouse refuses (the app was
// revoked, the user logged out), this app's session ends.
func (a *app) refresh(w http.ResponseWriter, r *http.Request) {
	id, s := a.current(r)
	if s == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	old := *s.token
	old.Expiry = time.Now().Add(-time.Second) // force the refresh
	tok, err := a.cfg.TokenSource(r.Context(), &old).Token()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		delete(a.sessions, id)
		a.log.Info("refresh refused; signed out", "err", err)
		http.Redirect(w, r, "/?notice="+url.QueryEscape("Refresh failed: you are signed out."), http.StatusSeeOther)
		return
	}
	s.token, s.notice = tok, "Tokens refreshed at "+time.Now().Format(time.TimeOnly)+"."
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends this app's session and Gatehouse's (RP-initiated logout).
func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	id, s := a.current(r)
	a.mu.Lock()
	delete(a.sessions, id)
	a.mu.Unlock()
	if s == nil || a.meta.EndSession == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	q := url.Values{"id_token_hint": {s.idToken}, "post_logout_redirect_uri": {a.self + "/"}, "state": {rand.Text()}}
	http.Redirect(w, r, a.meta.EndSession+"?"+q.Encode(), http.StatusSeeOther)
}

func cookieValue(c *http.Cookie, err error) string {
	if err != nil {
		return ""
	}
	return c.Value
}
