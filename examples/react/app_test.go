// Package react holds the browser test of the React example (a Vite app in
// this folder): the Go test builds it and serves it on its own origin.
package react

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/app/apptest"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// build builds clients/js (the app links it) and then the app, calling
// Gatehouse at gatehouse, into a temporary directory; offline, from what
// `npm ci` installed in both folders.
func build(t *testing.T, gatehouse string) string {
	t.Helper()
	apptest.NPM(t, "../../clients/js", "build")
	dist := t.TempDir()
	t.Setenv("VITE_GATEHOUSE_URL", gatehouse)
	apptest.NPM(t, ".", "build", "--outDir", dist, "--emptyOutDir", "--logLevel", "warn")
	return dist
}

// serveApp serves the built app on ln; a path that is not a file (a page
// of the app: /login, /account) gets index.html, as a static host
// configured for a single-page app does.
func serveApp(t *testing.T, ln net.Listener, dist string) {
	files := http.FileServer(http.Dir(dist))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(filepath.Join(dist, filepath.FromSlash(path.Clean(r.URL.Path)))); err != nil {
			r.URL.Path = "/"
		}
		files.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// The React example, built by Vite from the npm registry's packages and
// @gatehouse/client, on its own origin (127.0.0.2) against Gatehouse
// (127.0.0.1, whose --cors-origins names it): the protected page sends a
// signed-out visitor to seed 001's login form, which signs up and logs in
// onto the protected page; the page outlives its access tokens by refreshing
// them silently (one session, no reuse); a second tab gets the session from
// the first, and a logout in it signs both out (the first re-renders on the
// other tab's change) and ends the session at Gatehouse.
func TestReactAppAcrossOrigins(t *testing.T) {
	ctx := apptest.Browser(t, 120*time.Second)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("React browser test skipped: cannot listen on 127.0.0.2 (another loopback origin): %v", err)
	}
	origin := "http://" + ln.Addr().String()
	const accessTTL = 2 * time.Second // every access token expires within the test
	base, gatehouse := apptest.Start(t, "127.0.0.1", func(c *app.Config) {
		c.CORSOrigins = []string{origin}
		c.AccessTTL = accessTTL
		c.ReuseGrace = 0 // a spent refresh token sent by any tab would end the session
	})
	serveApp(t, ln, build(t, base))

	run := func(ctx context.Context, step string, actions ...chromedp.Action) {
		t.Helper()
		apptest.Step(ctx, t, step, actions...)
	}
	// at waits for the app to have put path in the address bar (its
	// redirects run just after it renders).
	at := func(ctx context.Context, path string) {
		t.Helper()
		run(ctx, "wait for "+path, chromedp.Poll(fmt.Sprintf("location.href === %q", origin+path), nil,
			chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
	}
	const password = "analytical engine"
	run(ctx, "open the protected page signed out", chromedp.Navigate(origin+"/account"), chromedp.WaitVisible("#login", chromedp.ByID))
	at(ctx, "/login")
	run(ctx, "sign up", chromedp.SendKeys("#username", "ada", chromedp.ByID), chromedp.SendKeys("#email", "ada@example.com", chromedp.ByID),
		chromedp.SendKeys("#password", password, chromedp.ByID), chromedp.Click("#register-button", chromedp.ByID),
		chromedp.WaitVisible(`//p[@id="status"][contains(., "Registered")]`, chromedp.BySearch))
	run(ctx, "log in", chromedp.Click("#login-button", chromedp.ByID),
		chromedp.WaitVisible(`//dd[@id="me-email"][text()="ada@example.com"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//strong[@id="who"][text()="ada"]`, chromedp.BySearch))
	at(ctx, "/account")

	users, _, err := gatehouse.Services.Accounts.ListUsers(context.Background(), auth.UserQuery{Prefix: "ada", Limit: 2})
	if err != nil || len(users) != 1 {
		t.Fatalf("users named ada: %v %v", users, err)
	}
	liveSessions := func() int {
		t.Helper()
		list, _, err := gatehouse.Services.Sessions.Sessions(context.Background(), users[0].ID, auth.SessionPage{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}

	// Silent refresh: past the access token's lifetime the page still loads
	// its data, on a refreshed token, with no login in between.
	before := refreshes(t, base)
	var expires string
	run(ctx, "read the expiry", chromedp.Text("#expires", &expires, chromedp.ByID))
	time.Sleep(accessTTL + 500*time.Millisecond)
	run(ctx, "reload after the access token expired", chromedp.Click("#reload-button", chromedp.ByID),
		chromedp.WaitVisible(fmt.Sprintf(`//span[@id="expires"][text()!=%q]`, expires), chromedp.BySearch),
		chromedp.WaitVisible(`//dd[@id="sessions-count"][text()="1"]`, chromedp.BySearch))
	var shown string
	run(ctx, "read the page", chromedp.Text("#error", &shown, chromedp.ByID))
	if shown != "" {
		t.Fatalf("the page shows an error after the silent refresh: %s", shown)
	}
	at(ctx, "/account")
	if after := refreshes(t, base); after <= before {
		t.Fatalf("Gatehouse answered %d refreshes before the reload and %d after: the page did not refresh", before, after)
	}
	if n := liveSessions(); n != 1 {
		t.Fatalf("%d live sessions after the silent refresh, want 1", n)
	}

	// A second tab gets the session from the first; logging out there signs
	// out both.
	second, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	run(second, "open a second tab", chromedp.Navigate(origin+"/account"),
		chromedp.WaitVisible(`//dd[@id="me-email"][text()="ada@example.com"]`, chromedp.BySearch))
	run(second, "log out in the second tab", chromedp.Click("#logout-button", chromedp.ByID), chromedp.WaitVisible("#login", chromedp.ByID))
	at(second, "/login")
	run(ctx, "the first tab signs out too", chromedp.WaitVisible("#login", chromedp.ByID))
	at(ctx, "/login")
	if n := liveSessions(); n != 0 {
		t.Fatalf("%d live sessions after the logout, want 0", n)
	}
	reused, _, err := gatehouse.Services.Accounts.AuditEvents(context.Background(), auth.AuditFilter{Event: auth.EventRefreshReuse, Limit: 10})
	if err != nil || len(reused) != 0 {
		t.Fatalf("refresh token reuse detected: %v %v", reused, err)
	}
	run(ctx, "the protected page after the logout", chromedp.Navigate(origin+"/account"), chromedp.WaitVisible("#login", chromedp.ByID))
	at(ctx, "/login")
}

var refreshLine = regexp.MustCompile(`(?m)^gatehouse_http_requests_total\{method="POST",route="POST /token/refresh",status="200"\} (\d+)$`)

// refreshes is how many refreshes Gatehouse has answered with 200.
func refreshes(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := refreshLine.FindSubmatch(body)
	if m == nil {
		if strings.Contains(string(body), "gatehouse_http_requests_total") {
			return 0 // none yet
		}
		t.Fatalf("no request counts in /metrics:\n%.500s", body)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
