package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// At start, Redis refusing the configured credentials or database is bad
// configuration: exit 2, one line naming --redis, the password redacted.
// Redis not answering stays an outage: a warning, and the server starts.
func TestRedisMisconfigurationStopsTheStart(t *testing.T) {
	raw := os.Getenv("GATEHOUSE_TEST_REDIS")
	if raw == "" {
		t.Skip("redis start-up check skipped: set GATEHOUSE_TEST_REDIS=redis://127.0.0.1:6379/0 to run it")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "Xn0tTh3Pa55X"
	wrongUser := *u
	wrongUser.User = url.UserPassword("gatehouse-no-such-user", secret) // WRONGPASS
	noDB := *u
	noDB.Path = "/9999" // ERR DB index is out of range
	for _, bad := range []string{wrongUser.String(), noDB.String()} {
		db := filepath.Join(t.TempDir(), "gatehouse.db")
		start := time.Now()
		out, code := cliRun(t, "", "serve", "--addr", "127.0.0.1:0", "--db", db, "--redis", bad)
		if code != 2 || !strings.Contains(out, "invalid --redis (GATEHOUSE_REDIS)") || strings.Contains(out, "serving on") {
			t.Errorf("--redis %s: exit %d after %v, output %q; want exit 2 naming --redis", strings.ReplaceAll(bad, secret, "***"), code, time.Since(start), out)
		}
		if strings.Contains(out, secret) {
			t.Errorf("the Redis password is in the output %q", out)
		}
	}
	s := startServer(t, "", "--redis", "redis://127.0.0.1:1/0")
	if !strings.Contains(s.stderr.String(), "redis unavailable at start") {
		t.Errorf("an unreachable Redis at start logged no warning: %s", s.stderr)
	}
}
