package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// auditCommand runs "gatehouse audit [--user ID] [--event E] [--limit N]":
// the newest security events first.
func auditCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c config
	var f auth.AuditFilter
	fs := newFlagSet("audit", &c, false, stderr)
	fs.StringVar(&f.UserID, "user", "", "only events of this user id")
	fs.StringVar(&f.Event, "event", "", "only events of this kind, e.g. login_failed")
	fs.IntVar(&f.Limit, "limit", 50, "how many events (1 to 10000)")
	rest, err := parseConfig(fs, args, getenv, &c)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return &configError{"audit takes no arguments"}
	}
	if f.Limit < 1 || f.Limit > 10000 {
		return badFlag("limit", "%d is outside 1 to 10000", f.Limit)
	}
	svc, done, err := openAdmin(ctx, c, false, stderr)
	if err != nil {
		return err
	}
	defer done()
	events, _, err := svc.Accounts.AuditEvents(ctx, f)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tUSER\tACTOR\tIP\tDETAIL")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Format(time.RFC3339), e.Event, dash(e.UserID), dash(e.ActorID), dash(e.IP), e.Detail)
	}
	return tw.Flush()
}
