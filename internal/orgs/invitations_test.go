package orgs_test

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

var linkPattern = regexp.MustCompile(`https://id\.example\.com/invitations/accept\?token=[A-Za-z0-9_%-]+`)

// mailedToken claims the outbox's mails and returns the token of the last
// invitation mailed to to.
func (e *env) mailedToken(t testing.TB, to string) string {
	t.Helper()
	mails, err := e.Store.ClaimMail(context.Background(), "test", e.Clock.Now(), time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	token := ""
	for _, m := range mails {
		if m.Message.To != to {
			continue
		}
		link := linkPattern.FindString(m.Message.Text)
		u, err := url.Parse(link)
		if err != nil || link == "" {
			t.Fatalf("no link in %q", m.Message.Text)
		}
		token = u.Query().Get("token")
	}
	if token == "" {
		t.Fatalf("no invitation mailed to %s", to)
	}
	return token
}

func TestInvitationJoinsTheInvitedAddressOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, "ann", true)
	e.user(t, "bob", true)
	cy := e.user(t, "cy", true)
	o := e.shop(t)
	ctx := context.Background()
	if _, err := e.orgs.Invite(ctx, e.users["bob"], o.ID, orgs.InviteInput{Email: " CY@example.com ", Role: orgs.Member}); err != nil {
		t.Fatal(err)
	}
	raw := e.mailedToken(t, "cy@example.com")
	in, err := e.orgs.Lookup(ctx, raw, auth.Client{})
	if err != nil || in.Org.Name != "Shop" || in.Role != orgs.Member {
		t.Fatalf("lookup %+v %v", in, err)
	}
	joined, err := e.orgs.Accept(ctx, cy, raw, auth.Client{})
	if err != nil || joined.ID != o.ID || joined.Role != orgs.Member {
		t.Fatalf("accept %+v %v", joined, err)
	}
	if _, err := e.orgs.Accept(ctx, cy, raw, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCode {
		t.Fatalf("accepted twice: %v", err)
	}
}

func TestResendingAnInvitationReplacesTheOldLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, "ann", true)
	e.user(t, "bob", true)
	cy := e.user(t, "cy", true)
	o := e.shop(t)
	ctx := context.Background()
	if _, err := e.orgs.Invite(ctx, e.users["ann"], o.ID, orgs.InviteInput{Email: "cy@example.com"}); err != nil {
		t.Fatal(err)
	}
	first := e.mailedToken(t, "cy@example.com")
	if _, err := e.orgs.Invite(ctx, e.users["ann"], o.ID, orgs.InviteInput{Email: "cy@example.com", Role: orgs.Admin}); err != nil {
		t.Fatal(err)
	}
	second := e.mailedToken(t, "cy@example.com")
	if _, err := e.orgs.Accept(ctx, cy, first, auth.Client{}); auth.ErrorCode(err) != auth.CodeInvalidCode {
		t.Fatalf("the replaced link: %v", err)
	}
	if invs, _ := e.orgs.Invitations(ctx, e.users["ann"], o.ID); len(invs) != 1 || invs[0].Role != orgs.Admin {
		t.Fatalf("open invitations %+v", invs)
	}
	if m, err := e.orgs.Accept(ctx, cy, second, auth.Client{}); err != nil || m.Role != orgs.Admin {
		t.Fatalf("the new link: %+v %v", m, err)
	}
}

// Re-inviting an address replaces its open invitation, so it revokes that
// one: an admin cannot undo an owner's invitation to admin by re-inviting
// the address as member (403, nothing changes, no bucket spent, the
// owner's link still works), while it still replaces what it could have
// revoked, and an expired invitation, which binds no one, is no obstacle.
func TestAnAdminCannotReplaceAnInvitationAboveItsOwn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann := e.user(t, "ann", true) // owner
	bob := e.user(t, "bob", true) // admin
	cy := e.user(t, "cy", true)
	o := e.shop(t)
	tpl, err := mail.NewTemplates("", "https://id.example.com")
	if err != nil {
		t.Fatal(err)
	}
	limited := orgs.New(orgs.Deps{Store: e.Store, Users: e.Store, Feed: e.Feed, Checks: e.Checks, Audit: e.Accounts.Audit,
		Mailer: tpl, PublicURL: "https://id.example.com", Now: e.Clock.Now, Limiter: ratelimit.NewMemory(e.Clock.Now),
		InvitesSent: ratelimit.DefaultPolicy().InvitationsSent, InvitesReceived: ratelimit.DefaultPolicy().InvitationsReceived})
	ctx := context.Background()
	invite := func(actor, email, role string) error {
		_, err := limited.Invite(ctx, actor, o.ID, orgs.InviteInput{Email: email, Role: role})
		return err
	}

	if err := invite(ann, "cy@example.com", orgs.Admin); err != nil {
		t.Fatal(err)
	}
	owners := e.mailedToken(t, "cy@example.com")
	before := e.snapshot(t)
	// More refusals than the address's bucket holds: refusals spend none of it.
	for range 5 {
		if err := invite(bob, "cy@example.com", orgs.Member); auth.ErrorCode(err) != auth.CodeForbidden {
			t.Fatalf("an admin replaces an owner's invitation to admin: %v, want forbidden", err)
		}
	}
	if after := e.snapshot(t); after != before {
		t.Fatalf("the refused re-invitation changed something:\n%s\nbecame\n%s", before, after)
	}
	if err := e.orgs.RevokeInvitation(ctx, bob, o.ID, openInvitationTo(t, e, o.ID, "cy@example.com").ID); auth.ErrorCode(err) != auth.CodeForbidden {
		t.Fatalf("an admin revokes an owner's invitation to admin: %v, want forbidden", err)
	}
	if m, err := e.orgs.Accept(ctx, cy, owners, auth.Client{}); err != nil || m.Role != orgs.Admin {
		t.Fatalf("the owner's link after the refusals: %+v %v", m, err)
	}

	// An owner's invitation to member is one an admin could have sent: the
	// admin replaces it.
	if err := invite(ann, "dee@example.com", orgs.Member); err != nil {
		t.Fatal(err)
	}
	if err := invite(bob, "dee@example.com", orgs.Member); err != nil {
		t.Fatalf("an admin replaces an owner's invitation to member: %v", err)
	}
	if inv := openInvitationTo(t, e, o.ID, "dee@example.com"); inv.InvitedBy != bob {
		t.Fatalf("the open invitation to dee is %+v, want bob's", inv)
	}

	// An owner replaces anyone's; an expired invitation is replaced by anyone
	// who may invite at all.
	if err := invite(ann, "eve@example.com", orgs.Owner); err != nil {
		t.Fatal(err)
	}
	if err := invite(ann, "eve@example.com", orgs.Member); err != nil {
		t.Fatalf("an owner replaces its own invitation to owner: %v", err)
	}
	if err := invite(ann, "fay@example.com", orgs.Owner); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(orgs.InvitationTTL + time.Second)
	if err := invite(bob, "fay@example.com", orgs.Member); err != nil {
		t.Fatalf("an admin re-invites an address whose invitation to owner expired: %v", err)
	}
	if inv := openInvitationTo(t, e, o.ID, "fay@example.com"); inv.InvitedBy != bob || inv.Role != orgs.Member {
		t.Fatalf("the open invitation to fay is %+v, want bob's to member", inv)
	}
}

// openInvitationTo is the organization's open invitation to email.
func openInvitationTo(t testing.TB, e *env, orgID, email string) orgs.Invitation {
	t.Helper()
	invs, err := e.Store.Invitations(context.Background(), orgID)
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range invs {
		if inv.Email == email {
			return inv
		}
	}
	t.Fatalf("no open invitation to %s in %+v", email, invs)
	return orgs.Invitation{}
}

// snapshot is everything an organization edit can change, as text.
func (e *env) snapshot(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	all, err := e.Store.AllOrgs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, o := range all {
		fmt.Fprintf(&b, "%s %s %s\n", o.ID, o.Name, o.Slug)
		members, _ := e.Store.Members(ctx, o.ID)
		for _, m := range members {
			fmt.Fprintf(&b, "  member %s %s %s\n", m.UserID, m.Role, m.Grant)
		}
		roles, _ := e.Store.CustomRoles(ctx, o.ID)
		for _, r := range roles {
			fmt.Fprintf(&b, "  role %s %v\n", r.Name, r.Permissions)
		}
		invs, _ := e.Store.Invitations(ctx, o.ID)
		for _, i := range invs {
			fmt.Fprintf(&b, "  invitation %s %s %s\n", i.ID, i.Email, i.Role)
		}
	}
	return b.String()
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann := e.user(t, "ann", true)
	bob := e.user(t, "bob", true)
	cy := e.user(t, "cy", true)
	dee := e.user(t, "dee", false) // address not verified
	o := e.shop(t)
	ctx := context.Background()
	other, err := e.orgs.AdminCreate(ctx, cy, orgs.CreateInput{Name: "Other", Slug: "other"})
	if err != nil {
		t.Fatal(err)
	}
	invite := func(email string) string {
		if _, err := e.orgs.Invite(ctx, ann, o.ID, orgs.InviteInput{Email: email}); err != nil {
			t.Fatal(err)
		}
		return e.mailedToken(t, email)
	}
	accepted := invite("eve@example.com")
	eve := e.user(t, "eve", true)
	if _, err := e.orgs.Accept(ctx, eve, accepted, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	revoked := invite("fay@example.com")
	invs, _ := e.orgs.Invitations(ctx, ann, o.ID)
	if err := e.orgs.RevokeInvitation(ctx, ann, o.ID, invs[0].ID); err != nil {
		t.Fatal(err)
	}
	forCy := invite("cy@example.com")
	fay := e.user(t, "fay", true)
	expired := invite("gil@example.com")
	gil := e.user(t, "gil", true)
	e.Clock.Advance(orgs.InvitationTTL + time.Second)
	forCy2 := invite("cy2@example.com") // fresh, for cy who is not cy2
	forDee2 := invite("dee@example.com")
	if err := role(e, ann, o.ID, "billing", "invoices:send"); err != nil { // beyond what admins hold
		t.Fatal(err)
	}
	if _, err := e.orgs.AddMember(ctx, o.ID, gil, orgs.Member); err != nil {
		t.Fatal(err)
	}
	unknown := "0190a0b0-0000-7000-8000-000000000000"
	str := func(s string) *string { return &s }

	cases := []struct {
		name string
		do   func() error
		want string
	}{
		{"duplicate slug", func() error {
			_, err := e.orgs.Create(ctx, ann, orgs.CreateInput{Name: "Again", Slug: "shop"})
			return err
		}, auth.CodeAlreadyExists},
		{"slug taken by a rename", func() error {
			_, err := e.orgs.Update(ctx, ann, o.ID, orgs.UpdateInput{Slug: str("other")})
			return err
		}, auth.CodeAlreadyExists},
		{"uppercase slug", func() error {
			_, err := e.orgs.Create(ctx, ann, orgs.CreateInput{Name: "X", Slug: "Shop2"})
			return err
		}, auth.CodeInvalidRequest},
		{"underscore slug", func() error {
			_, err := e.orgs.Create(ctx, ann, orgs.CreateInput{Name: "X", Slug: "shop_2"})
			return err
		}, auth.CodeInvalidRequest},
		{"leading hyphen", func() error {
			_, err := e.orgs.Create(ctx, ann, orgs.CreateInput{Name: "X", Slug: "-shop"})
			return err
		}, auth.CodeInvalidRequest},
		{"empty slug", func() error { _, err := e.orgs.Create(ctx, ann, orgs.CreateInput{Name: "X", Slug: ""}); return err }, auth.CodeInvalidRequest},
		{"long slug", func() error {
			_, err := e.orgs.Create(ctx, ann, orgs.CreateInput{Name: "X", Slug: strings.Repeat("a", 64)})
			return err
		}, auth.CodeInvalidRequest},
		{"empty name", func() error { _, err := e.orgs.Create(ctx, ann, orgs.CreateInput{Name: " ", Slug: "x"}); return err }, auth.CodeInvalidRequest},
		{"bad slug in a rename", func() error { _, err := e.orgs.Update(ctx, ann, o.ID, orgs.UpdateInput{Slug: str("a b")}); return err }, auth.CodeInvalidRequest},
		{"unverified creator", func() error { _, err := e.orgs.Create(ctx, dee, orgs.CreateInput{Name: "X", Slug: "dee"}); return err }, auth.CodeEmailNotVerified},
		{"role name uppercase", func() error { return role(e, ann, o.ID, "Editor", "books:read") }, auth.CodeInvalidRequest},
		{"role name digit first", func() error { return role(e, ann, o.ID, "1editor", "books:read") }, auth.CodeInvalidRequest},
		{"role name built in", func() error { return role(e, ann, o.ID, "owner", "books:read") }, auth.CodeAlreadyExists},
		{"permission without action", func() error { return role(e, ann, o.ID, "editor", "books") }, auth.CodeInvalidRequest},
		{"permission uppercase", func() error { return role(e, ann, o.ID, "editor", "Books:write") }, auth.CodeInvalidRequest},
		{"permission with two colons", func() error { return role(e, ann, o.ID, "editor", "a:b:c") }, auth.CodeInvalidRequest},
		{"no permissions", func() error { return role(e, ann, o.ID, "editor") }, auth.CodeInvalidRequest},
		{"role beyond the granter", func() error { return role(e, bob, o.ID, "billing", "invoices:send") }, auth.CodeForbidden},
		{"an admin gives a role beyond its own", func() error { _, err := e.orgs.SetRole(ctx, bob, o.ID, gil, "billing"); return err }, auth.CodeForbidden},
		{"an admin invites to a role beyond its own", func() error {
			_, err := e.orgs.Invite(ctx, bob, o.ID, orgs.InviteInput{Email: "new@example.com", Role: "billing"})
			return err
		}, auth.CodeForbidden},
		{"an admin makes an owner", func() error { _, err := e.orgs.SetRole(ctx, bob, o.ID, gil, orgs.Owner); return err }, auth.CodeForbidden},
		{"unknown role given", func() error { _, err := e.orgs.SetRole(ctx, ann, o.ID, bob, "ghost"); return err }, auth.CodeInvalidRequest},
		{"invitation to a member", func() error {
			_, err := e.orgs.Invite(ctx, ann, o.ID, orgs.InviteInput{Email: "bob@example.com"})
			return err
		}, auth.CodeAlreadyExists},
		{"invitation with a bad address", func() error {
			_, err := e.orgs.Invite(ctx, ann, o.ID, orgs.InviteInput{Email: "not an address"})
			return err
		}, auth.CodeInvalidRequest},
		{"invitation with an unknown role", func() error {
			_, err := e.orgs.Invite(ctx, ann, o.ID, orgs.InviteInput{Email: "new@example.com", Role: "ghost"})
			return err
		}, auth.CodeInvalidRequest},
		{"accepted invitation", func() error { _, err := e.orgs.Accept(ctx, cy, accepted, auth.Client{}); return err }, auth.CodeInvalidCode},
		{"revoked invitation", func() error { _, err := e.orgs.Accept(ctx, fay, revoked, auth.Client{}); return err }, auth.CodeInvalidCode},
		{"expired invitation", func() error { _, err := e.orgs.Accept(ctx, gil, expired, auth.Client{}); return err }, auth.CodeInvalidCode},
		{"expired invitation (cy's)", func() error { _, err := e.orgs.Accept(ctx, cy, forCy, auth.Client{}); return err }, auth.CodeInvalidCode},
		{"invitation of another address", func() error { _, err := e.orgs.Accept(ctx, cy, forCy2, auth.Client{}); return err }, auth.CodeForbidden},
		{"invitation to an unverified address", func() error { _, err := e.orgs.Accept(ctx, dee, forDee2, auth.Client{}); return err }, auth.CodeEmailNotVerified},
		{"wrong token", func() error { _, err := e.orgs.Accept(ctx, cy, otherFirstChar(forCy2), auth.Client{}); return err }, auth.CodeInvalidCode},
		{"unknown organization", func() error { _, err := e.orgs.Members(ctx, ann, unknown); return err }, auth.CodeNotFound},
		{"malformed organization id", func() error { _, err := e.orgs.Get(ctx, ann, "x'; --"); return err }, auth.CodeNotFound},
		{"another's organization", func() error { _, err := e.orgs.SetRole(ctx, ann, other.ID, cy, orgs.Member); return err }, auth.CodeNotFound},
		{"unknown member", func() error { _, err := e.orgs.SetRole(ctx, ann, o.ID, unknown, orgs.Member); return err }, auth.CodeNotFound},
		{"removing an unknown member", func() error { return e.orgs.RemoveMember(ctx, ann, o.ID, cy) }, auth.CodeNotFound},
		{"unknown invitation", func() error { return e.orgs.RevokeInvitation(ctx, ann, o.ID, unknown) }, auth.CodeNotFound},
		{"another organization's invitation", func() error { return e.orgs.RevokeInvitation(ctx, cy, other.ID, invs[0].ID) }, auth.CodeNotFound},
	}
	for _, c := range cases {
		before := e.snapshot(t)
		err := c.do()
		if got := auth.ErrorCode(err); got != c.want {
			t.Errorf("%s: %q (%v), want %q", c.name, got, err, c.want)
		}
		if after := e.snapshot(t); after != before {
			t.Errorf("%s changed something:\n%s\nbecame\n%s", c.name, before, after)
		}
	}
}

func role(e *env, actor, orgID, name string, perms ...string) error {
	_, err := e.orgs.CreateRole(context.Background(), actor, orgID, orgs.RoleInput{Name: name, Permissions: perms})
	return err
}

// A wrong invitation token takes the guarded path: the same answer as a
// used one, and an audit event naming the check.
func TestWrongInvitationTokensAreGuardedAndAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cy := e.user(t, "cy", true)
	ctx := context.Background()
	for _, raw := range []string{"", "short", strings.Repeat("A", 43)} {
		if _, err := e.orgs.Accept(ctx, cy, raw, auth.Client{IP: "192.0.2.7"}); auth.ErrorCode(err) != auth.CodeInvalidCode {
			t.Fatalf("token %q: %v", raw, err)
		}
	}
	events, err := e.Store.AuditEvents(ctx, auth.AuditFilter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range events {
		if strings.HasPrefix(ev.Detail, string(auth.CheckInvitation)+": ") && ev.IP == "192.0.2.7" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d refused invitation checks audited, want 3: %+v", n, events)
	}
}

// Invitations are mails whose text an organization's name chooses: one
// address receives a few an hour, one member sends a bounded number.
func TestInvitationsAreLimitedPerRecipient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, "ann", true)
	e.user(t, "bob", true)
	o := e.shop(t)
	tpl, err := mail.NewTemplates("", "https://id.example.com")
	if err != nil {
		t.Fatal(err)
	}
	limited := orgs.New(orgs.Deps{Store: e.Store, Users: e.Store, Feed: e.Feed, Checks: e.Checks, Audit: e.Accounts.Audit,
		Mailer: tpl, PublicURL: "https://id.example.com", Now: e.Clock.Now, Limiter: ratelimit.NewMemory(e.Clock.Now),
		InvitesSent: ratelimit.DefaultPolicy().InvitationsSent, InvitesReceived: ratelimit.DefaultPolicy().InvitationsReceived})
	ctx := context.Background()
	var refused error
	for i := range 10 {
		_, err := limited.Invite(ctx, e.users["ann"], o.ID, orgs.InviteInput{Email: "victim@example.org"})
		if err != nil {
			refused = err
			if i < 3 {
				t.Fatalf("invitation %d refused: %v", i, err)
			}
			break
		}
	}
	if auth.ErrorCode(refused) != auth.CodeTooManyRequests {
		t.Fatalf("ten invitations to one address in a row: %v, want too_many_requests", refused)
	}
	// Another address is not held by that one's bucket.
	if _, err := limited.Invite(ctx, e.users["ann"], o.ID, orgs.InviteInput{Email: "other@example.org"}); err != nil {
		t.Fatalf("an invitation to another address: %v", err)
	}
}

// otherFirstChar is token with its first character changed (always: a
// token that already starts with "x" becomes "y...").
func otherFirstChar(token string) string {
	if token[0] == 'x' {
		return "y" + token[1:]
	}
	return "x" + token[1:]
}
