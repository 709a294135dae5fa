package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail"
)

// validateMail checks --smtp-url and --mail-from. Its errors never repeat
// the URL, which holds the SMTP password.
func (c *config) validateMail() error {
	c.smtp = nil
	if c.MailFrom != "" {
		if _, err := netmail.ParseAddress(c.MailFrom); err != nil {
			return badFlag("mail-from", "%q is not an address like \"Gatehouse <noreply@example.com>\"", c.MailFrom)
		}
	}
	if c.SMTPURL == "" {
		return nil
	}
	cfg, err := mail.ParseSMTPURL(c.SMTPURL)
	if err != nil {
		return badFlag("smtp-url", "%v", err)
	}
	if c.MailFrom == "" {
		return badFlag("mail-from", "is required with --smtp-url")
	}
	c.smtp = &cfg
	return nil
}

// mailSender is the configured sender: SMTP, or (nil) the log sender.
func (c *config) mailSender(log *slog.Logger) (mail.Sender, error) {
	if c.smtp == nil {
		return nil, nil
	}
	s, err := mail.NewSMTPSender(*c.smtp, c.MailFrom)
	if err != nil {
		return nil, badFlag("mail-from", "%v", err)
	}
	log.Info("mail goes through " + s.String())
	return s, nil
}

// mailCommand runs "gatehouse mail test ADDRESS": it sends a test mail at
// once (not through the outbox) with the server's mail settings and says
// whether the server took it.
func mailCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "test" {
		return &configError{"mail needs a subcommand: test ADDRESS"}
	}
	args = args[1:]
	var to string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") { // the address may come before the flags
		to, args = args[0], args[1:]
	}
	var c config
	fs := newCommandFlagSet("mail test", &c, stderr, "log-format", "smtp-url", "mail-from", "public-url", "issuer")
	rest, err := parseConfig(fs, args, getenv, &c)
	if err != nil {
		return err
	}
	if to == "" && len(rest) == 1 {
		to, rest = rest[0], nil
	}
	if to == "" || len(rest) != 0 {
		return &configError{"mail test takes one argument: the address to send the test mail to"}
	}
	if _, err := netmail.ParseAddress(to); err != nil {
		return &configError{fmt.Sprintf("mail test: %q is not an email address", to)}
	}
	log := newLogger(c.LogFormat, stderr)
	tpl, err := mail.NewTemplates("", c.publicURL())
	if err != nil {
		return err
	}
	msg, err := tpl.Render(mail.Test, to, mail.Data{})
	if err != nil {
		return err
	}
	sender, err := c.mailSender(log)
	if err != nil {
		return err
	}
	if sender == nil {
		sender = mail.NewLogSender(log)
	}
	if err := mail.SendNow(ctx, sender, msg, time.Minute); err != nil {
		return fmt.Errorf("test mail not sent: %w", err)
	}
	fmt.Fprintf(stdout, "test mail to %s handed to %s\n", to, sender)
	return nil
}
