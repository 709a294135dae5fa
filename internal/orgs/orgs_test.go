package orgs_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
	"github.com/gatehouse-auth/gatehouse/internal/orgs/orgstest"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// env is the organizations over auth's services on a database of their own.
type env struct {
	*authtest.Env
	orgs  *orgs.Service
	users map[string]string // name → id
}

func newEnv(t testing.TB, opts ...authtest.Option) *env {
	t.Helper()
	opts = append(opts, authtest.WithDeps(func(d *auth.Deps) {
		d.Orgs = orgs.NewSessions(d.Store.(*store.Store))
	}))
	e := &env{Env: authtest.New(t, opts...), users: map[string]string{}}
	tpl, err := mail.NewTemplates("", "https://id.example.com")
	if err != nil {
		t.Fatal(err)
	}
	e.orgs = orgs.New(orgs.Deps{Store: e.Store, Users: e.Store, Feed: e.Feed, Checks: e.Checks, Audit: e.Accounts.Audit,
		Mailer: tpl, PublicURL: "https://id.example.com", Now: e.Clock.Now})
	return e
}

// user makes a user name@example.com (verified when asked) and returns its id.
func (e *env) user(t testing.TB, name string, verified bool) string {
	t.Helper()
	u, err := e.Accounts.CreateUser(context.Background(), auth.RegisterInput{Email: name + "@example.com", Name: name,
		Password: "the password of " + name}, auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	if verified {
		verify(t, e.Env, u)
	}
	e.users[name] = u.ID
	return u.ID
}

// verify marks u's address verified as a verification link would.
func verify(t testing.TB, e *authtest.Env, u auth.User) {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	raw := base64.RawURLEncoding.EncodeToString(b)
	hash, _ := auth.ParseLinkToken(raw)
	now := e.Clock.Now()
	if err := e.Store.IssueLink(ctx, auth.LinkToken{Hash: hash, UserID: u.ID, Purpose: auth.PurposeVerifyEmail, Email: u.Email,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, nil, auth.LinkRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Recovery.VerifyEmail(ctx, auth.LinkInput{Token: raw}); err != nil {
		t.Fatal(err)
	}
}

// run takes c's action through the service.
func run(ctx context.Context, svc *orgs.Service, f orgstest.Fixture, c orgstest.Case) error {
	actor, target, org := f.ActorID(c), f.TargetID(c), f.OrgID
	switch c.Action {
	case "view":
		if _, err := svc.Get(ctx, actor, org); err != nil {
			return err
		}
		if _, err := svc.Roles(ctx, actor, org); err != nil {
			return err
		}
		_, err := svc.Members(ctx, actor, org)
		return err
	case "rename":
		name := "Renamed"
		_, err := svc.Update(ctx, actor, org, orgs.UpdateInput{Name: &name})
		return err
	case "delete":
		return svc.Delete(ctx, actor, org)
	case "list_invitations":
		_, err := svc.Invitations(ctx, actor, org)
		return err
	case "create_role":
		_, err := svc.CreateRole(ctx, actor, org, orgs.RoleInput{Name: "reader", Permissions: []string{"books:read"}})
		return err
	case "invite":
		_, err := svc.Invite(ctx, actor, org, orgs.InviteInput{Email: "new@example.net", Role: c.Target})
		return err
	case "revoke_invitation":
		return svc.RevokeInvitation(ctx, actor, org, f.Invitations[c.Target])
	case "reinvite":
		_, err := svc.Invite(ctx, actor, org, orgs.InviteInput{Email: orgstest.InvitedEmail(c.Target), Role: orgs.Member})
		return err
	case "remove":
		return svc.RemoveMember(ctx, actor, org, target)
	}
	_, err := svc.SetRole(ctx, actor, org, target, strings.TrimPrefix(c.Action, "set_role:"))
	return err
}

func TestPolicyTableThroughTheService(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, name := range orgstest.Names {
		e.user(t, name, true)
	}
	ctx := context.Background()
	cases := orgstest.Cases()
	for i, c := range cases {
		f, err := orgstest.Setup(ctx, e.orgs, e.users, "shop-"+itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		err = run(ctx, e.orgs, f, c)
		if got := auth.ErrorCode(err); got != c.Want {
			t.Errorf("%s: %q (%v), want %q", c, got, err, c.Want)
			continue
		}
		if err := orgstest.Effect(ctx, e.orgs, f, c); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	t.Logf("%d policy cases", len(cases))
}

// The table states the policy independently of Allowed: Allowed must
// agree with it for every single-target action. Re-inviting an address
// revokes its open invitation, so it takes what revoking that one takes.
func TestAllowedMatchesTheWrittenPolicy(t *testing.T) {
	t.Parallel()
	simple := map[string]orgs.Action{"view": orgs.View, "rename": orgs.Rename, "delete": orgs.Delete,
		"list_invitations": orgs.ListInvitations, "create_role": orgs.CreateRole, "invite": orgs.Invite,
		"revoke_invitation": orgs.RevokeInvitation, "reinvite": orgs.RevokeInvitation, "remove": orgs.Remove}
	for _, c := range orgstest.Cases() {
		a, ok := simple[c.Action]
		if !ok || c.Actor == orgstest.Outsider {
			continue
		}
		target := c.Target
		if target == "org" {
			target = c.Actor
			if c.Action == "create_role" {
				target = "custom"
			}
		}
		if got := orgs.Allowed(c.Actor, a, target); got != (c.Want == orgstest.Allow) {
			t.Errorf("Allowed(%s, %s, %s) = %v, want %q", c.Actor, a, target, got, c.Want)
		}
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func TestOrgCreationAdminsLetsOnlyAdministratorsCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann := e.user(t, "ann", true)
	root, err := e.Accounts.CreateUser(context.Background(), auth.RegisterInput{Email: "root@example.com", Password: "the root passphrase"}, auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	svc := orgs.New(orgs.Deps{Store: e.Store, Users: e.Store, Feed: e.Feed, Checks: e.Checks, Creation: orgs.CreationAdmins, Now: e.Clock.Now})
	ctx := context.Background()
	if _, err := svc.Create(ctx, ann, orgs.CreateInput{Name: "Shop", Slug: "shop"}); auth.ErrorCode(err) != auth.CodeForbidden {
		t.Fatalf("a verified user under --org-creation admins: %v", err)
	}
	if o, err := svc.Create(ctx, root.ID, orgs.CreateInput{Name: "Shop", Slug: "shop"}); err != nil || o.Role != orgs.Owner {
		t.Fatalf("an administrator: %+v %v", o, err)
	}
	if _, err := e.orgs.Create(ctx, ann, orgs.CreateInput{Name: "Mine", Slug: "mine"}); err != nil {
		t.Fatalf("a verified user under --org-creation users: %v", err)
	}
}

// Through an API key an owner hands out no authority: no role change, no
// invitation above member, no new role (a leaked orgs:write key must not
// make anyone an owner); an invitation as member still goes out, and the
// same owner signed in may do all of it.
func TestAPIKeyHandsOutNoRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann, bob := e.user(t, "ann", true), e.user(t, "bob", true)
	o := e.shop(t) // ann owner, bob admin
	viaKey := auth.WithAPIKey(context.Background(), "key-of-ann")
	for name, try := range map[string]func() error{
		"role change": func() error { _, err := e.orgs.SetRole(viaKey, ann, o.ID, bob, orgs.Owner); return err },
		"demotion":    func() error { _, err := e.orgs.SetRole(viaKey, ann, o.ID, bob, orgs.Member); return err },
		"invitation as owner": func() error {
			_, err := e.orgs.Invite(viaKey, ann, o.ID, orgs.InviteInput{Email: "eve@example.net", Role: orgs.Owner})
			return err
		},
		"new role": func() error {
			_, err := e.orgs.CreateRole(viaKey, ann, o.ID, orgs.RoleInput{Name: "auditor", Permissions: []string{"books:read"}})
			return err
		},
	} {
		if err := try(); auth.ErrorCode(err) != auth.CodeForbidden {
			t.Errorf("%s through a key: %v, want forbidden", name, err)
		}
	}
	if m, err := e.orgs.Members(context.Background(), ann, o.ID); err != nil || len(m) != 2 || roleOf(m, bob) != orgs.Admin {
		t.Fatalf("members after the refusals: %+v, %v", m, err)
	}
	if invs, err := e.orgs.Invitations(context.Background(), ann, o.ID); err != nil || len(invs) != 0 {
		t.Fatalf("invitations after the refusals: %+v, %v", invs, err)
	}
	if _, err := e.orgs.Invite(viaKey, ann, o.ID, orgs.InviteInput{Email: "cy@example.net"}); err != nil {
		t.Fatalf("an invitation as member through a key: %v", err)
	}
	if _, err := e.orgs.SetRole(context.Background(), ann, o.ID, bob, orgs.Member); err != nil {
		t.Fatalf("the owner signed in: %v", err)
	}
}

func roleOf(ms []orgs.Membership, userID string) string {
	for _, m := range ms {
		if m.UserID == userID {
			return m.Role
		}
	}
	return ""
}
