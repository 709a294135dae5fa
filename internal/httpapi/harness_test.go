package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

const testIssuer = "https://gatehouse.test"

// Passwords of the harness's users. No response may ever contain one.
const (
	annPassword   = "ann's correct horse"
	bobPassword   = "bob's battery staple"
	adminPassword = "root's long passphrase"
)

// harness is the real handler tree on a temporary SQLite database, with
// three users logged in: ann and bob (role user) and admin.
type harness struct {
	t      testing.TB
	app    *app.App
	cfg    app.Config
	store  *store.Store
	clock  *authtest.Clock
	tokens map[string]*auth.Tokens // by user name
	users  map[string]auth.User
}

// unlimited keeps the rate limits out of tests about other things.
var unlimited = ratelimit.Policy{
	Login: ratelimit.Per(1e6, time.Second, 1e6), Register: ratelimit.Per(1e6, time.Second, 1e6),
	Refresh: ratelimit.Per(1e6, time.Second, 1e6), Client: ratelimit.Per(1e6, time.Second, 1e6), Lockout: ratelimit.LockoutPolicy{FreeFailures: 1e6, HourlyCap: 1e6},
}

// newHarness builds the server; opts adjust its configuration first.
func newHarness(t testing.TB, opts ...func(*app.Config)) *harness {
	t.Helper()
	ctx := context.Background()
	st := storetest.New(t)
	clk := authtest.NewClock(time.Now().UTC())
	cfg := app.Config{
		Issuer: testIssuer, Audience: testIssuer, AccessTTL: 15 * time.Minute, RefreshTTL: 720 * time.Hour,
		ReuseGrace: 10 * time.Second, SessionMaxAge: 720 * time.Hour, IdleTimeout: 168 * time.Hour, SigningAlg: "EdDSA",
		// Cheap hashes, and a queue deep enough that concurrency tests measure
		// uniqueness, not the pool's backpressure (tested in internal/password).
		Hashing: password.Options{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
			Queue: 256, MaxWait: time.Minute},
		Now: clk.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: &unlimited,
	}
	cfg.MasterKey, _ = seal.Generate()
	for _, o := range opts {
		o(&cfg)
	}
	a, err := app.New(ctx, cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, app: a, cfg: cfg, store: st, clock: clk, tokens: map[string]*auth.Tokens{}, users: map[string]auth.User{}}
	for _, u := range []struct{ name, email, username, pw, role string }{
		{"ann", "ann@example.com", "ann", annPassword, auth.RoleUser},
		{"bob", "bob@example.com", "bob", bobPassword, auth.RoleUser},
		{"admin", "admin@example.com", "root", adminPassword, auth.RoleAdmin},
	} {
		user, err := a.Services.Accounts.CreateUser(ctx, auth.RegisterInput{Email: u.email, Username: u.username, Name: strings.ToUpper(u.name[:1]) + u.name[1:], Password: u.pw}, u.role)
		if err != nil {
			t.Fatal(err)
		}
		h.users[u.name] = user
		if h.tokens[u.name], err = a.Services.Sessions.Login(ctx, auth.LoginInput{Identifier: u.email, Password: u.pw}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// req describes one request of a scenario.
type req struct {
	method, path string
	as           string // "" (anonymous), "ann", "bob" or "admin"
	carrier      string // how the token travels: "bearer" (default), "bare", "header", "cookie"
	csrf         bool   // with cookie carrier: send the matching X-CSRF-Token
	headers      map[string]string
	body         string
	contentType  string // default application/json when body is set
}

// do serves r through the handler tree and checks what every response must
// satisfy: no password material, and errors in the contract's JSON shape.
func (h *harness) do(r req) *httptest.ResponseRecorder {
	h.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	for name, u := range h.users { // rows name ids as ID:<user> and SID:<user>
		r.path = strings.ReplaceAll(r.path, "SID:"+name, h.tokens[name].SessionID)
		r.path = strings.ReplaceAll(r.path, "ID:"+name, u.ID)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	if r.body != "" {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	if r.as != "" {
		tok := h.tokens[r.as].AccessToken
		switch r.carrier {
		case "", "bearer":
			hr.Header.Set("Authorization", "Bearer "+tok)
		case "bare":
			hr.Header.Set("Authorization", tok)
		case "header":
			hr.Header.Set("X-Access-Tokens", tok)
		case "cookie":
			hr.AddCookie(&http.Cookie{Name: "__Host-access", Value: tok})
			hr.AddCookie(&http.Cookie{Name: "__Host-csrf", Value: "csrf-" + r.as})
			if r.csrf {
				hr.Header.Set("X-CSRF-Token", "csrf-"+r.as)
			}
		}
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.app.Handler.ServeHTTP(w, hr)
	h.checkResponse(r, w)
	checkContract(h.t, hr, w)
	return w
}

func (h *harness) checkResponse(r req, w *httptest.ResponseRecorder) {
	h.t.Helper()
	text := w.Body.String() + strings.Join(w.Header().Values("Set-Cookie"), ";")
	for _, secret := range []string{annPassword, bobPassword, adminPassword, "$argon2id$", `"password_hash"`} {
		if strings.Contains(text, secret) {
			h.t.Fatalf("%s %s: response contains password material %q", r.method, r.path, secret)
		}
	}
	if w.Code >= 400 && strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") && isOAuthPath(r.path) {
		// The OAuth endpoints answer in RFC 6749's format (the per-address
		// limit in front of /oauth/token excepted).
		var e map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || len(e) != 2 || e["error"] == "" ||
			(e["error_description"] == nil && (w.Code != 429 || e["message"] == nil)) {
			h.t.Fatalf("%s %s: error body %s is not {error, error_description}", r.method, r.path, w.Body)
		}
		if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
			h.t.Fatalf("%s %s: 401 without WWW-Authenticate", r.method, r.path)
		}
	} else if w.Code >= 400 && strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		var e map[string]any
		fields := 2
		if e["error"] == nil {
			_ = json.Unmarshal(w.Body.Bytes(), &e)
		}
		if e["error"] == "mfa_required" { // with its mfa_token and methods
			fields = 4
		}
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || len(e) != fields || e["error"] == "" || e["message"] == "" {
			h.t.Fatalf("%s %s: error body %s is not {error, message}", r.method, r.path, w.Body)
		}
		if w.Code == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Bearer realm="gatehouse"`) {
			h.t.Fatalf("%s %s: 401 without WWW-Authenticate", r.method, r.path)
		}
	}
}

// isOAuthPath reports whether path is an OAuth endpoint, whose errors are
// RFC 6749's {"error", "error_description"}.
func isOAuthPath(path string) bool {
	return strings.HasPrefix(path, "/oauth/token") || strings.HasPrefix(path, "/oauth/revoke") ||
		strings.HasPrefix(path, "/oauth/introspect") || strings.HasPrefix(path, "/userinfo")
}

// scenario is one row of an endpoint's table.
type scenario struct {
	name   string
	req    req
	status int
	code   string                                                       // expected error code, if any
	check  func(t *testing.T, h *harness, w *httptest.ResponseRecorder) // more assertions
}

// runScenarios runs each row on a fresh harness, so rows cannot leak state.
func runScenarios(t *testing.T, rows []scenario) {
	t.Helper()
	for _, sc := range rows {
		t.Run(sc.name, func(t *testing.T) {
			h := newHarness(t)
			h.t = t
			w := h.do(sc.req)
			if w.Code != sc.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, sc.status, w.Body)
			}
			if sc.code != "" {
				if got := errorCode(w); got != sc.code {
					t.Fatalf("error code %q, want %q; body %s", got, sc.code, w.Body)
				}
			}
			if sc.check != nil {
				sc.check(t, h, w)
			}
		})
	}
}

func errorCode(w *httptest.ResponseRecorder) string {
	var e struct{ Error string }
	_ = json.Unmarshal(w.Body.Bytes(), &e)
	return e.Error
}

// decode unmarshals a JSON response into a map.
func decode(t testing.TB, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("response %q is not JSON: %v", w.Body, err)
	}
	return m
}

func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func mustPrefixes(cidrs ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range cidrs {
		out = append(out, netip.MustParsePrefix(c))
	}
	return out
}
