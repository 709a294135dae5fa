package main

import (
	"net/url"
	"strings"
	"testing"
)

// The web UI's __Host-refresh cookie in the new token format.
// A page load with only the refresh cookie renews the session; a forged
// cookie naming the real session (other spellings, another secret) logs out
// nothing; POST /logout with the real cookie ends the session, and the old
// cookie then renews nothing.
func TestRefreshCookieForgeriesAndLogout(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newClient(t, s)
	expect(t, c.do("GET", "/signup", "", ""), 200)
	csrf := c.cookies["__Host-csrf"]
	expect(t, c.form("/signup", url.Values{"name": {"Ada"}, "email": {"ada@example.com"}, "password": {"analytical engine"}, "csrf_token": {csrf}}), 303)
	expect(t, c.form("/login", url.Values{"email": {"ada@example.com"}, "password": {"analytical engine"}, "csrf_token": {csrf}}), 303)
	real := c.cookies["__Host-refresh"]
	sid, secret, ok := strings.Cut(real, ".")
	if !ok || len(sid) != 36 {
		t.Fatalf("refresh cookie %q does not name its session", real)
	}
	// A page load with the refresh cookie alone renews the session.
	delete(c.cookies, "__Host-access")
	expect(t, c.do("GET", "/dashboard", "", ""), 200)
	if c.cookies["__Host-refresh"] == real || c.cookies["__Host-access"] == "" {
		t.Fatalf("the page load did not rotate the refresh cookie")
	}
	live := c.cookies["__Host-refresh"]

	for _, forged := range []string{
		strings.ToUpper(sid) + "." + secret,
		"{" + sid + "}." + secret,
		"urn:uuid:" + sid + "." + secret,
		sid + "." + strings.Repeat("A", 43),
		sid + "." + secret[:42] + "x",
	} {
		f := &client{t: t, base: s.base, cookies: map[string]string{"__Host-refresh": forged, "__Host-csrf": c.cookies["__Host-csrf"]}}
		r := f.form("/logout", url.Values{"csrf_token": {c.cookies["__Host-csrf"]}})
		if r.status >= 500 {
			t.Fatalf("logout with forged cookie %q: %d %s", forged, r.status, r.body)
		}
		r = f.do("GET", "/dashboard", "", "")
		if r.status == 200 {
			t.Fatalf("a forged refresh cookie %q opened the dashboard", forged)
		}
	}
	// The session lives on: the live cookie still renews it.
	delete(c.cookies, "__Host-access")
	expect(t, c.do("GET", "/dashboard", "", ""), 200)
	if c.cookies["__Host-refresh"] == live {
		t.Fatal("the live cookie did not rotate after the forgeries")
	}
	// Logout with the cookie only (no access token) ends the session.
	delete(c.cookies, "__Host-access")
	current := c.cookies["__Host-refresh"]
	expect(t, c.form("/logout", url.Values{"csrf_token": {c.cookies["__Host-csrf"]}}), 303)
	g := &client{t: t, base: s.base, cookies: map[string]string{"__Host-refresh": current}}
	if r := g.do("GET", "/dashboard", "", ""); r.status == 200 {
		t.Fatal("the refresh cookie renewed a logged-out session")
	}
}
