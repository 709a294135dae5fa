package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
)

// orgCommand runs "gatehouse org add|list|member add|member remove": the
// same orgs.Service as the API, acting as the command line (an owner of
// every organization; the last owner rule holds here too).
func orgCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &configError{"org needs a subcommand: add, list, member add or member remove"}
	}
	sub, args := args[0], args[1:]
	if sub == "member" {
		if len(args) == 0 || (args[0] != "add" && args[0] != "remove") {
			return &configError{"org member needs a subcommand: add or remove"}
		}
		sub, args = "member "+args[0], args[1:]
	}
	wantArgs := map[string]int{"add": 0, "list": 0, "member add": 2, "member remove": 2}
	n, known := wantArgs[sub]
	if !known {
		return &configError{fmt.Sprintf("unknown org subcommand %q (want add, list, member add or member remove)", sub)}
	}
	var c config
	fs := newFlagSet("org "+sub, &c, false, stderr)
	var in orgs.CreateInput
	var owner, role string
	switch sub {
	case "add":
		fs.StringVar(&in.Name, "name", "", "the organization's name")
		fs.StringVar(&in.Slug, "slug", "", "its unique slug: lowercase letters, digits and hyphens")
		fs.StringVar(&owner, "owner", "", "the id of the user who owns it")
	case "member add":
		fs.StringVar(&role, "role", orgs.Member, "the role: owner, admin, member or a custom role of the organization")
	case "member remove": // it revokes the member's organization claims
		addServerFlags(fs, &c, "access-ttl")
	}
	rest, err := parseConfig(fs, args, getenv, &c)
	if err != nil {
		return err
	}
	if len(rest) != n {
		return &configError{fmt.Sprintf("org %s takes %d argument(s), got %d", sub, n, len(rest))}
	}
	if sub == "add" && owner == "" {
		return &configError{"org add needs --owner USER_ID"}
	}
	svc, st, done, err := openAdminStore(ctx, c, false, stderr)
	if err != nil {
		return err
	}
	defer done()
	ctx = auth.WithActor(ctx, "cli")
	o := orgs.New(orgs.Deps{Store: st, Users: st, Feed: svc.Feed, Audit: svc.Accounts.Audit, Now: time.Now})
	switch sub {
	case "add":
		created, err := o.AdminCreate(ctx, owner, in)
		if err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "org_id: %s\n", created.ID)
	case "list":
		list, err := o.All(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ORG_ID\tSLUG\tNAME\tCREATED")
		for _, x := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", x.ID, x.Slug, x.Name, x.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "member add":
		if _, err := o.AddMember(ctx, rest[0], rest[1], role); err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "user %s is a member of %s as %s\n", rest[1], rest[0], role)
	case "member remove":
		if err := o.AdminRemoveMember(ctx, rest[0], rest[1]); err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "removed user %s from %s; its organization claims are revoked\n", rest[1], rest[0])
	}
	return nil
}
