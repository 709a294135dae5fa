package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
)

// webhookCommand runs "gatehouse webhook add|list|remove|rotate-secret".
func webhookCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &configError{"webhook needs a subcommand: add, list, remove or rotate-secret"}
	}
	sub, args := args[0], args[1:]
	wantArgs := map[string]int{"add": 0, "list": 0, "remove": 1, "rotate-secret": 1}
	n, known := wantArgs[sub]
	if !known {
		return &configError{fmt.Sprintf("unknown webhook subcommand %q (want add, list, remove or rotate-secret)", sub)}
	}
	var c config
	fs := newFlagSet("webhook "+sub, &c, false, stderr)
	var in events.EndpointInput
	var types listFlag
	switch sub {
	case "add": // the secret is sealed with the master key; the URL is checked
		addServerFlags(fs, &c, "master-key-file", "webhook-allow-private")
		fs.StringVar(&in.URL, "url", "", "the receiver's URL (http or https; public addresses only unless --webhook-allow-private)")
		fs.Var(&types, "events", "event types to deliver, comma-separated (or * for all): "+strings.Join(events.Types, ", "))
		fs.StringVar(&in.Description, "description", "", "a note for administrators")
	case "rotate-secret":
		addServerFlags(fs, &c, "master-key-file")
	}
	rest, err := parseConfig(fs, args, getenv, &c)
	if err != nil {
		return err
	}
	if len(rest) != n {
		return &configError{fmt.Sprintf("webhook %s takes %d argument(s), got %d", sub, n, len(rest))}
	}
	if sub == "add" {
		if in.URL == "" {
			return &configError{"webhook add needs --url"}
		}
		if len(types) == 0 {
			return &configError{"webhook add needs --events (comma-separated types, or * for all)"}
		}
		in.Events = types
	}
	svc, st, done, err := openAdminStore(ctx, c, false, stderr)
	if err != nil {
		return err
	}
	defer done()
	var key *seal.Key
	if sub == "add" || sub == "rotate-secret" {
		path, isDefault, err := c.masterKeyFile()
		if err != nil {
			return err
		}
		if key, err = loadMasterKey(ctx, st, path, isDefault, newLogger(c.LogFormat, stderr)); err != nil {
			return err
		}
	}
	webhooks := events.NewWebhooks(events.WebhooksConfig{Store: st, Sealer: key, AllowPrivate: c.WebhookPrivate,
		Audit: svc.Accounts.Audit})
	ctx = auth.WithActor(ctx, "cli")
	switch sub {
	case "add":
		ep, secret, err := webhooks.Add(ctx, in)
		if err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "id: %s\nsecret: %s\n(shown once: only its sealed form is stored; receivers verify the webhook-signature header with it)\n", ep.ID, secret)
	case "list":
		list, err := webhooks.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tEVENTS\tSTATE\tCREATED")
		for _, ep := range list {
			state := "enabled"
			if !ep.Enabled() {
				state = "disabled: " + ep.DisabledReason
			} else if !ep.FailingSince.IsZero() {
				state = "failing since " + ep.FailingSince.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ep.ID, ep.URL, strings.Join(ep.Events, ","), state, ep.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "remove":
		if err := webhooks.Remove(ctx, rest[0]); err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "removed webhook %s and its deliveries\n", rest[0])
	case "rotate-secret":
		secret, err := webhooks.RotateSecret(ctx, rest[0])
		if err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "secret: %s\n(shown once; deliveries carry a signature with the old secret too for %s)\n", secret, events.OldSecretGrace)
	}
	return nil
}
