package main

import (
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
)

// withPassword returns raw with user info user:pw.
func withPassword(t *testing.T, raw, user, pw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, pw)
	return u.String()
}

// No line the server writes, at start, while serving, on failures or at
// shutdown, carries the password of its database or Redis URL.
func TestStartupOutputCarriesNoURLPassword(t *testing.T) {
	const secret = "s3cr3t-Pa55word"
	redisURL := os.Getenv("GATEHOUSE_TEST_REDIS")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	rdb := withPassword(t, redisURL, "", secret)                        // a Redis without requirepass refuses AUTH: its errors are logged too
	db := withPassword(t, storetest.PostgresURL(t), "postgres", secret) // trust authentication ignores the password
	if q := "password=" + secret; !strings.Contains(db, "?") {
		db += "?" + q
	} else {
		db += "&" + q
	}

	var outputs []string
	out, code := cliRun(t, "", "migrate", "--db", db)
	if code != 0 {
		t.Fatalf("migrate: %d %s", code, out)
	}
	outputs = append(outputs, out)

	s := startServer(t, db, "--redis", rdb)
	c := newClient(t, s)
	expect(t, c.json("POST", "/register", `{"email":"redact@example.com","password":"nothing in the logs"}`), 201)
	c.json("POST", "/login", `{"email":"redact@example.com","password":"wrong password here"}`)
	s.stop()
	outputs = append(outputs, s.stdout.String(), s.stderr.String())
	if !strings.Contains(s.stdout.String(), "serving on") {
		t.Fatalf("no start-up line: %q", s.stdout.String())
	}

	// Failures name the database and Redis without their password.
	unreachable := strings.Replace(db, "127.0.0.1:5432", "127.0.0.1:1", 1)
	out, code = cliRun(t, "", "migrate", "--db", unreachable)
	if code == 0 {
		t.Fatalf("migrate against a closed port succeeded: %s", out)
	}
	outputs = append(outputs, out)
	out, code = cliRun(t, "", append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--redis", "redis://:" + secret + "@127.0.0.1:6379/notadb"}, masterKeyFlag(t, db, nil)...)...)
	if code != 2 {
		t.Fatalf("bad --redis: exit %d: %s", code, out)
	}
	outputs = append(outputs, out)

	for i, o := range outputs {
		if strings.Contains(o, secret) {
			t.Errorf("output %d carries the password:\n%s", i, o)
		}
	}
}
