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
	"slices"
	"strings"
	"text/tabwriter"
)

// commands is every command, for help: its name, what follows the name
// and what it does. A name of two words is a subcommand of the first.
var commands = []struct{ name, synopsis, does string }{
	{"serve", "[flags]", "run the server (the default command); migrations run at start; SIGINT/SIGTERM finish in-flight requests"},
	{"migrate", "[flags]", "apply database migrations and exit"},
	{"user add", "--email E [--username U] [--name N] [--admin] [flags]", "create a user; the password is read from standard input (without echo on a terminal)"},
	{"user list", "[flags]", "list users"},
	{"user disable", "ID [flags]", "disable a user and end its sessions"},
	{"user role", "ID admin|user [flags]", "change a user's role and end its sessions"},
	{"user reset-password", "ID [--print] [flags]", "write a reset link for the user to the outbox (a running server mails it), or with --print print it"},
	{"user mfa-reset", "ID [flags]", "remove every second factor of a user and end its sessions; the user is mailed"},
	{"keys rotate", "[flags]", "make a new signing key active; older keys verify until their tokens expire"},
	{"keys list", "[flags]", "list signing keys and their state"},
	{"audit", "[--user ID] [--event E] [--limit N] [flags]", "security events, newest first"},
	{"client add", "--name N --redirect-uri U... | --service --scopes S,... [flags]", "register an OpenID Connect client, or a service client (client_credentials); prints client_id (and client_secret once)"},
	{"client list", "[flags]", "list OpenID Connect clients"},
	{"client remove", "ID [flags]", "delete a client; its sessions and tokens end"},
	{"client rotate-secret", "ID [flags]", "give a confidential client a new secret (printed once); a service client's tokens end"},
	{"client disable", "ID [flags]", "stop a service client: its tokens end, it gets none until enabled"},
	{"client enable", "ID [flags]", "let a disabled service client get tokens again"},
	{"client update", "--introspect=true|false [flags] ID", "let a confidential client introspect every token of the server, or no longer"},
	{"org add", "--name N --slug S --owner USER_ID [flags]", "create an organization owned by a user"},
	{"org list", "[flags]", "list organizations"},
	{"org member add", "ORG_ID USER_ID [--role R] [flags]", "make a user a member of an organization (role: owner, admin, member or a custom role)"},
	{"org member remove", "ORG_ID USER_ID [flags]", "remove a member; its organization claims are revoked (the last owner stays)"},
	{"provider add", "--id ID --client-id C --client-secret-file F [--kind oidc|github] [--issuer URL] [flags]", "add an upstream identity provider (sign in with Google, GitHub, any OpenID provider)"},
	{"provider list", "[flags]", "list upstream identity providers (never their secrets)"},
	{"provider update", "ID [flags]", "change a provider; only the flags given change"},
	{"provider remove", "ID [flags]", "remove a provider and the identities linked through it"},
	{"webhook add", "--url U --events E,... [--description D] [flags]", "register a webhook endpoint; prints its id and its whsec_ secret (once)"},
	{"webhook list", "[flags]", "list webhook endpoints and their state"},
	{"webhook remove", "ID [flags]", "delete a webhook endpoint and its deliveries"},
	{"webhook rotate-secret", "ID [flags]", "give an endpoint a new secret (printed once); the old one keeps signing beside it for 24 h"},
	{"mail test", "ADDRESS [flags]", "send a test mail at once with the mail settings (--smtp-url, --mail-from), or to the log"},
	{"import flask", "PATH [flags]", "import the users of a Flask tutorial app's SQLite database, keeping their hashes"},
	{"version", "", "print the module version, VCS revision and Go version of this build"},
	{"help", "[COMMAND [SUBCOMMAND]]", "print help: every command, or one command's subcommands and flags"},
}

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
	if len(args) > 0 && args[0] == "help" {
		// "help --help" is the overview, as "help" is.
		return help(ctx, slices.DeleteFunc(slices.Clone(args[1:]), isHelpFlag), stdout)
	}
	if wantsHelp(args) {
		return help(ctx, commandWords(args), stdout)
	}
	return runCommand(ctx, args, getenv, stdin, stdout, stderr)
}

// runCommand runs the command args name (serve when they name none).
func runCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
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
	case "org":
		return orgCommand(ctx, args, getenv, stdout, stderr)
	case "provider":
		return providerCommand(ctx, args, getenv, stdin, stdout, stderr)
	case "mail":
		return mailCommand(ctx, args, getenv, stdout, stderr)
	case "webhook":
		return webhookCommand(ctx, args, getenv, stdout, stderr)
	case "audit":
		return auditCommand(ctx, args, getenv, stdout, stderr)
	case "version":
		if len(args) != 0 {
			return &configError{"version takes no arguments"}
		}
		info, _ := debug.ReadBuildInfo()
		fmt.Fprintln(stdout, versionString(info))
		return nil
	default:
		return unknownCommand(cmd)
	}
}

// versionString says what this binary was built from, as the Go toolchain
// recorded it: the main module's version ("(devel)" when it has none) and
// the VCS revision ("unknown" when the build recorded none, as go run and
// -buildvcs=false do), with "modified" for a build from uncommitted changes.
func versionString(info *debug.BuildInfo) string {
	version, revision, modified, built := "(devel)", "unknown", "", ""
	if info != nil {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		for _, kv := range info.Settings {
			switch kv.Key {
			case "vcs.revision":
				revision = kv.Value
			case "vcs.time":
				built = " " + kv.Value
			case "vcs.modified":
				if kv.Value == "true" {
					modified = " (modified)"
				}
			}
		}
	}
	return fmt.Sprintf("gatehouse %s, revision %s%s%s, %s %s/%s", version, revision, modified, built, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// unknownCommand is the one line for a command that does not exist: the
// whole usage would bury it.
func unknownCommand(name string) error {
	return &configError{fmt.Sprintf("unknown command %q: run 'gatehouse help' for the commands", name)}
}

// wantsHelp reports whether args ask for help (-h, -help or --help) before
// any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelpFlag(a) {
			return true
		}
	}
	return false
}

func isHelpFlag(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// commandWords is the command named at the start of args: up to three words
// before the first flag, as many as name a command or a group of them.
func commandWords(args []string) []string {
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") || len(words) == 3 || !isCommand(strings.Join(append(words, a), " ")) {
			break
		}
		words = append(words, a)
	}
	return words
}

// isCommand reports whether name is a command or a group of subcommands.
func isCommand(name string) bool {
	for _, c := range commands {
		if c.name == name || strings.HasPrefix(c.name, name+" ") {
			return true
		}
	}
	return false
}

// help prints, to stdout, the help of the command words name: every
// command with none, a group's subcommands, or one command's usage and
// flags, which the command itself defines (it is run with --help).
func help(ctx context.Context, words []string, stdout io.Writer) error {
	name := strings.Join(words, " ")
	switch {
	case name == "":
		printOverview(stdout)
		return nil
	case !isCommand(name):
		return unknownCommand(name)
	case name == "version" || name == "help":
		printCommandHelp(stdout, name, nil)
		return nil
	}
	for _, c := range commands {
		if c.name == name {
			noEnv := func(string) string { return "" }
			return runCommand(ctx, append(words, "--help"), noEnv, strings.NewReader(""), stdout, stdout)
		}
	}
	fmt.Fprintf(stdout, "usage: gatehouse %s SUBCOMMAND [ARGUMENTS] [flags]\n\nsubcommands:\n", name)
	printCommands(stdout, name+" ")
	fmt.Fprintf(stdout, "\nRun \"gatehouse %s SUBCOMMAND --help\" for a subcommand's flags.\n", name)
	return nil
}

// printOverview is the answer to "gatehouse help": every command, then the
// flags of serve, the default command.
func printOverview(w io.Writer) {
	fmt.Fprint(w, "usage: gatehouse [COMMAND] [ARGUMENTS] [flags]\n\ncommands:\n")
	printCommands(w, "")
	fmt.Fprint(w, "\nRun \"gatehouse COMMAND --help\" (or \"gatehouse help COMMAND\") for a command's flags.\n\n"+
		"flags of serve (with no command, gatehouse serves):\n")
	var c config
	fs := newFlagSet("serve", &c, true, w)
	fs.PrintDefaults()
	fmt.Fprint(w, envNote)
}

// printCommands lists the commands whose names start with prefix.
func printCommands(w io.Writer, prefix string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands {
		if strings.HasPrefix(c.name, prefix) {
			fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimPrefix(c.name, prefix), c.does)
		}
	}
	tw.Flush()
}

// printCommandHelp is one command's help: its usage, what it does, and
// its flags (fs; nil for a command that takes none).
func printCommandHelp(w io.Writer, name string, fs *flag.FlagSet) {
	for _, c := range commands {
		if c.name == name {
			fmt.Fprintf(w, "usage: gatehouse %s %s\n\n%s.\n", name, c.synopsis, c.does)
		}
	}
	if fs == nil {
		return
	}
	fmt.Fprint(w, "\nflags:\n")
	fs.PrintDefaults()
	fmt.Fprint(w, envNote)
}

const envNote = `
Every flag can also be set with an environment variable GATEHOUSE_<FLAG>,
e.g. GATEHOUSE_DB=/var/lib/gatehouse/gatehouse.db; a flag wins over its variable.
`

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
