package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"golang.org/x/term"
)

// userCommand runs "gatehouse user add|list|disable|role|mfa-reset".
func userCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &configError{"user needs a subcommand: add, list, disable, role, reset-password or mfa-reset"}
	}
	sub, args := args[0], args[1:]
	if sub == "reset-password" {
		return resetPasswordCommand(ctx, args, getenv, stdout, stderr)
	}
	var c config
	var in auth.RegisterInput
	var admin bool
	fs := newFlagSet("user "+sub, &c, false, stderr)
	wantArgs := map[string]int{"add": 0, "list": 0, "disable": 1, "role": 2, "mfa-reset": 1}
	n, known := wantArgs[sub]
	if !known {
		return &configError{fmt.Sprintf("unknown user subcommand %q (want add, list, disable, role, reset-password or mfa-reset)", sub)}
	}
	if sub == "disable" || sub == "role" || sub == "mfa-reset" { // they end sessions
		addServerFlags(fs, &c, "access-ttl")
	}
	if sub == "mfa-reset" { // the notice mailed to the user says where to sign in, sealed with the master key
		addServerFlags(fs, &c, "master-key-file", "public-url", "issuer")
	}
	if sub == "add" {
		fs.StringVar(&in.Email, "email", "", "email address")
		fs.StringVar(&in.Username, "username", "", "username")
		fs.StringVar(&in.Name, "name", "", "display name")
		fs.BoolVar(&admin, "admin", false, "give the user the admin role")
	}
	rest, err := parseConfig(fs, args, getenv, &c)
	if err != nil {
		return err
	}
	if len(rest) != n {
		return &configError{fmt.Sprintf("user %s takes %d argument(s), got %d", sub, n, len(rest))}
	}
	svc, done, err := openAdmin(ctx, c, sub == "mfa-reset", stderr)
	if err != nil {
		return err
	}
	defer done()
	ctx = auth.WithActor(ctx, "cli")

	switch sub {
	case "add":
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		in.Password = pw
		role := auth.RoleUser
		if admin {
			role = auth.RoleAdmin
		}
		u, err := svc.Accounts.CreateUser(ctx, in, role)
		if err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		kind := "user"
		if u.Role == auth.RoleAdmin {
			kind = "admin user"
		}
		fmt.Fprintf(stdout, "created %s %s\n", kind, u.ID)
	case "list":
		return listUsers(ctx, svc.Accounts, stdout)
	case "disable":
		disabled := true
		if _, err := svc.Accounts.AdminUpdate(ctx, "cli", rest[0], nil, &disabled); err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "disabled user %s and ended its sessions\n", rest[0])
	case "role":
		if _, err := svc.Accounts.AdminUpdate(ctx, "cli", rest[0], &rest[1], nil); err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "user %s is now %s; its sessions were ended\n", rest[0], rest[1])
	case "mfa-reset":
		if err := svc.Factors.ResetMFA(ctx, "cli", rest[0]); err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "removed every second factor of user %s and ended its sessions; the user is mailed\n", rest[0])
	}
	return nil
}

// openAdmin opens the database (applying migrations) and the services of
// the command line, which never signs tokens (so Sessions and Passkeys are
// nil); done closes the database.
func openAdmin(ctx context.Context, c config, mails bool, stderr io.Writer) (*auth.Services, func(), error) {
	svc, _, done, err := openAdminStore(ctx, c, mails, stderr)
	return svc, done, err
}

// openAdminStore is openAdmin that also returns the store.
func openAdminStore(ctx context.Context, c config, mails bool, stderr io.Writer) (svc *auth.Services, st *store.Store, done func(), err error) {
	log := newLogger(c.LogFormat, stderr)
	st, err = openStore(ctx, c.DB, log)
	if err != nil {
		return nil, nil, nil, err
	}
	hasher, err := password.NewHasher(password.Options{})
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	d := auth.Deps{Store: st, Hasher: hasher, Revocations: auth.NewRevocations(time.Now), Log: log}
	if mails { // a command that mails (the running server's worker delivers the outbox), with the server's links
		if d.Mailer, err = mail.NewTemplates("", c.publicURL()); err != nil {
			st.Close()
			return nil, nil, nil, &configError{fmt.Sprintf("invalid --public-url (%s): %v", envName("public-url"), err)}
		}
		if err := sealMail(ctx, c, st, log); err != nil {
			st.Close()
			return nil, nil, nil, err
		}
	}
	svc = auth.New(auth.Config{AccessTTL: c.AccessTTL}, d)
	return svc, st, func() { st.Close() }, nil
}

// sealMail loads the master key for a command that writes mail to the
// outbox, which seals every body with it.
func sealMail(ctx context.Context, c config, st *store.Store, log *slog.Logger) error {
	path, isDefault, err := c.masterKeyFile()
	if err != nil {
		return err
	}
	k, err := loadMasterKey(ctx, st, path, isDefault, log)
	if err != nil {
		return err
	}
	st.SealMailWith(k)
	return nil
}

func listUsers(ctx context.Context, svc *auth.Accounts, stdout io.Writer) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tUSERNAME\tNAME\tROLE\tDISABLED\tCREATED")
	cursor := ""
	for {
		users, next, err := svc.ListUsers(ctx, auth.UserQuery{Cursor: cursor, Limit: 200})
		if err != nil {
			return err
		}
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%s\n", u.ID, dash(u.Email), dash(u.Username), dash(u.Name),
				u.Role, u.Disabled, u.CreatedAt.Format(time.RFC3339))
		}
		if next == "" {
			return tw.Flush()
		}
		cursor = next
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readPassword reads the password without echo from a terminal, or as the
// first line of standard input otherwise (for scripts: echo pw | gatehouse ...).
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return string(b), err
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, password.MaxBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}
