package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/app/apptest"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// clientDir is the browser client's source, relative to this package.
const clientDir = "../../clients/js"

// buildClient builds clients/js with its own tsc (no network: npm ci, run
// by .ci/run, installed it) and returns the output directory.
func buildClient(t *testing.T) string {
	t.Helper()
	apptest.NPM(t, clientDir, "build")
	return filepath.Join(clientDir, "dist")
}

// newBrowser starts headless Chromium, or skips the test when there is none.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return apptest.Browser(t, 120*time.Second)
}

// listen opens host:0, or skips when this machine has no such loopback address.
func listen(t *testing.T, host string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Skipf("SPA browser tests skipped: cannot listen on %s (another loopback origin): %v", host, err)
	}
	return ln
}

func serveOn(t *testing.T, ln net.Listener, h http.Handler) string {
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// axiosPage is seed 001's request, as its React form sends it: axios.post
// of {username, password} to /login (axios from clients/js's node_modules).
const axiosPage = `<!doctype html><meta charset="utf-8"><script src="/axios/axios.min.js"></script>
<script>
window.login = (base, username, password) => axios.post(base + "/login", { username, password })
  .then((response) => "ok " + (typeof response.data.access_token === "string"),
        (error) => "error " + (error.response ? error.response.status : error.code));
</script>`

// awaitPromise makes Evaluate wait for the promise the expression returns.
func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// The SPA on another origin (127.0.0.2) signs up, logs in, calls /me and
// refreshes through Gatehouse (127.0.0.1, --cors-origins naming the SPA);
// five tabs refreshing at once for ten rounds stay signed in on one
// session, with one rotation a round and no reuse grace to lean on; a page on an unlisted origin (127.0.0.3) is blocked by the
// browser itself; seed 001's axios login works from the listed origin and
// is blocked from the other.
func TestSPAAcrossOrigins(t *testing.T) {
	ctx := newBrowser(t)
	dist := buildClient(t)
	spaLn, otherLn := listen(t, "127.0.0.2"), listen(t, "127.0.0.3")
	spa := "http://" + spaLn.Addr().String()
	base, gatehouse := apptest.Start(t, "127.0.0.1", func(c *app.Config) {
		c.CORSOrigins = []string{spa}
		c.ReuseGrace = 0 // no grace: a spent refresh token sent by any tab ends the session
	})
	page, err := newHandler(base, dist)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", page)
	mux.HandleFunc("GET /axios.html", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, axiosPage) })
	mux.Handle("GET /axios/", http.StripPrefix("/axios/", http.FileServer(http.Dir(filepath.Join(clientDir, "node_modules", "axios", "dist")))))
	serveOn(t, spaLn, mux)
	other := serveOn(t, otherLn, mux)

	run := func(ctx context.Context, step string, actions ...chromedp.Action) {
		t.Helper()
		apptest.Step(ctx, t, step, actions...)
	}
	const password = "analytical engine"
	run(ctx, "sign up", chromedp.Navigate(spa+"/"), chromedp.WaitVisible("#login", chromedp.ByID),
		chromedp.SendKeys("#username", "ada", chromedp.ByID), chromedp.SendKeys("#email", "ada@example.com", chromedp.ByID),
		chromedp.SendKeys("#password", password, chromedp.ByID), chromedp.Click("#register-button", chromedp.ByID),
		chromedp.WaitVisible(`//p[@id="status"][contains(., "registered")]`, chromedp.BySearch))
	run(ctx, "log in", chromedp.Click("#login-button", chromedp.ByID), chromedp.WaitVisible("#signed-in", chromedp.ByID))
	run(ctx, "GET /me", chromedp.Click("#me-button", chromedp.ByID),
		chromedp.WaitVisible(`//pre[@id="result"][contains(., "ada@example.com")]`, chromedp.BySearch))
	var before string
	run(ctx, "refresh", chromedp.Evaluate(`gatehouse.session.refreshToken`, &before), chromedp.Click("#refresh-button", chromedp.ByID),
		chromedp.WaitVisible(`//p[@id="status"][text()="refreshed"]`, chromedp.BySearch))
	var after, userID string
	var locks bool
	run(ctx, "read the session", chromedp.Evaluate(`gatehouse.session.refreshToken`, &after),
		chromedp.Evaluate(`gatehouse.user.id`, &userID), chromedp.Evaluate(`!!navigator.locks`, &locks))
	if after == before || after == "" {
		t.Fatal("the refresh token did not rotate")
	}
	t.Logf("tabs coordinate with Web Locks: %v", locks)
	sessions := func() int {
		t.Helper()
		list, _, err := gatehouse.Services.Sessions.Sessions(context.Background(), userID, auth.SessionPage{Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	if n := sessions(); n != 1 {
		t.Fatalf("%d sessions after sign-up, login and refresh, want 1", n)
	}

	// Five tabs of the SPA; the four new ones get the session from the first.
	tabs := []context.Context{ctx}
	for range 4 {
		tab, cancel := chromedp.NewContext(ctx)
		t.Cleanup(cancel)
		run(tab, "open a tab", chromedp.Navigate(spa+"/"), chromedp.WaitVisible("#signed-in", chromedp.ByID))
		tabs = append(tabs, tab)
	}
	const listen = `window.rounds = {};
		new BroadcastChannel("test-go").onmessage = (e) => gatehouse.refresh().then(
			(s) => { window.rounds[e.data] = s ? s.refreshToken : "signed out"; },
			(err) => { window.rounds[e.data] = "failed: " + err; });`
	for _, tab := range tabs {
		run(tab, "listen", chromedp.Evaluate(listen, nil))
	}
	for round := 1; round <= 10; round++ {
		// One message reaches every tab's listener at once: five refreshes at the same moment.
		run(tabs[0], "go", chromedp.Evaluate(fmt.Sprintf(`new BroadcastChannel("test-go").postMessage(%d)`, round), nil))
		var first string
		for i, tab := range tabs {
			var got string
			run(tab, "wait for the round", chromedp.Poll(fmt.Sprintf(`window.rounds[%d]`, round), &got,
				chromedp.WithPollingInterval(20*time.Millisecond))) // background tabs run no animation frames
			if strings.HasPrefix(got, "failed") || got == "signed out" {
				t.Fatalf("round %d, tab %d: %s", round, i, got)
			}
			if i == 0 {
				first = got
			} else if got != first {
				t.Fatalf("round %d: tab %d holds another refresh token than tab 0", round, i)
			}
		}
	}
	for i, tab := range tabs {
		var email string
		run(tab, "GET /me after the rounds", chromedp.Evaluate(`gatehouse.me().then((u) => u.email)`, &email, awaitPromise))
		if email != "ada@example.com" {
			t.Fatalf("tab %d: /me answers %q", i, email)
		}
	}
	if n := sessions(); n != 1 {
		t.Fatalf("%d sessions after five tabs refreshed ten rounds, want 1 (one lineage)", n)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// One rotation a round (and one for the button): no tab ever sent a
	// spent refresh token, which with no reuse grace would have ended the
	// session.
	const rotations = `gatehouse_http_requests_total{method="POST",route="POST /token/refresh",status="200"} 11`
	if !strings.Contains(string(metrics), rotations+"\n") {
		t.Fatalf("Gatehouse did not answer exactly 11 refreshes:\n%s", grep(string(metrics), "POST /token/refresh"))
	}
	reused, _, err := gatehouse.Services.Accounts.AuditEvents(context.Background(), auth.AuditFilter{Event: auth.EventRefreshReuse, Limit: 10})
	if err != nil || len(reused) != 0 {
		t.Fatalf("refresh token reuse detected: %v %v", reused, err)
	}

	// A page on an origin not listed: the browser refuses the preflight, so
	// the login is never even sent.
	stranger, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	var outcome string
	run(stranger, "fetch from an unlisted origin", chromedp.Navigate(other+"/axios.html"),
		chromedp.Evaluate(fmt.Sprintf(`fetch(%q + "/login", {method: "POST", headers: {"Content-Type": "application/json"},
			body: JSON.stringify({username: "ada", password: %q})}).then((r) => "resolved " + r.status, (e) => "rejected " + e.name)`, base, password),
			&outcome, awaitPromise))
	if outcome != "rejected TypeError" {
		t.Fatalf("fetch from an unlisted origin: %s, want the browser to reject it", outcome)
	}
	if n := sessions(); n != 1 {
		t.Fatalf("the unlisted origin's login went through: %d sessions", n)
	}
	run(stranger, "axios from an unlisted origin", chromedp.Evaluate(fmt.Sprintf(`login(%q, "ada", %q)`, base, password), &outcome, awaitPromise))
	if outcome != "error ERR_NETWORK" {
		t.Fatalf("seed 001's axios login from an unlisted origin: %s, want blocked (ERR_NETWORK)", outcome)
	}

	// Seed 001's own axios POST from the listed origin.
	run(tabs[1], "axios from the listed origin", chromedp.Navigate(spa+"/axios.html"),
		chromedp.Evaluate(fmt.Sprintf(`login(%q, "ada", %q)`, base, password), &outcome, awaitPromise))
	if outcome != "ok true" {
		t.Fatalf("seed 001's axios login from the listed origin: %s", outcome)
	}
	if n := sessions(); n != 2 {
		t.Fatalf("%d sessions after the axios login, want 2", n)
	}
}

func grep(text, substr string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
