package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// plainJar is a cookie jar for one test server on plain http: Go's own jar
// will not send Secure (__Host-) cookies to http://127.0.0.1, browsers do.
type plainJar struct {
	mu      sync.Mutex
	cookies map[string]*http.Cookie
}

func (j *plainJar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range cs {
		if c.MaxAge < 0 || c.Value == "" {
			delete(j.cookies, c.Name)
		} else {
			j.cookies[c.Name] = c
		}
	}
}

func (j *plainJar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for _, c := range j.cookies {
		out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	return out
}

// browser is a user's browser for the authorization's pages: it keeps
// Gatehouse's cookies, follows redirects within Gatehouse, and stops at the
// first redirect elsewhere (the relying party's callback).
type browser struct {
	t    *testing.T
	base string
	http *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar := &plainJar{cookies: map[string]*http.Cookie{}}
	return &browser{t: t, base: base, http: &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if !strings.HasPrefix(r.URL.String(), base) {
			return http.ErrUseLastResponse
		}
		return nil
	}}}
}

func (b *browser) csrf() string {
	u, _ := url.Parse(b.base)
	for _, c := range b.http.Jar.Cookies(u) {
		if c.Name == "__Host-csrf" {
			return c.Value
		}
	}
	return ""
}

// get fetches url and returns the final response (a page of Gatehouse, or
// the redirect away from it) with its body.
func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.http.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	form.Set("csrf_token", b.csrf())
	resp, err := b.http.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

func hiddenFields(page string) url.Values {
	out := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		out.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return out
}

// signIn drives the pages from an authorization URL: the login form when
// asked, the consent page when shown (allowing), up to the redirect to the
// relying party, whose URL it returns.
func (b *browser) signIn(authURL, identifier, password string) *url.URL {
	b.t.Helper()
	resp, body := b.get(authURL)
	for range 4 {
		switch {
		case resp.StatusCode == http.StatusFound:
			loc, err := resp.Location()
			if err != nil {
				b.t.Fatal(err)
			}
			return loc
		case strings.Contains(body, `action="/login"`):
			form := hiddenFields(body)
			form.Set("identifier", identifier)
			form.Set("password", password)
			resp, body = b.post("/login", form)
		case strings.Contains(body, `name="consent"`):
			form := hiddenFields(body)
			form.Set("consent", "allow")
			resp, body = b.post("/authorize", form)
		default:
			b.t.Fatalf("unexpected page %d: %.400s", resp.StatusCode, body)
		}
	}
	b.t.Fatal("too many pages")
	return nil
}

// addClient registers a client with the command line and returns its id
// and secret ("" for public clients).
func addClient(t *testing.T, db string, args ...string) (id, secret string) {
	t.Helper()
	out, code := cliRun(t, "", append([]string{"client", "add", "--db", db}, args...)...)
	if code != 0 {
		t.Fatalf("client add: %d %s", code, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "client_id: "); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(line, "client_secret: "); ok {
			secret = v
		}
	}
	if id == "" {
		t.Fatalf("no client_id in %q", out)
	}
	return id, secret
}

// rp is a relying party built on golang.org/x/oauth2 and go-oidc, as an
// application would write it.
type rp struct {
	cfg      oauth2.Config
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

func newRP(t *testing.T, issuer, clientID, secret, redirect string, scopes ...string) *rp {
	t.Helper()
	provider, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &rp{provider: provider, verifier: provider.Verifier(&oidc.Config{ClientID: clientID}),
		cfg: oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: provider.Endpoint(), RedirectURL: redirect,
			Scopes: append([]string{oidc.ScopeOpenID}, scopes...)}}
}

// login runs the whole flow through b and returns the tokens and the
// verified ID token.
func (p *rp) login(t *testing.T, b *browser, issuer string, extra ...oauth2.AuthCodeOption) (*oauth2.Token, *oidc.IDToken) {
	t.Helper()
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)}, extra...)
	back := b.signIn(p.cfg.AuthCodeURL(state, opts...), "rita@example.com", "relying party passphrase")
	q := back.Query()
	if !strings.HasPrefix(back.String(), p.cfg.RedirectURL) || q.Get("state") != state {
		t.Fatalf("callback %s: wrong target or state", back)
	}
	if q.Get("iss") != issuer { // RFC 9207: the RP checks where the code comes from
		t.Fatalf("iss %q, want %q", q.Get("iss"), issuer)
	}
	tok, err := p.cfg.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := p.verifier.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if id.Nonce != nonce {
		t.Fatalf("nonce %q, want %q", id.Nonce, nonce)
	}
	return tok, id
}

// The Go relying party (x/oauth2 + go-oidc) against a server started
// through run(): a confidential client with its secret and consent, a public
// client with PKCE and RS256 ID tokens, userinfo, refresh, revocation,
// prompt=none with and without a session, max_age, end-session.
func TestOIDCGoRelyingParty(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	issuer := s.base
	c := newClient(t, s)
	expect(t, c.json("POST", "/register", `{"email":"rita@example.com","username":"rita","name":"Rita","password":"relying party passphrase"}`), 201)
	webID, webSecret := addClient(t, s.db, "--name", "Go Web App", "--redirect-uri", "https://rp.example/callback",
		"--post-logout-redirect-uri", "https://rp.example/bye")
	spaID, spaSecret := addClient(t, s.db, "--name", "Go SPA", "--public", "--redirect-uri", "http://127.0.0.1/cb",
		"--id-token-alg", "RS256", "--require-consent=false")
	if webSecret == "" || spaSecret != "" {
		t.Fatalf("secrets: confidential %q, public %q", webSecret, spaSecret)
	}
	out, _ := cliRun(t, "", "client", "list", "--db", s.db)
	if !strings.Contains(out, "Go Web App") || !strings.Contains(out, "public") || strings.Contains(out, webSecret) {
		t.Fatalf("client list: %s", out)
	}

	b := newBrowser(t, s.base)
	web := newRP(t, issuer, webID, webSecret, "https://rp.example/callback", "profile", "email", oidc.ScopeOfflineAccess)
	tok, id := web.login(t, b, issuer)
	var claims struct {
		Email             string `json:"email"`
		Name              string `json:"name"`
		PreferredUsername string `json:"preferred_username"`
	}
	if err := id.Claims(&claims); err != nil || id.Subject == "" || claims.Email != "rita@example.com" ||
		claims.Name != "Rita" || claims.PreferredUsername != "rita" {
		t.Fatalf("claims %+v: %v", claims, err)
	}
	info, err := web.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
	if err != nil || info.Email != "rita@example.com" || info.Subject != id.Subject {
		t.Fatalf("userinfo %+v: %v", info, err)
	}
	// Refresh: rotate through x/oauth2's token source.
	old := *tok
	old.Expiry = time.Now().Add(-time.Minute)
	fresh, err := web.cfg.TokenSource(context.Background(), &old).Token()
	if err != nil || fresh.RefreshToken == tok.RefreshToken || fresh.AccessToken == tok.AccessToken {
		t.Fatalf("refresh: %v", err)
	}
	// Revocation of the refresh token ends the grant's session.
	form := url.Values{"token": {fresh.RefreshToken}, "client_id": {webID}, "client_secret": {webSecret}}
	resp, err := http.PostForm(issuer+"/oauth/revoke", form)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := web.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(fresh)); err == nil {
		t.Fatal("userinfo worked after revocation")
	}
	expired := *fresh
	expired.Expiry = time.Now().Add(-time.Minute)
	if _, err := web.cfg.TokenSource(context.Background(), &expired).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("refresh after revocation: %v", err)
	}

	// The public client: PKCE, no secret, no consent page, RS256 ID tokens
	// (go-oidc verifies with the RSA key of the JWKS); the browser session
	// is the one already signed in.
	spa := newRP(t, issuer, spaID, "", "http://127.0.0.1:8123/cb")
	if _, id := spa.login(t, b, issuer); id.Subject == "" {
		t.Fatal("no subject")
	}
	// prompt=none with the session: a code, no page.
	if _, id := spa.login(t, b, issuer, oauth2.SetAuthURLParam("prompt", "none")); id.Subject == "" {
		t.Fatal("no subject")
	}
	// max_age=0: the old login does not do; the login form comes again.
	resp2, body := b.get(spa.cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("max_age", "0")))
	if resp2.StatusCode != 200 || !strings.Contains(body, `action="/login"`) {
		t.Fatalf("max_age=0: %d", resp2.StatusCode)
	}
	if _, id := spa.login(t, b, issuer, oauth2.SetAuthURLParam("max_age", "3600")); id.Subject == "" {
		t.Fatal("no subject")
	}
	// prompt=none without a session: login_required back at the RP.
	stranger := newBrowser(t, s.base)
	resp3, _ := stranger.get(spa.cfg.AuthCodeURL("s2", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none")))
	loc, _ := resp3.Location()
	if resp3.StatusCode != 302 || loc == nil || loc.Query().Get("error") != "login_required" || loc.Query().Get("state") != "s2" {
		t.Fatalf("prompt=none without a session: %d %v", resp3.StatusCode, loc)
	}

	// End-session with the ID token as hint: logged out, back at the RP
	// with state; the web app's new tokens end with the browser session.
	tok, _ = web.login(t, b, issuer)
	q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {"https://rp.example/bye"}, "state": {"bye-1"}}
	resp4, _ := b.get(issuer + "/oauth/end-session?" + q.Encode())
	loc, _ = resp4.Location()
	if resp4.StatusCode != 302 || loc == nil || loc.Query().Get("state") != "bye-1" || !strings.HasPrefix(loc.String(), "https://rp.example/bye") {
		t.Fatalf("end-session: %d %v", resp4.StatusCode, loc)
	}
	if _, err := web.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Fatal("userinfo worked after end-session")
	}
	resp5, body := b.get(spa.cfg.AuthCodeURL("s3", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if resp5.StatusCode != 200 || !strings.Contains(body, `action="/login"`) {
		t.Fatalf("after end-session the browser is still signed in: %d", resp5.StatusCode)
	}

	// The command line: rotate the secret (the old one stops), remove the
	// client (its tokens stop).
	tok, _ = web.login(t, b, issuer)
	out, code := cliRun(t, "", "client", "rotate-secret", "--db", s.db, webID)
	if code != 0 || !strings.HasPrefix(out, "client_secret: ") {
		t.Fatalf("rotate-secret: %d %s", code, out)
	}
	expired = *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	if _, err := web.cfg.TokenSource(context.Background(), &expired).Token(); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("the old secret after rotation: %v", err)
	}
	web.cfg.ClientSecret = strings.TrimSpace(strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "client_secret: "))
	tok, _ = web.login(t, b, issuer)
	if out, code := cliRun(t, "", "client", "remove", "--db", s.db, webID); code != 0 {
		t.Fatalf("remove: %d %s", code, out)
	}
	if out, _ := cliRun(t, "", "client", "list", "--db", s.db); strings.Contains(out, webID) {
		t.Fatalf("removed client still listed: %s", out)
	}
	expired = *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	if _, err := web.cfg.TokenSource(context.Background(), &expired).Token(); err == nil {
		t.Fatal("a removed client refreshed")
	}
}

// An outside client nobody here wrote: Debian's python3-authlib runs the
// code flow with PKCE (testdata/authlib_rp.py) and verifies the ID token with
// the JWKS, once with EdDSA and once with RS256 ID tokens.
func TestOIDCPythonAuthlib(t *testing.T) {
	t.Parallel()
	if out, err := exec.Command("/usr/bin/python3", "-c", "import authlib.jose, requests").CombinedOutput(); err != nil {
		t.Skipf("the authlib client test needs /usr/bin/python3 with authlib and requests (apt-get install python3-authlib python3-requests): %s", out)
	}
	s := startServer(t, "")
	c := newClient(t, s)
	expect(t, c.json("POST", "/register", `{"email":"rita@example.com","username":"rita","password":"relying party passphrase"}`), 201)
	for _, alg := range []string{"EdDSA", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			id, _ := addClient(t, s.db, "--name", "Authlib "+alg, "--public", "--redirect-uri", "http://127.0.0.1/authlib", "--id-token-alg", alg)
			cmd := exec.Command("/usr/bin/python3", "testdata/authlib_rp.py", s.base, id, "http://127.0.0.1:9/authlib",
				"rita@example.com", "relying party passphrase")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("authlib: %v\n%s", err, out)
			}
			var got map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("authlib output %q: %v", out, err)
			}
			if got["email"] != "rita@example.com" || got["userinfo_email"] != "rita@example.com" || got["aud"] != id || got["alg"] != alg {
				t.Fatalf("authlib saw %v", got)
			}
		})
	}
}
