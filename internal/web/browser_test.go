package web_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app/apptest"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// newBrowser starts headless Chromium, or skips the test when there is none.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return apptest.Browser(t, 90*time.Second)
}

// screenshot saves the page as PNG and prints where.
func screenshot(t *testing.T, name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var png []byte
		if err := chromedp.FullScreenshot(&png, 100).Do(ctx); err != nil { // quality 100: PNG
			return err
		}
		dir := filepath.Join(os.TempDir(), "gatehouse-screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		path := filepath.Join(dir, name+".png")
		t.Logf("screenshot %s", path)
		return os.WriteFile(path, png, 0o644)
	})
}

func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	var s string
	if err := chromedp.Run(ctx, chromedp.Text(sel, &s, chromedp.ByQuery)); err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

func location(ctx context.Context, t *testing.T) string {
	t.Helper()
	var loc string
	if err := chromedp.Run(ctx, chromedp.Location(&loc)); err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestBrowserJourney(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	base, gatehouse := apptest.Start(t, "localhost")
	const name = `Ada <img src=x onerror="document.title='pwned'">`
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		apptest.Step(ctx, t, step, actions...)
	}

	run("sign up",
		chromedp.Navigate(base+"/signup"), chromedp.WaitVisible("#email", chromedp.ByID), screenshot(t, "signup"),
		chromedp.SendKeys("#email", "ada@example.com", chromedp.ByID),
		chromedp.SendKeys("#name", name, chromedp.ByID),
		chromedp.SendKeys("#password", "analytical engine", chromedp.ByID),
		chromedp.Click(`form[action="/signup"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(".notice", chromedp.ByQuery), screenshot(t, "login-after-signup"),
	)
	run("log in",
		chromedp.SendKeys("#identifier", "ada@example.com", chromedp.ByID),
		chromedp.SendKeys("#password", "analytical engine", chromedp.ByID),
		chromedp.Click(`form[action="/login"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(".welcome", chromedp.ByQuery), screenshot(t, "dashboard"),
	)
	if got := text(ctx, t, ".welcome"); got != "Welcome "+name+"! You are logged in." {
		t.Fatalf("dashboard greets %q", got)
	}
	var images int
	var title string
	run("check the name is inert", chromedp.Evaluate(`document.querySelectorAll("main img").length`, &images), chromedp.Title(&title))
	if images != 0 || title == "pwned" {
		t.Fatalf("the name's HTML became markup: %d images, title %q", images, title)
	}

	run("add a book",
		chromedp.Navigate(base+"/books"), chromedp.WaitVisible("#title", chromedp.ByID),
		chromedp.SendKeys("#title", "Dune", chromedp.ByID),
		chromedp.SendKeys("#author", "Frank Herbert", chromedp.ByID),
		chromedp.SendKeys("#price", "12", chromedp.ByID),
		chromedp.Click(`form[action="/books"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`li.book`, chromedp.ByQuery), screenshot(t, "books"),
	)
	var bookTitle string
	run("see it", chromedp.Value(`li.book input[name="title"]`, &bookTitle, chromedp.ByQuery))
	if bookTitle != "Dune" {
		t.Fatalf("book listed as %q", bookTitle)
	}
	run("delete it",
		chromedp.Click(`li.book form[action$="/delete"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`//p[text()="No books yet."]`, chromedp.BySearch),
	)

	run("sessions", chromedp.Navigate(base+"/sessions"), chromedp.WaitVisible(".row.current", chromedp.ByQuery), screenshot(t, "sessions"))
	if got := text(ctx, t, ".row.current .badge"); got != "this device" {
		t.Fatalf("current session badge %q", got)
	}
	run("password page", chromedp.Navigate(base+"/password"), chromedp.WaitVisible("#current_password", chromedp.ByID), screenshot(t, "password"))

	// The access cookie expires (the browser drops it); the refresh cookie
	// is still good: the next page refreshes silently.
	run("drop the access cookie", network.DeleteCookies("__Host-access").WithURL(base+"/"),
		chromedp.Navigate(base+"/dashboard"), chromedp.WaitVisible(".welcome", chromedp.ByQuery))
	var cookies []*network.Cookie
	run("read cookies", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().WithURLs([]string{base + "/"}).Do(ctx)
		return err
	}))
	refreshed := false
	for _, c := range cookies {
		if c.Name == "__Host-access" && c.HTTPOnly && c.Secure {
			refreshed = true
		}
	}
	if !refreshed {
		t.Fatalf("no new HttpOnly, Secure access cookie after the silent refresh: %v", cookies)
	}

	run("log out",
		chromedp.Click(`form.logout button`, chromedp.ByQuery),
		chromedp.WaitVisible("#identifier", chromedp.ByID),
		chromedp.Navigate(base+"/dashboard"), chromedp.WaitVisible("#identifier", chromedp.ByID),
	)
	if loc := location(ctx, t); !strings.HasPrefix(loc, base+"/login?next=") {
		t.Fatalf("dashboard after logout is at %s, want the login page", loc)
	}

	// Narrow screens: the layout holds at 375 px.
	run("log in again at 375 px", chromedp.EmulateViewport(375, 800),
		chromedp.SendKeys("#identifier", "ada@example.com", chromedp.ByID),
		chromedp.SendKeys("#password", "analytical engine", chromedp.ByID),
		chromedp.Click(`form[action="/login"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(".welcome", chromedp.ByQuery), screenshot(t, "dashboard-375px"))
	var overflow bool
	run("no sideways scroll", chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &overflow))
	if overflow {
		t.Fatal("the dashboard scrolls sideways at 375 px")
	}
	run("books at 375 px", chromedp.Navigate(base+"/books"), chromedp.WaitVisible("#title", chromedp.ByID), screenshot(t, "books-375px"))

	// An administrator (made from the command line) disables Ada.
	if _, err := gatehouse.Services.Accounts.CreateUser(context.Background(),
		auth.RegisterInput{Email: "root@example.com", Password: "root passphrase here"}, auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	run("admin logs in", chromedp.EmulateViewport(1280, 900),
		chromedp.Click(`form.logout button`, chromedp.ByQuery), chromedp.WaitVisible("#identifier", chromedp.ByID),
		chromedp.SendKeys("#identifier", "root@example.com", chromedp.ByID),
		chromedp.SendKeys("#password", "root passphrase here", chromedp.ByID),
		chromedp.Click(`form[action="/login"] button`, chromedp.ByQuery), chromedp.WaitVisible(".welcome", chromedp.ByQuery),
		chromedp.Navigate(base+"/admin/users?q=ada"), chromedp.WaitVisible(`li.row`, chromedp.ByQuery), screenshot(t, "admin-users"),
		chromedp.Click(`li.row button.danger`, chromedp.ByQuery), chromedp.WaitVisible(".notice", chromedp.ByQuery),
		chromedp.Navigate(base+"/admin/users?q=ada"), chromedp.WaitVisible(`.badge.off`, chromedp.ByQuery), screenshot(t, "admin-users-disabled"),
	)
}

// A page on another origin posting the login form to Gatehouse (login CSRF)
// is refused, and no session cookie is set.
func TestBrowserRefusesCrossOriginForm(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	base, _ := apptest.Start(t, "localhost")
	attacker := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/login">
			<input name="identifier" value="mallory"><input name="password" value="mallory's password"></form>
			<script>document.getElementById("f").submit()</script>`, base)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go attacker.Serve(ln)
	defer attacker.Close()
	if err := chromedp.Run(ctx,
		chromedp.Navigate("http://"+ln.Addr().String()+"/"),
		chromedp.WaitVisible(".error", chromedp.ByQuery), screenshot(t, "cross-origin-refused"),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(ctx, t, ".error"); !strings.Contains(got, "Cross-origin") {
		t.Fatalf("cross-origin login answered %q", got)
	}
	var cookies []*network.Cookie
	chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().WithURLs([]string{base + "/"}).Do(ctx)
		return err
	}))
	for _, c := range cookies {
		if c.Name == "__Host-access" || c.Name == "__Host-refresh" {
			t.Fatalf("a cross-origin form post set %s", c.Name)
		}
	}
}
