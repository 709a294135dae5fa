package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// helpFlag matches a flag in a help text.
var helpFlag = regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)

// helpFlags are the names of the flags a help text lists, sorted.
func helpFlags(out string) []string {
	var names []string
	for _, m := range helpFlag.FindAllStringSubmatch(out, -1) {
		names = append(names, m[1])
	}
	slices.Sort(names)
	return names
}

// runHelp runs the command line with args and no environment.
func runHelp(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestEveryCommandsHelpListsExactlyItsFlags: "gatehouse help CMD",
// "gatehouse CMD --help" and "gatehouse CMD -h" (after arguments and
// flags too) print the same help on standard output and exit 0, listing
// exactly the flags the command takes: no server flag that does not apply.
// Help runs nothing: no database is made, no password read.
func TestEveryCommandsHelpListsExactlyItsFlags(t *testing.T) {
	t.Chdir(t.TempDir())
	var serve []string
	serverFlags(&config{}).VisitAll(func(f *flag.Flag) { serve = append(serve, f.Name) })
	base := []string{"db", "log-format"}
	for _, tc := range []struct {
		command string
		extra   []string // arguments and flags before the help flag
		flags   []string
	}{
		{"serve", []string{"--addr", "127.0.0.1:0"}, serve},
		{"migrate", nil, base},
		{"user add", []string{"--email", "a@example.com"}, append([]string{"email", "username", "name", "admin"}, base...)},
		{"user list", nil, base},
		{"user disable", []string{"ID"}, append([]string{"access-ttl"}, base...)},
		{"user role", []string{"ID", "admin"}, append([]string{"access-ttl"}, base...)},
		{"user reset-password", []string{"ID", "--print"}, append([]string{"print", "public-url", "issuer", "reset-ttl", "master-key-file"}, base...)},
		{"user mfa-reset", []string{"ID"}, append([]string{"access-ttl", "issuer", "master-key-file", "public-url"}, base...)},
		{"keys rotate", nil, append([]string{"access-ttl", "master-key-file", "signing-alg"}, base...)},
		{"keys list", nil, append([]string{"access-ttl", "master-key-file"}, base...)},
		{"audit", []string{"--limit", "5"}, append([]string{"user", "event", "limit"}, base...)},
		{"client add", []string{"--name", "N"}, append([]string{"master-key-file", "name", "redirect-uri", "post-logout-redirect-uri",
			"public", "scopes", "id-token-alg", "require-consent", "require-pkce", "service", "grant", "audiences", "jwks-file", "jwks-uri", "introspect"}, base...)},
		{"client list", nil, base},
		{"client remove", []string{"ID"}, append([]string{"access-ttl"}, base...)},
		{"client rotate-secret", []string{"ID"}, append([]string{"access-ttl"}, base...)},
		{"client disable", []string{"ID"}, append([]string{"access-ttl"}, base...)},
		{"client enable", []string{"ID"}, base},
		{"client update", []string{"ID", "--introspect"}, append([]string{"introspect"}, base...)},
		{"webhook add", []string{"--url", "https://hooks.example.com/in"}, append([]string{"master-key-file", "webhook-allow-private",
			"url", "events", "description"}, base...)},
		{"webhook list", nil, base},
		{"webhook remove", []string{"ID"}, base},
		{"webhook rotate-secret", []string{"ID"}, append([]string{"master-key-file"}, base...)},
		{"mail test", []string{"a@example.com"}, []string{"log-format", "smtp-url", "mail-from", "public-url", "issuer"}},
		{"import flask", []string{"seed.db"}, base},
		{"org add", []string{"--name", "Shop"}, append([]string{"name", "slug", "owner"}, base...)},
		{"org list", nil, base},
		{"org member add", []string{"ORG", "USER"}, append([]string{"role"}, base...)},
		{"org member remove", []string{"ORG", "USER"}, append([]string{"access-ttl"}, base...)},
		{"version", nil, nil},
		{"help", nil, nil},
	} {
		t.Run(tc.command, func(t *testing.T) {
			words := strings.Fields(tc.command)
			code, want, errOut := runHelp(append([]string{"help"}, words...)...)
			if code != 0 || errOut != "" {
				t.Fatalf("help %s: exit %d, stderr %q", tc.command, code, errOut)
			}
			if !strings.HasPrefix(want, "usage: gatehouse "+tc.command) {
				t.Errorf("help %s does not start with its usage:\n%s", tc.command, want)
			}
			wantFlags := slices.Sorted(slices.Values(tc.flags))
			if got := helpFlags(want); !slices.Equal(got, wantFlags) {
				t.Errorf("help %s lists flags %v, want %v:\n%s", tc.command, got, wantFlags, want)
			}
			if tc.command == "help" || tc.command == "version" {
				return
			}
			for _, h := range []string{"--help", "-h"} {
				args := append(append(slices.Clone(words), tc.extra...), h)
				code, out, errOut := runHelp(args...)
				if code != 0 || errOut != "" || out != want {
					t.Errorf("%v: exit %d, stderr %q, stdout differs from help %s:\n%s", args, code, errOut, tc.command, out)
				}
			}
		})
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Fatalf("help made files: %v", entries)
	}
}

// TestHelpListsEveryCommand: "gatehouse help", --help and -h list every
// command of the contract's table that exists, and serve's flags; a
// group's help lists exactly its subcommands; an unknown one is exit 2.
func TestHelpListsEveryCommand(t *testing.T) {
	t.Parallel()
	_, overview, _ := runHelp("help")
	for _, args := range [][]string{{"--help"}, {"-h"}} {
		if code, out, errOut := runHelp(args...); code != 0 || errOut != "" || out != overview {
			t.Errorf("%v: exit %d, stderr %q, stdout differs from help:\n%s", args, code, errOut, out)
		}
	}
	for _, name := range []string{"serve", "migrate", "user add", "user list", "user disable", "user role",
		"user reset-password", "user mfa-reset", "keys rotate", "keys list", "import flask", "client add",
		"client list", "client remove", "client rotate-secret", "client disable", "client enable", "client update", "provider add", "provider list", "provider update",
		"provider remove", "mail test", "audit", "version", "help"} {
		if !regexp.MustCompile(`(?m)^  ` + name + `  `).MatchString(overview) {
			t.Errorf("help does not list %q:\n%s", name, overview)
		}
	}
	var serve []string
	serverFlags(&config{}).VisitAll(func(f *flag.Flag) { serve = append(serve, f.Name) })
	if got := helpFlags(overview); !slices.Equal(got, serve) {
		t.Errorf("help lists flags %v, want serve's %v", got, serve)
	}

	for group, subs := range map[string][]string{
		"user":     {"add", "list", "disable", "role", "reset-password", "mfa-reset"},
		"keys":     {"rotate", "list"},
		"client":   {"add", "list", "remove", "rotate-secret", "disable", "enable", "update"},
		"provider": {"add", "list", "update", "remove"},
		"mail":     {"test"},
		"import":   {"flask"},
	} {
		code, out, _ := runHelp("help", group)
		var listed []string
		for _, m := range regexp.MustCompile(`(?m)^  ([a-z-]+)  `).FindAllStringSubmatch(out, -1) {
			listed = append(listed, m[1])
		}
		if code != 0 || !slices.Equal(listed, subs) {
			t.Errorf("help %s: exit %d, subcommands %v, want %v:\n%s", group, code, listed, subs, out)
		}
		for _, args := range [][]string{{group, "--help"}, {group, "-h"}} {
			if code, again, _ := runHelp(args...); code != 0 || again != out {
				t.Errorf("%v: exit %d:\n%s", args, code, again)
			}
		}
	}
	if code, _, errOut := runHelp("help", "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("help frobnicate: exit %d, %q", code, errOut)
	}
}

func TestVersionSaysWhatTheBuildRecorded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		info *debug.BuildInfo
		want string // the start of the line
	}{
		{"no build info", nil, "gatehouse (devel), revision unknown, go"},
		{"go run", &debug.BuildInfo{Main: debug.Module{Path: "github.com/gatehouse-auth/gatehouse", Version: "(devel)"}},
			"gatehouse (devel), revision unknown, go"},
		{"a tagged build", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "eeec5c7f00"}, {Key: "vcs.time", Value: "2026-12-06T20:00:00Z"},
			{Key: "vcs.modified", Value: "false"}}},
			"gatehouse v1.4.0, revision eeec5c7f00 2026-12-06T20:00:00Z, go"},
		{"uncommitted changes", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.1-0.20261206200000-eeec5c7f00+dirty"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "eeec5c7f00"}, {Key: "vcs.modified", Value: "true"}}},
			"gatehouse v1.4.1-0.20261206200000-eeec5c7f00+dirty, revision eeec5c7f00 (modified), go"},
	} {
		if got := versionString(tc.info); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q, want it to start with %q", tc.name, got, tc.want)
		}
	}
	if code, out, _ := runHelp("version"); code != 0 || !strings.HasPrefix(out, "gatehouse ") || strings.Count(out, "\n") != 1 {
		t.Errorf("version: exit %d, %q", code, out)
	}
	if code, _, _ := runHelp("version", "extra"); code != 2 {
		t.Errorf("version extra: exit %d, want 2", code)
	}
}

// TestHelpOfHelpIsTheOverview: "gatehouse help --help" (and -h) is asked
// by people looking for the commands: it prints them, exit 0.
func TestHelpOfHelpIsTheOverview(t *testing.T) {
	t.Parallel()
	_, overview, _ := runHelp("help")
	for _, args := range [][]string{{"help", "--help"}, {"help", "-h"}, {"help", "-help"}} {
		if code, out, errOut := runHelp(args...); code != 0 || errOut != "" || out != overview {
			t.Errorf("%v: exit %d, stderr %q, stdout differs from help:\n%s", args, code, errOut, out)
		}
	}
	if code, out, _ := runHelp("help", "user", "--help"); code != 0 || !strings.Contains(out, "reset-password") {
		t.Errorf("help user --help: exit %d:\n%s", code, out)
	}
}

// TestUnknownCommandIsOneLine: a mistyped command gets one line that names
// it and says where the commands are, not the whole usage.
func TestUnknownCommandIsOneLine(t *testing.T) {
	t.Parallel()
	const want = "gatehouse: unknown command \"frobnicate\": run 'gatehouse help' for the commands\n"
	for _, args := range [][]string{{"frobnicate"}, {"frobnicate", "--db", "x.db"}, {"help", "frobnicate"}} {
		if code, out, errOut := runHelp(args...); code != 2 || out != "" || errOut != want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", args, code, out, errOut, want)
		}
	}
}

// GATEHOUSE_<FLAG> variables set server settings only: a command's own
// flag (user add --name) is never read from a variable that happens to
// share its name.
func TestCommandFlagsAreNotReadFromTheEnvironment(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "gatehouse.db")
	env := func(k string) string { return map[string]string{"GATEHOUSE_NAME": "Mallory"}[k] }
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"user", "add", "--db", db, "--email", "ann@example.com"},
		env, strings.NewReader("a long enough password\n"), &out, &errs); code != 0 {
		t.Fatalf("user add: %d %s", code, &errs)
	}
	out.Reset()
	if code := run(context.Background(), []string{"user", "list", "--db", db}, env, strings.NewReader(""), &out, &errs); code != 0 {
		t.Fatalf("user list: %d %s", code, &errs)
	}
	if strings.Contains(out.String(), "Mallory") {
		t.Fatalf("GATEHOUSE_NAME named the user:\n%s", &out)
	}
}
