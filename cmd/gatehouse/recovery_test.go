package main

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

func linkToken(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("no token in link %q", link)
	}
	return u.Query().Get("token")
}

// TestRecoveryJourneysThroughSMTP: sign up → verification mail → verify;
// forgot → mail → reset → old sessions dead, old password refused, new one
// works; the older of two reset links is refused.
func TestRecoveryJourneysThroughSMTP(t *testing.T) {
	t.Parallel()
	smtp := mailtest.Start(t, mailtest.Options{Username: "gate", Password: "pw"})
	s := startServer(t, "", "--smtp-url", smtp.URL(), "--mail-from", "Gatehouse <noreply@example.com>")
	c := newClient(t, s)

	r := c.json("POST", "/register", `{"email":"ann@example.com","password":"ann's first password"}`)
	expect(t, r, 201)
	if r.json(t)["user"].(map[string]any)["email_verified"] != false {
		t.Fatalf("a new account is verified: %s", r.body)
	}
	m := smtp.Next(t)
	if m.To[0] != "ann@example.com" || !strings.Contains(m.HTML, s.base+"/verify-email?token=") {
		t.Fatalf("verification mail %+v", m)
	}
	r = c.json("POST", "/email/verify", `{"token":"`+linkToken(t, m.Link(s.base+"/verify-email?token="))+`"}`)
	expect(t, r, 200)
	if r.json(t)["user"].(map[string]any)["email_verified"] != true {
		t.Fatalf("after verifying: %s", r.body)
	}

	login := c.json("POST", "/login", `{"email":"ann@example.com","password":"ann's first password"}`)
	expect(t, login, 200)
	access, refresh := login.json(t)["access_token"].(string), login.json(t)["refresh_token"].(string)

	expect(t, c.json("POST", "/password/forgot", `{"email":"ann@example.com"}`), 202)
	first := linkToken(t, smtp.Next(t).Link(s.base+"/reset-password?token="))
	expect(t, c.json("POST", "/password/forgot", `{"identifier":"ANN@example.com"}`), 202)
	second := linkToken(t, smtp.Next(t).Link(s.base+"/reset-password?token="))
	r = c.json("POST", "/password/reset", `{"token":"`+first+`","new_password":"ann's second password"}`)
	if r.status != 400 || r.json(t)["error"] != "invalid_code" {
		t.Fatalf("the older link: %d %s", r.status, r.body)
	}
	expect(t, c.json("POST", "/password/reset", `{"token":"`+second+`","new_password":"ann's second password"}`), 204)
	notice := smtp.Next(t)
	if notice.To[0] != "ann@example.com" || len(notice.Links()) == 0 && notice.Subject == "" {
		t.Fatalf("notice %+v", notice)
	}
	expect(t, c.json("GET", "/me", "", "Authorization", "Bearer "+access), 401)
	expect(t, c.json("POST", "/token/refresh", `{"refresh_token":"`+refresh+`"}`), 401)
	expect(t, c.json("POST", "/login", `{"email":"ann@example.com","password":"ann's first password"}`), 401)
	expect(t, c.json("POST", "/login", `{"email":"ann@example.com","password":"ann's second password"}`), 200)
	expect(t, c.json("POST", "/password/reset", `{"token":"`+second+`","new_password":"ann's third password"}`), 400)
}

// TestResetMailSurvivesAKillAndAnSMTPOutage: the forgot answer comes while
// SMTP refuses every mail; the server is then stopped before any delivery;
// restarted with SMTP working, it delivers the mail from the outbox (after
// the failed attempt's backoff, 5 s), and the link works.
func TestResetMailSurvivesAKillAndAnSMTPOutage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits for the outbox's first retry (5 s)")
	}
	smtp := mailtest.Start(t, mailtest.Options{Username: "gate", Password: "pw", RefuseFirst: 1 << 30})
	args := []string{"--smtp-url", smtp.URL(), "--mail-from", "noreply@example.com"}
	s := startServer(t, "", args...)
	c := newClient(t, s)
	expect(t, c.json("POST", "/register", `{"username":"ann","password":"ann's first password"}`), 201) // no address: no mail
	r := c.json("POST", "/register", `{"email":"bob@example.com","password":"bob's first password"}`)
	expect(t, r, 201) // SMTP down: no request fails
	expect(t, c.json("POST", "/password/forgot", `{"email":"bob@example.com"}`), 202)
	// Both mails were tried and refused, and the outbox noted the refusals
	// (the server counts an attempt before the worker writes its error down).
	deadline := time.Now().Add(time.Minute)
	for smtp.Attempts() < 2 || !refusalsNoted(t, s.db, 2) {
		if time.Now().After(deadline) {
			t.Fatalf("%d delivery attempts", smtp.Attempts())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.stop() // killed between the answer and any delivery
	if len(smtp.Received()) != 0 {
		t.Fatal("a mail went through a refusing server")
	}
	if rows := outboxOf(t, s.db); len(rows) != 2 || !rows[1].SentAt.IsZero() || rows[1].Attempts < 1 || rows[1].LastError == "" {
		t.Fatalf("outbox after the kill: %+v", rows)
	}

	smtp.Refuse(0) // SMTP is back
	s = startServer(t, s.db, args...)
	c = newClient(t, s)
	var reset string
	for reset == "" { // the verification mail and the reset mail, in either order
		for _, l := range smtp.Next(t).Links() { // built by the first instance, on its own port
			if strings.Contains(l, "/reset-password?token=") {
				reset = linkToken(t, l)
			}
		}
	}
	expect(t, c.json("POST", "/password/reset", `{"token":"`+reset+`","new_password":"bob's second password"}`), 204)
	expect(t, c.json("POST", "/login", `{"email":"bob@example.com","password":"bob's second password"}`), 200)
}

// outboxOf is the outbox of the SQLite database db, read behind the
// server's back (at most 10 rows).
func outboxOf(t *testing.T, db string) []store.OutboxEntry {
	t.Helper()
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.OutboxEntries(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// refusalsNoted says whether n mails of the outbox of db have a refused
// attempt written down.
func refusalsNoted(t *testing.T, db string, n int) bool {
	t.Helper()
	noted := 0
	for _, r := range outboxOf(t, db) {
		if r.Attempts >= 1 && r.LastError != "" {
			noted++
		}
	}
	return noted >= n
}

// TestUserResetPasswordCommand: --print prints a working link and mails
// nothing; without it the link goes to the outbox.
func TestUserResetPasswordCommand(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newClient(t, s)
	r := c.json("POST", "/register", `{"email":"ann@example.com","password":"ann's first password"}`)
	expect(t, r, 201)
	id := r.json(t)["user"].(map[string]any)["id"].(string)
	s.stop()
	code, stdout, stderr := runCmd(t, nil, "user", "reset-password", id, "--print", "--db", s.db, "--public-url", "https://id.example.com")
	if code != 0 || !strings.HasPrefix(stdout, "https://id.example.com/reset-password?token=") {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	printed := linkToken(t, strings.TrimSpace(stdout))
	if code, stdout, stderr := runCmd(t, nil, "user", "reset-password", "--db", s.db, id); code != 0 || !strings.Contains(stdout, "written to the outbox") {
		t.Fatalf("mailed: exit %d: %s %s", code, stdout, stderr)
	}
	if code, _, stderr := runCmd(t, nil, "user", "reset-password", "--db", s.db, "no-such-user"); code != 1 || !strings.Contains(stderr, "not found") {
		t.Fatalf("unknown user: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCmd(t, nil, "user", "reset-password", "--db", s.db); code != 2 || !strings.Contains(stderr, "one argument") {
		t.Fatalf("no id: exit %d: %s", code, stderr)
	}
	// The mailed link voided the printed one.
	s = startServer(t, s.db)
	c = newClient(t, s)
	r = c.json("POST", "/password/reset", `{"token":"`+printed+`","new_password":"ann's second password"}`)
	if r.status != 400 {
		t.Fatalf("the printed link outlived a newer one: %d %s", r.status, r.body)
	}
	// The server opens what the command sealed with the same key file, and
	// delivers it to its log (no SMTP); the mailed link works.
	var mailed []string
	for deadline := time.Now().Add(20 * time.Second); mailed == nil; time.Sleep(20 * time.Millisecond) {
		if mailed = loggedResetLink.FindStringSubmatch(s.stderr.String()); mailed == nil && time.Now().After(deadline) {
			t.Fatalf("the mailed link never reached the log: %s", s.stderr)
		}
	}
	expect(t, c.json("POST", "/password/reset", `{"token":"`+mailed[1]+`","new_password":"ann's second password"}`), 204)
}

var loggedResetLink = regexp.MustCompile(`/reset-password\?token=([A-Za-z0-9_-]{43})`)

func TestRecoveryConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--public-url", "ftp://id.example.com"}, "invalid --public-url (GATEHOUSE_PUBLIC_URL)"},
		{[]string{"--public-url", "https://id.example.com/"}, "invalid --public-url"},
		{[]string{"--reset-ttl", "10s"}, "invalid --reset-ttl (GATEHOUSE_RESET_TTL)"},
		{[]string{"--verify-ttl", "soon"}, "invalid --verify-ttl (GATEHOUSE_VERIFY_TTL)"},
		{[]string{"--require-verified-email=maybe"}, "invalid --require-verified-email"},
	} {
		code, _, stderr := runCmd(t, nil, append([]string{"serve", "--addr", "127.0.0.1:0", "--db", t.TempDir() + "/g.db"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, %q; want 2 and one line saying %q", tc.args, code, stderr, tc.want)
		}
	}
	code, _, stderr := runCmd(t, map[string]string{"GATEHOUSE_RESET_TTL": "48h"}, "serve", "--addr", "127.0.0.1:0", "--db", t.TempDir()+"/g.db")
	if code != 2 || !strings.Contains(stderr, "invalid --reset-ttl") {
		t.Errorf("from the environment: exit %d, %q", code, stderr)
	}
}
