package main

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
)

// codeAt is secret's code off steps from now (wall clock: the server's).
func codeAt(t *testing.T, secret string, off int64) string {
	t.Helper()
	c, err := mfa.CodeAt(secret, mfa.Step(time.Now())+off)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTwoFactorJourney, through run(): enrol an authenticator, log out, log
// in with password and code, log in with a recovery code (the notice
// arrives over SMTP), need a re-authentication for new recovery codes and
// get it, and have an administrator's command remove it all.
func TestTwoFactorJourney(t *testing.T) {
	t.Parallel()
	smtp := mailtest.Start(t, mailtest.Options{})
	s := startServer(t, "", "--smtp-url", smtp.URL(), "--mail-from", "Gatehouse <noreply@example.com>", "--reauth-max-age", "5m")
	c := newClient(t, s)

	expect(t, c.json("POST", "/register", `{"email":"ann@example.com","password":"ann's correct horse"}`), 201)
	// A second factor needs the address verified: the link mailed at sign-up.
	verify := linkToken(t, smtp.Next(t).Link(s.base+"/verify-email?token="))
	expect(t, c.json("POST", "/email/verify", `{"token":"`+verify+`"}`), 200)
	r := c.json("POST", "/login", `{"email":"ann@example.com","password":"ann's correct horse"}`)
	expect(t, r, 200)
	tok := r.json(t)["access_token"].(string)
	bearer := "Bearer " + tok
	userID := r.json(t)["user"].(map[string]any)["id"].(string)

	r = c.json("POST", "/me/mfa/totp", "", "Authorization", bearer)
	expect(t, r, 200)
	secret := r.json(t)["secret"].(string)
	if !strings.HasPrefix(r.json(t)["qr_svg"].(string), "<svg") {
		t.Fatalf("enrolment %s", r.body)
	}
	r = c.json("POST", "/me/mfa/totp/confirm", `{"code":"`+codeAt(t, secret, 0)+`"}`, "Authorization", bearer)
	expect(t, r, 200)
	codes := r.json(t)["recovery_codes"].([]any)
	if len(codes) != 10 {
		t.Fatalf("recovery codes %v", codes)
	}
	expect(t, c.json("POST", "/logout", "", "Authorization", bearer), 204)

	// Two-step login.
	r = c.json("POST", "/login", `{"email":"ann@example.com","password":"ann's correct horse"}`)
	expect(t, r, 401)
	if r.json(t)["error"] != "mfa_required" {
		t.Fatalf("login: %s", r.body)
	}
	mfaToken := r.json(t)["mfa_token"].(string)
	// The step after the confirming one's, one step ahead (drift allowed):
	// the wall clock may not have reached a new step yet.
	r = c.json("POST", "/login/mfa", `{"mfa_token":"`+mfaToken+`","code":"`+codeAt(t, secret, 1)+`"}`)
	expect(t, r, 200)
	tok = r.json(t)["access_token"].(string)
	expect(t, c.json("POST", "/login/mfa", `{"mfa_token":"`+mfaToken+`","code":"`+codeAt(t, secret, 1)+`"}`), 400) // once

	// A recovery code, and its notice by mail.
	r = c.json("POST", "/login", `{"email":"ann@example.com","password":"ann's correct horse"}`)
	expect(t, r, 401)
	r = c.json("POST", "/login/mfa", `{"mfa_token":"`+r.json(t)["mfa_token"].(string)+`","recovery_code":"`+codes[0].(string)+`"}`)
	expect(t, r, 200)
	tok = r.json(t)["access_token"].(string)
	m := smtp.Next(t)
	if m.To[0] != "ann@example.com" || !strings.Contains(m.Subject, "recovery code") || !strings.Contains(m.Text, "9 remain") {
		t.Fatalf("mail %+v", m)
	}

	// An old sign-in (the session aged in the database, as if time passed)
	// needs a re-authentication; a code renews it.
	ageSessions(t, s.db, userID, time.Hour)
	bearer = "Bearer " + tok
	r = c.json("POST", "/me/mfa/recovery-codes", "", "Authorization", bearer)
	expect(t, r, 403)
	if r.json(t)["error"] != "reauthentication_required" {
		t.Fatalf("stale: %s", r.body)
	}
	expect(t, c.json("POST", "/me/reauthenticate", `{"password":"wrong password!"}`, "Authorization", bearer), 401)
	r = c.json("POST", "/me/reauthenticate", `{"password":"ann's correct horse"}`, "Authorization", bearer)
	expect(t, r, 200)
	bearer = "Bearer " + r.json(t)["access_token"].(string)
	expect(t, c.json("POST", "/me/mfa/recovery-codes", "", "Authorization", bearer), 200)

	// The administrator's command: factors gone, sessions ended, the user mailed.
	code, stdout, stderr := runCmd(t, nil, "user", "mfa-reset", "--db", s.db, "--issuer", s.base, userID)
	if code != 0 || !strings.Contains(stdout, "removed every second factor") {
		t.Fatalf("mfa-reset: %d %s %s", code, stdout, stderr)
	}
	m = smtp.Next(t) // the running server's worker delivers what the command enqueued
	if m.To[0] != "ann@example.com" || !strings.Contains(m.Subject, "second factors") || !strings.Contains(m.Text, s.base) {
		t.Fatalf("reset mail %+v", m)
	}
	deadline := time.Now().Add(30 * time.Second)
	for { // the server learns of the ended sessions through the change feed
		if r = c.json("GET", "/me", "", "Authorization", bearer); r.status == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session outlived the reset: %d %s", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	expect(t, c.json("POST", "/login", `{"email":"ann@example.com","password":"ann's correct horse"}`), 200)
}

// TestTwoFactorPages, through run(): the second login page, without
// JavaScript.
func TestTwoFactorPages(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newClient(t, s)
	expect(t, c.json("POST", "/register", `{"username":"reader","password":"books all the way down"}`), 201)
	r := c.json("POST", "/login", `{"username":"reader","password":"books all the way down"}`)
	bearer := "Bearer " + r.json(t)["access_token"].(string)
	r = c.json("POST", "/me/mfa/totp", "", "Authorization", bearer)
	secret := r.json(t)["secret"].(string)
	expect(t, c.json("POST", "/me/mfa/totp/confirm", `{"code":"`+codeAt(t, secret, 0)+`"}`, "Authorization", bearer), 200)

	expect(t, c.do("GET", "/login", "", ""), 200) // the CSRF cookie
	r = c.form("/login", url.Values{"identifier": {"reader"}, "password": {"books all the way down"}, "csrf_token": {c.cookies["__Host-csrf"]}})
	expect(t, r, 303)
	if r.header.Get("Location") != "/login/mfa" || c.cookies["__Host-mfa"] == "" || c.cookies["__Host-access"] != "" {
		t.Fatalf("first step: %s %v", r.header.Get("Location"), c.cookies)
	}
	r = c.do("GET", "/login/mfa", "", "")
	expect(t, r, 200)
	if strings.Contains(string(r.body), "<script") {
		t.Fatal("the second page has a script")
	}
	r = c.form("/login/mfa", url.Values{"code": {codeAt(t, secret, 1)}, "csrf_token": {c.cookies["__Host-csrf"]}})
	expect(t, r, 303)
	if r.header.Get("Location") != "/dashboard" || c.cookies["__Host-access"] == "" {
		t.Fatalf("second step: %s", r.header.Get("Location"))
	}
	r = c.do("GET", "/security", "", "")
	expect(t, r, 200)
	if !strings.Contains(string(r.body), "10 recovery codes left") {
		t.Fatalf("security page: %s", r.body)
	}
}

// ageSessions moves the user's sessions' sign-in time back by d, as if
// that much time had passed since (the server's clock is the wall clock).
func ageSessions(t *testing.T, db, userID string, d time.Duration) {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), `UPDATE sessions SET auth_time = auth_time - ? WHERE user_id = ?`,
		d.Milliseconds(), userID); err != nil {
		t.Fatal(err)
	}
}
