package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// resetPasswordCommand runs "gatehouse user reset-password ID [--print]":
// a reset link for the user, written to the outbox (the server delivers
// it), or with --print printed and mailed to nobody. It takes the server's
// flags, for --public-url (or --issuer) and --reset-ttl.
func resetPasswordCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") { // the id may come before the flags
		id, args = args[0], args[1:]
	}
	var c config
	var printLink bool
	fs := newFlagSet("user reset-password", &c, false, stderr)
	addServerFlags(fs, &c, "public-url", "issuer", "reset-ttl", "master-key-file") // the mail is sealed with the master key
	fs.BoolVar(&printLink, "print", false, "print the link instead of mailing it")
	rest, err := parseConfig(fs, args, getenv, &c)
	if err != nil {
		return err
	}
	if id == "" && len(rest) == 1 {
		id, rest = rest[0], nil
	}
	if id == "" || len(rest) != 0 {
		return &configError{"user reset-password takes one argument: the user's id"}
	}
	log := newLogger(c.LogFormat, stderr)
	st, err := openStore(ctx, c.DB, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if !printLink {
		if err := sealMail(ctx, c, st, log); err != nil {
			return err
		}
	}
	hasher, err := password.NewHasher(password.Options{})
	if err != nil {
		return err
	}
	tpl, err := mail.NewTemplates("", c.publicURL())
	if err != nil {
		return err
	}
	recovery := auth.New(auth.Config{AccessTTL: c.AccessTTL,
		Recovery: auth.RecoveryConfig{PublicURL: c.publicURL(), ResetTTL: c.ResetTTL, VerifyTTL: c.VerifyTTL}},
		auth.Deps{Store: st, Hasher: hasher, Revocations: auth.NewRevocations(time.Now), Log: log, Mailer: tpl}).Recovery
	link, err := recovery.AdminPasswordReset(ctx, "cli", id, printLink)
	if err != nil {
		return errors.New(auth.ErrorMessage(err))
	}
	if printLink {
		fmt.Fprintln(stdout, link)
		return nil
	}
	fmt.Fprintf(stdout, "reset link for user %s written to the outbox; the server mails it\n", id)
	return nil
}
