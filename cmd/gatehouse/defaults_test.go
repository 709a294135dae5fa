package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// TestFlagDefaultsAreAppDefaults: with no flag and no variable, the server's
// configuration is app.Defaults(), the one source of defaults, and the help
// shows the limits in the N/duration form their flags read.
func TestFlagDefaultsAreAppDefaults(t *testing.T) {
	t.Parallel()
	var c config
	fs := newFlagSet("serve", &c, true, io.Discard)
	if _, err := parseConfig(fs, nil, func(string) string { return "" }, &c); err != nil {
		t.Fatal(err)
	}
	def := app.Defaults()
	type lifetimes struct {
		access, refresh, grace, maxAge, idle time.Duration
		alg                                  string
	}
	got := lifetimes{c.AccessTTL, c.RefreshTTL, c.ReuseGrace, c.SessionMaxAge, c.IdleTimeout, c.SigningAlg}
	want := lifetimes{def.AccessTTL, def.RefreshTTL, def.ReuseGrace, def.SessionMaxAge, def.IdleTimeout, def.SigningAlg}
	if got != want {
		t.Fatalf("flag defaults %+v, app.Defaults() %+v", got, want)
	}
	if c.ReauthMaxAge != def.ReauthMaxAge {
		t.Fatalf("--reauth-max-age default %s, app.Defaults() %s", c.ReauthMaxAge, def.ReauthMaxAge)
	}
	if c.limits != *def.Limits {
		t.Fatalf("limits from the flag defaults %+v, app.Defaults() %+v", c.limits, *def.Limits)
	}
	var help strings.Builder
	fs.SetOutput(&help)
	fs.PrintDefaults()
	for _, s := range []string{`(default "20/1m")`, `(default "20/1h")`, `(default "120/1m")`, "(default 15m0s)", "(default 10s)"} {
		if !strings.Contains(help.String(), s) {
			t.Errorf("help lacks %s:\n%s", s, help.String())
		}
	}
}

func TestLimitFlag(t *testing.T) {
	t.Parallel()
	for l, want := range map[ratelimit.Limit]string{
		ratelimit.Per(20, time.Minute, 20):           "20/1m",
		ratelimit.Per(20, time.Hour, 20):             "20/1h",
		ratelimit.Per(5, 90*time.Second, 5):          "5/1m30s",
		ratelimit.Per(5, 90*time.Minute, 5):          "5/1h30m",
		ratelimit.Per(3, 10*time.Second, 3):          "3/10s",
		ratelimit.Per(7, 2*time.Hour+time.Second, 7): "7/2h0m1s",
	} {
		if got := limitFlag(l); got != want {
			t.Errorf("limitFlag(%v) = %q, want %q", l, got, want)
		}
	}
}
