package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `usage: gatehouse [command] [flags]

commands:
  serve                       run the server (the default)
  migrate                     apply database migrations and exit
  user add --email E [--username U] [--name N] [--admin]
                              create a user; the password is read from standard input
  user list                   list users
  user disable ID             disable a user and end its sessions
  user role ID admin|user     change a user's role and end its sessions
  keys rotate                 make a new signing key active; older keys verify until their tokens expire
  keys list                   list signing keys and their state
  audit [--user ID] [--event E] [--limit N]
                              security events, newest first
  client add --name N --redirect-uri U... [--post-logout-redirect-uri U...] [--public]
         [--scopes S...] [--id-token-alg RS256] [--require-consent=false] [--require-pkce=false]
                              register an OpenID Connect client; prints client_id (and client_secret once)
  client list                 list OpenID Connect clients
  client remove ID            delete a client; its sessions and tokens end
  client rotate-secret ID     give a confidential client a new secret (printed once)
  mail test ADDRESS           send a test mail with the mail settings (--smtp-url, --mail-from)
  import flask PATH           import the users of a Flask tutorial app's SQLite database, keeping their hashes
  version                     print version and build information

Run "gatehouse serve -h" for the server's flags. Every flag can also be set
with an environment variable GATEHOUSE_<FLAG>, e.g. GATEHOUSE_ACCESS_TTL=5m.
`

// run is the whole program: it returns the process's exit status (0 ok,
// 1 failure, 2 bad usage or configuration).
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, getenv, stdin, stdout, stderr)
	var cfgErr *configError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &cfgErr):
		fmt.Fprintln(stderr, "gatehouse:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "gatehouse:", err)
		return 1
	}
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, args, getenv, stdout, stderr)
	case "user":
		return userCommand(ctx, args, getenv, stdin, stdout, stderr)
	case "keys":
		return keysCommand(ctx, args, getenv, stdout, stderr)
	case "import":
		return importCommand(ctx, args, getenv, stdout, stderr)
	case "client":
		return clientCommand(ctx, args, getenv, stdout, stderr)
	case "mail":
		return mailCommand(ctx, args, getenv, stdout, stderr)
	case "audit":
		return auditCommand(ctx, args, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return &configError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

func versionString() string {
	s := fmt.Sprintf("gatehouse %s (%s %s/%s", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range info.Settings {
			if kv.Key == "vcs.revision" {
				s += ", commit " + kv.Value
			}
		}
	}
	return s + ")"
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
