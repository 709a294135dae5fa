package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/upstream/upstreamtest"
)

// hostJar keeps cookies per host and port, as browsers would for two
// sites (Go's own jar will not send Secure cookies over plain http).
type hostJar struct {
	mu   sync.Mutex
	jars map[string]*plainJar
}

func (j *hostJar) jar(u *url.URL) *plainJar {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.jars[u.Host] == nil {
		j.jars[u.Host] = &plainJar{cookies: map[string]*http.Cookie{}}
	}
	return j.jars[u.Host]
}

func (j *hostJar) SetCookies(u *url.URL, cs []*http.Cookie) { j.jar(u).SetCookies(u, cs) }
func (j *hostJar) Cookies(u *url.URL) []*http.Cookie        { return j.jar(u).Cookies(u) }

// siteBrowser is one browser visiting several sites: it follows every
// redirect and keeps each site's cookies.
type siteBrowser struct {
	t    *testing.T
	jar  *hostJar
	http *http.Client
}

func newSiteBrowser(t *testing.T) *siteBrowser {
	jar := &hostJar{jars: map[string]*plainJar{}}
	return &siteBrowser{t: t, jar: jar, http: &http.Client{Jar: jar}}
}

func (b *siteBrowser) cookie(base, name string) string {
	u, _ := url.Parse(base)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *siteBrowser) get(u string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.http.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// submit posts a page's form (its hidden fields, plus fields) to base+path.
func (b *siteBrowser) submit(base, path, page string, fields url.Values) (*http.Response, string) {
	b.t.Helper()
	form := hiddenFields(page)
	for k, v := range fields {
		form[k] = v
	}
	form.Set("csrf_token", b.cookie(base, "__Host-csrf"))
	resp, err := b.http.PostForm(base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// tokenClaims reads an access token's claims (the server verifies it; the
// test only looks).
func tokenClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// freePort is a port nothing listens on (for a server whose issuer must
// name its port before it starts).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// twoGatehouses starts the upstream Gatehouse (the OpenID provider, on
// 127.0.0.1) and the downstream one (on localhost, so the two sites keep
// their cookies apart in one browser, as on two domains), registers the
// downstream as a client of the upstream through the upstream's command
// line, and the upstream as provider "up" of the downstream through its
// command line. It returns the upstream and the downstream's base URL.
func twoGatehouses(t *testing.T) (up *server, down *server, downBase string) {
	t.Helper()
	up = startServer(t, "")
	port := freePort(t)
	downBase = "http://localhost:" + port
	down = startServer(t, "", "--addr", "127.0.0.1:"+port, "--issuer", downBase)
	clientID, secret := addClient(t, up.db, "--name", "Downstream Shop", "--redirect-uri", downBase+"/login/up/callback")
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := cliRun(t, "", "provider", "add", "--db", down.db, "--id", "up", "--issuer", up.base, "--name", "Upstream",
		"--client-id", clientID, "--client-secret-file", secretFile, "--scopes", "openid,email,profile", "--public-url", downBase)
	if code != 0 || !strings.Contains(out, downBase+"/login/up/callback") {
		t.Fatalf("provider add: %d %s", code, out)
	}
	return up, down, downBase
}

var providerButton = regexp.MustCompile(`href="/login/up(\?next=[^"]*)?">Sign in with Upstream</a>`)

// A second Gatehouse, started through run(), is the OpenID provider that
// signs a user into the first, through the pages with a cookie jar: the
// button, the upstream's login and consent, the callback, the page asked
// for. The new account's tokens say how it signed in (amr fed, idp up);
// the next login finds the same account; its only identity cannot be
// unlinked.
func TestGatehouseSignsAUserIntoAnotherGatehouse(t *testing.T) {
	t.Parallel()
	up, down, downBase := twoGatehouses(t)
	expect(t, newClient(t, up).json("POST", "/register", `{"email":"uma@example.com","name":"Uma","password":"upstream passphrase 1"}`), 201)

	b := newSiteBrowser(t)
	_, login := b.get(downBase + "/login?next=%2Fsessions")
	m := providerButton.FindStringSubmatch(login)
	if m == nil {
		t.Fatalf("no provider button on the login page:\n%s", login)
	}
	resp, page := b.get(downBase + "/login/up" + strings.ReplaceAll(m[1], "&amp;", "&"))
	if !strings.HasPrefix(resp.Request.URL.String(), up.base+"/login") || !strings.Contains(page, `action="/login"`) {
		t.Fatalf("not at the upstream's login page: %s", resp.Request.URL)
	}
	resp, page = b.submit(up.base, "/login", page, url.Values{"identifier": {"uma@example.com"}, "password": {"upstream passphrase 1"}})
	if !strings.Contains(page, `name="consent"`) || !strings.Contains(page, "Downstream Shop") {
		t.Fatalf("no consent page: %d %s", resp.StatusCode, resp.Request.URL)
	}
	resp, page = b.submit(up.base, "/authorize", page, url.Values{"consent": {"allow"}})
	if resp.StatusCode != 200 || resp.Request.URL.String() != downBase+"/sessions" {
		out, _ := cliRun(t, "", "audit", "--db", down.db)
		t.Fatalf("after consent: %d at %s: %s", resp.StatusCode, resp.Request.URL, out)
	}
	access := b.cookie(downBase, "__Host-access")
	claims := tokenClaims(t, access)
	if claims["idp"] != "up" || !reflectStrings(claims["amr"], "fed") || claims["iss"] != downBase {
		t.Fatalf("claims %v", claims)
	}
	downAPI := &client{t: t, base: down.base, cookies: map[string]string{}}
	me := downAPI.json("GET", "/me", "", "Authorization", "Bearer "+access)
	expect(t, me, 200)
	user, _ := me.json(t)["user"].(map[string]any)
	if user["email"] != "uma@example.com" || user["name"] != "Uma" || user["email_verified"] != false {
		t.Fatalf("downstream account %v", user)
	}
	ids := downAPI.json("GET", "/me/identities", "", "Authorization", "Bearer "+access)
	expect(t, ids, 200)
	list := ids.json(t)["identities"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["provider"] != "up" || list[0].(map[string]any)["email"] != "uma@example.com" {
		t.Fatalf("identities %s", ids.body)
	}
	id := list[0].(map[string]any)["id"].(string)
	refused := downAPI.json("DELETE", "/me/identities/"+id, "", "Authorization", "Bearer "+access)
	expect(t, refused, 409)
	if refused.json(t)["error"] != "last_sign_in_method" {
		t.Fatalf("unlink: %s", refused.body)
	}

	// Again, in a fresh browser that is signed in upstream only: the same
	// account, without the consent page (granted already).
	b2 := newSiteBrowser(t)
	_, page = b2.get(up.base + "/login")
	b2.submit(up.base, "/login", page, url.Values{"identifier": {"uma@example.com"}, "password": {"upstream passphrase 1"}})
	resp, _ = b2.get(downBase + "/login/up")
	if resp.Request.URL.String() != downBase+"/dashboard" {
		t.Fatalf("second login ended at %s", resp.Request.URL)
	}
	if again := tokenClaims(t, b2.cookie(downBase, "__Host-access")); again["sub"] != claims["sub"] {
		t.Fatalf("second login: another account %v, want %v", again["sub"], claims["sub"])
	}
	out, _ := cliRun(t, "", "audit", "--db", down.db, "--event", "upstream_login")
	if strings.Count(out, "provider up") != 2 {
		t.Fatalf("audit of upstream logins:\n%s", out)
	}
}

func reflectStrings(v any, want ...string) bool {
	list, ok := v.([]any)
	if !ok || len(list) != len(want) {
		return false
	}
	for i, s := range want {
		if list[i] != s {
			return false
		}
	}
	return true
}

// Refusals at the pages end on the login page with one sentence: an
// unknown provider, a next off this site, a callback without its flow (a
// forged or replayed one), a denial at the provider.
func TestUpstreamRefusalsEndOnTheLoginPage(t *testing.T) {
	t.Parallel()
	up, _, downBase := twoGatehouses(t)
	_ = up
	b := newSiteBrowser(t)
	for _, tc := range []struct{ path, sentence string }{
		{"/login/nope", "That sign-in provider is not available here."},
		{"/login/up?next=https%3A%2F%2Fevil.example%2F", "The page to return to after signing in must be on this site."},
		{"/login/up?next=%2F%2Fevil.example", "The page to return to after signing in must be on this site."},
		{"/login/up/callback?code=x&state=y", "This sign-in expired or was started in another browser; start again."},
	} {
		resp, page := b.get(downBase + tc.path)
		if resp.Request.URL.Host != strings.TrimPrefix(downBase, "http://") || !strings.Contains(page, `action="/login"`) ||
			!strings.Contains(page, tc.sentence) {
			t.Errorf("%s: %d at %s: %.400s", tc.path, resp.StatusCode, resp.Request.URL, page)
		}
	}
	// A denial: the upstream's consent page answered "deny".
	expect(t, newClient(t, up).json("POST", "/register", `{"email":"dan@example.com","password":"upstream passphrase 2"}`), 201)
	_, page := b.get(downBase + "/login/up")
	_, page = b.submit(up.base, "/login", page, url.Values{"identifier": {"dan@example.com"}, "password": {"upstream passphrase 2"}})
	resp, page := b.submit(up.base, "/authorize", page, url.Values{"consent": {"deny"}})
	if !strings.HasPrefix(resp.Request.URL.String(), downBase+"/login/up/callback") ||
		!strings.Contains(page, "The sign-in was cancelled at the provider; start again to continue.") {
		t.Fatalf("denied: %d at %s: %.400s", resp.StatusCode, resp.Request.URL, page)
	}
}

// GitHub's app flow against a GitHub-shaped server, configured through the
// command line with its endpoints (as for GitHub Enterprise): a user whose
// primary address is verified gets a verified account; one whose primary
// address is unverified gets an account whose address is not verified.
func TestGitHubProviderThroughTheCommandLine(t *testing.T) {
	t.Parallel()
	down := startServer(t, "")
	gh := upstreamtest.NewGitHub(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(gh.ClientSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := cliRun(t, "", "provider", "add", "--db", down.db, "--id", "ghe", "--kind", "github", "--name", "GitHub Enterprise",
		"--client-id", gh.ClientID, "--client-secret-file", secretFile,
		"--auth-url", gh.URL+"/login/oauth/authorize", "--token-url", gh.URL+"/login/oauth/access_token", "--api-url", gh.URL+"/api")
	if code != 0 {
		t.Fatalf("provider add: %s", out)
	}
	out, _ = cliRun(t, "", "provider", "list", "--db", down.db)
	if !strings.Contains(out, "ghe") || !strings.Contains(out, gh.URL+"/api") || strings.Contains(out, gh.ClientSecret) {
		t.Fatalf("provider list:\n%s", out)
	}
	for _, tc := range []struct {
		user     upstreamtest.GitHubUser
		verified bool
	}{
		{upstreamtest.GitHubUser{ID: 1, Login: "octo", Emails: []upstreamtest.GitHubEmail{{Email: "octo@example.com", Primary: true, Verified: true}}}, true},
		{upstreamtest.GitHubUser{ID: 2, Login: "fresh", Emails: []upstreamtest.GitHubEmail{{Email: "fresh@example.com", Primary: true}}}, false},
	} {
		gh.SignIn(tc.user)
		b := newSiteBrowser(t)
		resp, _ := b.get(down.base + "/login/ghe")
		if resp.Request.URL.String() != down.base+"/dashboard" {
			t.Fatalf("%s: ended at %s", tc.user.Login, resp.Request.URL)
		}
		claims := tokenClaims(t, b.cookie(down.base, "__Host-access"))
		if claims["idp"] != "ghe" || claims["email_verified"] != tc.verified {
			t.Fatalf("%s: claims %v", tc.user.Login, claims)
		}
	}
}
