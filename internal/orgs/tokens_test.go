package orgs_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
)

func (e *env) guard(t testing.TB) *guard.Guard {
	t.Helper()
	g, err := guard.New(guard.Config{Issuer: authtest.Issuer, Audience: authtest.Issuer, Algorithms: []string{"EdDSA"},
		Keys: e.Keys, Revocations: e.Revocations, Now: e.Clock.Now, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (e *env) login(t testing.TB, name string) *auth.Tokens {
	t.Helper()
	tok, err := e.Sessions.Login(context.Background(), auth.LoginInput{Identifier: name + "@example.com", Password: "the password of " + name})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// shop makes an organization owned by ann with bob as admin.
func (e *env) shop(t testing.TB) orgs.MyOrg {
	t.Helper()
	ctx := context.Background()
	o, err := e.orgs.AdminCreate(ctx, e.users["ann"], orgs.CreateInput{Name: "Shop", Slug: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.orgs.AddMember(ctx, o.ID, e.users["bob"], orgs.Admin); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestTokensCarryTheActiveOrganizationAndLoseItsClaimsOnDemotion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, "ann", true)
	e.user(t, "bob", true)
	o := e.shop(t)
	g := e.guard(t)
	ctx := context.Background()

	tok := e.login(t, "bob")
	c, err := g.Verify(tok.AccessToken)
	if err != nil || c.OrgID != "" || c.OrgGrant != "" {
		t.Fatalf("a login without org_id carries %+v, %v", c, err)
	}
	tok, err = e.Sessions.RefreshInOrg(ctx, tok.RefreshToken, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := g.Verify(tok.AccessToken)
	if err != nil || admin.OrgID != o.ID || admin.OrgRole != orgs.Admin || !slices.Contains(admin.Permissions, "books:write") {
		t.Fatalf("claims %+v, %v", admin, err)
	}
	// A plain refresh keeps the organization.
	tok, err = e.Sessions.Refresh(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := g.Verify(tok.AccessToken); c == nil || c.OrgRole != orgs.Admin {
		t.Fatalf("after a refresh: %+v", c)
	}

	if _, err := e.orgs.SetRole(ctx, e.users["ann"], o.ID, e.users["bob"], orgs.Member); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Verify(tok.AccessToken); auth.ErrorCode(err) != guard.CodeTokenRevoked {
		t.Fatalf("the admin token after the demotion: %v, want token_revoked", err)
	}
	tok, err = e.Sessions.Refresh(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatalf("the session lives on: %v", err)
	}
	member, err := g.Verify(tok.AccessToken)
	if err != nil || member.OrgRole != orgs.Member || slices.Contains(member.Permissions, "books:write") || member.OrgGrant == admin.OrgGrant {
		t.Fatalf("after the demotion: %+v, %v", member, err)
	}

	if err := e.orgs.RemoveMember(ctx, e.users["ann"], o.ID, e.users["bob"]); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Verify(tok.AccessToken); auth.ErrorCode(err) != guard.CodeTokenRevoked {
		t.Fatalf("the member token after the removal: %v", err)
	}
	tok, err = e.Sessions.Refresh(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := g.Verify(tok.AccessToken); err != nil || c.OrgID != "" || len(c.Permissions) != 0 {
		t.Fatalf("after the removal: %+v, %v", c, err)
	}
}

func TestRefreshIntoAnOrganizationOfAnotherIsNotFoundAndSpendsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, "ann", true)
	e.user(t, "bob", true)
	e.user(t, "cy", true)
	o := e.shop(t)
	ctx := context.Background()
	tok := e.login(t, "cy")
	for _, orgID := range []string{o.ID, "not-an-id", "0190a0b0-0000-7000-8000-000000000000"} {
		if _, err := e.Sessions.RefreshInOrg(ctx, tok.RefreshToken, orgID); auth.ErrorCode(err) != auth.CodeNotFound {
			t.Fatalf("refresh into %s: %v, want not_found", orgID, err)
		}
	}
	if _, err := e.Sessions.Refresh(ctx, tok.RefreshToken); err != nil {
		t.Fatalf("the refresh token was spent by a refused switch: %v", err)
	}
	if _, err := e.Sessions.Login(ctx, auth.LoginInput{Identifier: "cy@example.com", Password: "the password of cy", OrgID: o.ID}); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("login into another's organization: %v", err)
	}
}

func TestLoginWithAnOrganizationCarriesItsClaims(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, "ann", true)
	e.user(t, "bob", true)
	o := e.shop(t)
	tok, err := e.Sessions.Login(context.Background(), auth.LoginInput{Identifier: "ann@example.com", Password: "the password of ann", OrgID: o.ID})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.guard(t).Verify(tok.AccessToken)
	if err != nil || c.OrgID != o.ID || c.OrgRole != orgs.Owner {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestTheLastOwnerStays(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, "ann", true)
	e.user(t, "bob", true)
	o := e.shop(t)
	ctx := context.Background()
	if _, err := e.orgs.SetRole(ctx, e.users["ann"], o.ID, e.users["ann"], orgs.Admin); auth.ErrorCode(err) != auth.CodeLastOwner {
		t.Fatalf("the last owner demoted itself: %v", err)
	}
	if err := e.orgs.RemoveMember(ctx, e.users["ann"], o.ID, e.users["ann"]); auth.ErrorCode(err) != auth.CodeLastOwner {
		t.Fatalf("the last owner left: %v", err)
	}
	if err := e.orgs.RemoveMember(ctx, "cli", o.ID, e.users["ann"]); auth.ErrorCode(err) != auth.CodeLastOwner {
		t.Fatalf("the command line removed the last owner: %v", err)
	}
	if m, err := e.orgs.Members(ctx, e.users["ann"], o.ID); err != nil || len(m) != 2 || m[0].Role != orgs.Owner {
		t.Fatalf("members %+v %v", m, err)
	}
}

// Two owners step down at once: the organization's lock orders the two
// edits, so the second counts one owner left and refuses.
func TestConcurrentDemotionsLeaveAnOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, "ann", true)
	e.user(t, "bob", true)
	ctx := context.Background()
	for round := 0; round < 10; round++ {
		o, err := e.orgs.AdminCreate(ctx, e.users["ann"], orgs.CreateInput{Name: "Shop", Slug: "shop-" + itoa(round)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.orgs.AddMember(ctx, o.ID, e.users["bob"], orgs.Owner); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, pair := range [][2]string{{"ann", "ann"}, {"bob", "bob"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = e.orgs.SetRole(ctx, e.users[pair[0]], o.ID, e.users[pair[1]], orgs.Member)
			}()
		}
		wg.Wait()
		owners := 0
		for _, m := range membersOf(t, e, o.ID) {
			if m.Role == orgs.Owner {
				owners++
			}
		}
		if owners != 1 {
			t.Fatalf("round %d: %d owners left (errors %v)", round, owners, errs)
		}
		codes := []string{auth.ErrorCode(errs[0]), auth.ErrorCode(errs[1])}
		slices.Sort(codes)
		if codes[0] != "" || codes[1] != auth.CodeLastOwner {
			t.Fatalf("round %d: %v", round, errs)
		}
	}
}

func membersOf(t testing.TB, e *env, orgID string) []orgs.Membership {
	t.Helper()
	m, err := e.Store.Members(context.Background(), orgID)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A spent refresh token replayed with an organization goes to the reuse
// rules like any replay: past the grace, the session ends, whatever
// organization it names, and the answer tells nothing of memberships.
func TestSpentRefreshTokenWithAnOrganizationStillEndsTheSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, "ann", true)
	e.user(t, "bob", true)
	e.user(t, "cy", true)
	o := e.shop(t)
	ctx := context.Background()
	tok := e.login(t, "cy")
	next, err := e.Sessions.Refresh(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(time.Minute) // past the reuse grace
	if _, err := e.Sessions.RefreshInOrg(ctx, tok.RefreshToken, o.ID); auth.ErrorCode(err) != auth.CodeInvalidGrant {
		t.Fatalf("the spent token with an organization: %v, want invalid_grant", err)
	}
	if _, err := e.Sessions.Refresh(ctx, next.RefreshToken); auth.ErrorCode(err) != auth.CodeInvalidGrant {
		t.Fatalf("the session survived the replay: %v", err)
	}
}
