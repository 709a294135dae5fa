package httpapi_test

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
)

const (
	spaOrigin   = "http://localhost:3000"
	otherOrigin = "https://evil.example"
)

func withCORS(origins ...string) func(*app.Config) {
	return func(c *app.Config) { c.CORSOrigins = origins }
}

// corsHeaders are the response headers that grant another origin anything.
var corsHeaders = []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods",
	"Access-Control-Allow-Headers", "Access-Control-Max-Age", "Access-Control-Expose-Headers"}

func noCORS(t *testing.T, what string, w *httptest.ResponseRecorder) {
	t.Helper()
	for _, h := range corsHeaders {
		if v := w.Header().Get(h); v != "" {
			t.Errorf("%s: %s: %q, want no CORS header at all", what, h, v)
		}
	}
}

// never a wildcard with credentials, on any response.
func checkNoWildcardCredentials(t *testing.T, what string, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Header().Get("Access-Control-Allow-Origin") == "*" && w.Header().Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("%s: a wildcard origin with credentials", what)
	}
}

func varyOrigin(w *httptest.ResponseRecorder) bool {
	for _, v := range w.Header().Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "Origin") {
				return true
			}
		}
	}
	return false
}

func preflight(path, origin, method string) req {
	return req{method: "OPTIONS", path: path, headers: map[string]string{
		"Origin": origin, "Access-Control-Request-Method": method,
		"Access-Control-Request-Headers": "authorization,content-type,x-csrf-token"}}
}

// Every route group of the browser API answers a listed origin's preflight
// with 204, the method, the three headers, Max-Age and credentials; an
// unlisted origin gets 204 and no CORS header, so its browser refuses.
func TestCORSPreflightPerRouteGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withCORS(spaOrigin, "https://app.example.com"))
	for _, tc := range []struct{ path, method string }{
		{"/register", "POST"}, {"/signup", "POST"}, {"/login", "POST"}, {"/set-jwt", "POST"},
		{"/token/refresh", "POST"}, {"/logout", "POST"},
		{"/me", "GET"}, {"/me", "PATCH"}, {"/me", "DELETE"}, {"/get-jwt", "GET"}, {"/get_name", "GET"},
		{"/me/password", "POST"}, {"/me/sessions", "GET"}, {"/me/sessions/SID:ann", "DELETE"},
		{"/books", "GET"}, {"/books", "POST"}, {"/book", "POST"},
		{"/books/123", "GET"}, {"/books/123", "PATCH"}, {"/books/123", "DELETE"},
	} {
		what := tc.method + " " + tc.path
		w := h.do(preflight(tc.path, spaOrigin, tc.method))
		if w.Code != 204 {
			t.Errorf("%s: preflight %d, want 204; body %s", what, w.Code, w.Body)
			continue
		}
		hd := w.Header()
		if got := hd.Get("Access-Control-Allow-Origin"); got != spaOrigin {
			t.Errorf("%s: Allow-Origin %q", what, got)
		}
		if got := hd.Get("Access-Control-Allow-Credentials"); got != "true" {
			t.Errorf("%s: Allow-Credentials %q", what, got)
		}
		if got := hd.Get("Access-Control-Allow-Methods"); got != tc.method {
			t.Errorf("%s: Allow-Methods %q", what, got)
		}
		allowed := strings.ToLower(hd.Get("Access-Control-Allow-Headers"))
		for _, want := range []string{"authorization", "content-type", "x-csrf-token"} {
			if !strings.Contains(allowed, want) {
				t.Errorf("%s: Allow-Headers %q lacks %s", what, allowed, want)
			}
		}
		if got := hd.Get("Access-Control-Max-Age"); got != "600" {
			t.Errorf("%s: Max-Age %q", what, got)
		}
		if !varyOrigin(w) {
			t.Errorf("%s: no Vary: Origin (%v)", what, hd.Values("Vary"))
		}
		// The same preflight from an origin not listed: nothing granted.
		w = h.do(preflight(tc.path, otherOrigin, tc.method))
		if w.Code != 204 || !varyOrigin(w) {
			t.Errorf("%s: unlisted preflight %d, Vary %v", what, w.Code, w.Header().Values("Vary"))
		}
		noCORS(t, what+" from an unlisted origin", w)
	}
	// A method the path does not serve, or a header outside the three, is
	// not granted either.
	noCORS(t, "DELETE /login", h.do(preflight("/login", spaOrigin, "DELETE")))
	noCORS(t, "PUT /me", h.do(preflight("/me", spaOrigin, "PUT")))
	w := h.do(req{method: "OPTIONS", path: "/me", headers: map[string]string{"Origin": spaOrigin,
		"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-access-tokens"}})
	noCORS(t, "GET /me with x-access-tokens", w)
	// Origins compare exactly: another port, scheme or a suffix is another origin.
	for _, o := range []string{"http://localhost:3001", "https://localhost:3000", "http://localhost:3000.evil.example", "null"} {
		noCORS(t, "preflight from "+o, h.do(preflight("/login", o, "POST")))
	}
}

// An OPTIONS that is not a preflight is still 405 with Allow, and a path
// outside the browser API answers preflights 405 without CORS.
func TestCORSOptionsWithoutPreflight(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withCORS(spaOrigin))
	w := h.do(req{method: "OPTIONS", path: "/login"})
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD, POST" {
		t.Fatalf("plain OPTIONS /login: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
	for _, path := range []string{"/dashboard", "/sessions", "/password", "/admin/users", "/users", "/audit", "/revocations", "/healthz", "/", "/sessions/x/end"} {
		w := h.do(preflight(path, spaOrigin, "GET"))
		if w.Code != 405 {
			t.Errorf("preflight %s: %d, want 405", path, w.Code)
		}
		noCORS(t, "preflight "+path, w)
	}
}

// Actual responses: a listed origin gets its own origin back, credentials,
// Vary: Origin and the exposed headers, errors included (so the app can
// read them); an unlisted origin gets no CORS header; no wildcard ever goes
// with credentials.
func TestCORSResponses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withCORS(spaOrigin))
	login := `{"email":"ann@example.com","password":"` + annPassword + `"}`
	for _, tc := range []struct {
		name   string
		r      req
		status int
	}{
		{"login", req{method: "POST", path: "/login", body: login}, 200},
		{"failed login", req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"wrong one"}`}, 401},
		{"me", req{method: "GET", path: "/me", as: "ann"}, 200},
		{"me without token", req{method: "GET", path: "/me"}, 401},
		{"sessions", req{method: "GET", path: "/me/sessions", as: "ann"}, 200},
		{"books", req{method: "GET", path: "/books", as: "ann"}, 200},
		{"add a book", req{method: "POST", path: "/books", as: "ann", body: `{"title":"Dune","price":1}`}, 201},
		{"seed alias", req{method: "POST", path: "/set-jwt", body: login}, 200},
	} {
		for _, origin := range []string{spaOrigin, otherOrigin, ""} {
			r := tc.r
			r.headers = map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
			if origin != "" {
				r.headers["Origin"] = origin
			} else {
				r.headers = nil
			}
			what := tc.name + " from " + origin
			w := h.do(r)
			if w.Code != tc.status {
				t.Errorf("%s: %d, want %d; body %s", what, w.Code, tc.status, w.Body)
			}
			if !varyOrigin(w) {
				t.Errorf("%s: no Vary: Origin", what)
			}
			checkNoWildcardCredentials(t, what, w)
			if origin != spaOrigin {
				noCORS(t, what, w)
				continue
			}
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != spaOrigin {
				t.Errorf("%s: Allow-Origin %q", what, got)
			}
			if got := w.Header().Get("Access-Control-Allow-Credentials"); got != "true" {
				t.Errorf("%s: Allow-Credentials %q", what, got)
			}
			if got := w.Header().Get("Access-Control-Expose-Headers"); !strings.Contains(got, "Retry-After") || !strings.Contains(got, "Www-Authenticate") {
				t.Errorf("%s: Expose-Headers %q", what, got)
			}
		}
	}
}

// Pages never get CORS, even on a path the JSON API shares (GET /login, the
// books page, a form post), and neither do the routes outside the browser
// API (administration, revocations, operations).
func TestCORSNeverOnPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withCORS(spaOrigin))
	html := map[string]string{"Origin": spaOrigin, "Accept": "text/html"}
	for _, r := range []req{
		{method: "GET", path: "/", headers: html},
		{method: "GET", path: "/login", headers: html},
		{method: "GET", path: "/login", headers: map[string]string{"Origin": spaOrigin}},
		{method: "GET", path: "/signup", headers: html},
		{method: "GET", path: "/dashboard", headers: html, as: "ann", carrier: "cookie"},
		{method: "GET", path: "/books", headers: html, as: "ann", carrier: "cookie"},
		{method: "GET", path: "/sessions", headers: html, as: "ann", carrier: "cookie"},
		{method: "GET", path: "/static/style.css", headers: map[string]string{"Origin": spaOrigin}},
		{method: "POST", path: "/login", body: "identifier=ann&password=x", contentType: "application/x-www-form-urlencoded",
			headers: map[string]string{"Origin": spaOrigin, "Sec-Fetch-Site": "cross-site"}},
		{method: "GET", path: "/users", as: "admin", headers: map[string]string{"Origin": spaOrigin}},
		{method: "GET", path: "/audit", as: "admin", headers: map[string]string{"Origin": spaOrigin}},
		{method: "GET", path: "/revocations", headers: map[string]string{"Origin": spaOrigin}},
		{method: "GET", path: "/healthz", headers: map[string]string{"Origin": spaOrigin}},
		{method: "GET", path: "/openapi.yaml", headers: map[string]string{"Origin": spaOrigin}},
	} {
		noCORS(t, r.method+" "+r.path+" "+r.headers["Accept"], h.do(r))
	}
}

// The JWKS and the discovery document are readable from any origin, listed
// or not, with or without --cors-origins, and never with credentials.
func TestCORSPublicDocumentsReadableAnywhere(t *testing.T) {
	t.Parallel()
	for _, origins := range [][]string{nil, {spaOrigin}} {
		h := newHarness(t, withCORS(origins...))
		for _, path := range []string{"/.well-known/jwks.json", "/.well-known/openid-configuration"} {
			for _, origin := range []string{spaOrigin, otherOrigin} {
				what := path + " from " + origin
				w := h.do(req{method: "GET", path: path, headers: map[string]string{"Origin": origin}})
				if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "*" {
					t.Errorf("%s: %d Allow-Origin %q", what, w.Code, w.Header().Get("Access-Control-Allow-Origin"))
				}
				if w.Header().Get("Access-Control-Allow-Credentials") != "" {
					t.Errorf("%s: credentials allowed", what)
				}
				w = h.do(req{method: "OPTIONS", path: path, headers: map[string]string{"Origin": origin, "Access-Control-Request-Method": "GET"}})
				if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "*" || w.Header().Get("Access-Control-Allow-Credentials") != "" {
					t.Errorf("%s preflight: %d %v", what, w.Code, w.Header())
				}
			}
		}
	}
}

// Without --cors-origins nothing changes: preflights of the API are 405, and
// no response grants another origin anything.
func TestCORSOffByDefault(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.do(preflight("/login", spaOrigin, "POST"))
	if w.Code != 405 {
		t.Fatalf("preflight without --cors-origins: %d, want 405", w.Code)
	}
	noCORS(t, "preflight", w)
	noCORS(t, "login", h.do(req{method: "POST", path: "/login", headers: map[string]string{"Origin": spaOrigin},
		body: `{"email":"ann@example.com","password":"` + annPassword + `"}`}))
	noCORS(t, "me", h.do(req{method: "GET", path: "/me", as: "ann", headers: map[string]string{"Origin": spaOrigin}}))
}

// CORS does not loosen the cross-origin protection: a listed origin's
// requests with the token in Authorization and a JSON body work; the same
// request authenticated by cookie (CSRF token and all) is refused, as is a
// cookie refresh; the refresh token in the body works.
func TestCORSKeepsCookieRequestsSameOrigin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withCORS(spaOrigin))
	cross := map[string]string{"Origin": spaOrigin, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
	if w := h.do(req{method: "PATCH", path: "/me", as: "ann", body: `{"name":"Ann B"}`, headers: cross}); w.Code != 200 {
		t.Fatalf("bearer PATCH /me from a listed origin: %d %s", w.Code, w.Body)
	}
	w := h.do(req{method: "PATCH", path: "/me", as: "ann", carrier: "cookie", csrf: true, body: `{"name":"Mallory"}`, headers: cross})
	if w.Code != 403 || errorCode(w) != "csrf_failed" {
		t.Fatalf("cookie PATCH /me from a listed origin: %d %s, want 403 csrf_failed", w.Code, w.Body)
	}
	if w.Header().Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Fatal("the refusal is not readable by the listed origin")
	}
	rt := h.tokens["bob"].RefreshToken
	w = h.do(req{method: "POST", path: "/token/refresh", headers: map[string]string{"Origin": spaOrigin, "Sec-Fetch-Site": "cross-site",
		"Cookie": "__Host-refresh=" + rt + "; __Host-csrf=c", "X-CSRF-Token": "c"}})
	if w.Code != 403 || errorCode(w) != "csrf_failed" {
		t.Fatalf("cookie refresh from a listed origin: %d %s, want 403 csrf_failed", w.Code, w.Body)
	}
	w = h.do(req{method: "POST", path: "/token/refresh", body: `{"refresh_token":"` + rt + `"}`, headers: cross})
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Fatalf("body refresh from a listed origin: %d %s", w.Code, w.Body)
	}
	next := decode(t, w)["refresh_token"].(string)
	if w := h.do(req{method: "POST", path: "/logout", body: `{"refresh_token":"` + next + `"}`, headers: cross}); w.Code != 204 {
		t.Fatalf("body logout from a listed origin: %d %s", w.Code, w.Body)
	}
}

func TestParseOrigins(t *testing.T) {
	t.Parallel()
	good, err := httpapi.ParseOrigins(" http://localhost:3000, HTTPS://App.Example.com ,http://127.0.0.2:8080,,")
	if err != nil || !slices.Equal(good, []string{"http://localhost:3000", "https://app.example.com", "http://127.0.0.2:8080"}) {
		t.Fatalf("got %v, %v", good, err)
	}
	for _, bad := range []string{"*", "https://*.example.com", "http://*", "localhost:3000", "http://localhost:3000/",
		"http://localhost:3000/app", "http://localhost:3000?x", "http://localhost:3000#x", "ftp://example.com", "null",
		"http://user@example.com", "http://", "http://example.com:", "http://example.com:x", "file:///etc"} {
		if _, err := httpapi.ParseOrigins(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := app.New(t.Context(), app.Config{CORSOrigins: []string{"*"}}, nil); err == nil || !strings.Contains(err.Error(), "wildcards") {
		t.Fatalf("app.New with a wildcard: %v", err)
	}
}

// Regression: a body over 64 KiB announced by Content-Length is
// refused (413) before the routes, so the answer of a browser API route to a
// listed origin carried no CORS and no Vary: Origin: the app's fetch failed
// with a network error instead of reading the 413.
func TestCORSOnTooLargeBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withCORS(spaOrigin))
	w := h.do(req{method: "POST", path: "/login", headers: map[string]string{"Origin": spaOrigin},
		body: `{"email":"` + strings.Repeat("a", 70<<10) + `"}`})
	if w.Code != 413 {
		t.Fatalf("status %d, want 413", w.Code)
	}
	if got := w.Header().Get("Access-Control-Allow-Origin"); got != spaOrigin {
		t.Errorf("413 to a listed origin: Access-Control-Allow-Origin %q, want %q", got, spaOrigin)
	}
	if !varyOrigin(w) {
		t.Errorf("413: no Vary: Origin")
	}
}

// Regression: the OAuth endpoints of the browser API take form bodies
// (RFC 6749 requires application/x-www-form-urlencoded at /oauth/token, and
// /oauth/token refuses JSON), so a browser app on a listed origin posts a
// form. Those answers must carry CORS like any other answer of the browser
// API, or the app can never read its tokens.
func TestCORSOnOAuthFormEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withCORS(spaOrigin))
	form := "application/x-www-form-urlencoded"
	hdr := map[string]string{"Origin": spaOrigin, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
	for _, r := range []req{
		{method: "POST", path: "/oauth/token", contentType: form, headers: hdr,
			body: "grant_type=authorization_code&code=x&client_id=spa&code_verifier=v&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcb"},
		{method: "POST", path: "/oauth/revoke", contentType: form, headers: hdr, body: "token=abc&client_id=spa"},
		{method: "POST", path: "/userinfo", contentType: form, headers: hdr, body: "access_token=abc"},
	} {
		w := h.do(r)
		what := r.method + " " + r.path + " (form)"
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != spaOrigin {
			t.Errorf("%s: %d, Access-Control-Allow-Origin %q, want %q", what, w.Code, got, spaOrigin)
		}
		if !varyOrigin(w) {
			t.Errorf("%s: no Vary: Origin", what)
		}
	}
}

// Regression: --cors-origins took origins that no browser ever sends
// (a browser serializes an origin without its scheme's default port, without
// leading zeros in the port, and with an ASCII host), so the start succeeded
// and the app's every request then failed CORS with nothing said.
func TestParseOriginsRefusesOriginsNoBrowserSends(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"https://app.example.com:443", "http://localhost:80", "http://localhost:03000",
		"http://localhost:99999", "https://bücher.example"} {
		if got, err := httpapi.ParseOrigins(bad); err == nil {
			t.Errorf("%q accepted as %q: no browser sends that Origin", bad, got)
		}
	}
	if got, err := httpapi.ParseOrigins("https://app.example.com:8443,http://[::1]:3000"); err != nil || len(got) != 2 {
		t.Errorf("non-default ports: %v, %v", got, err)
	}
}
