package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
	"github.com/gatehouse-auth/gatehouse/internal/orgs/orgstest"
)

// addUser makes a verified user name@example.org, signed in, and returns its id.
func (h *harness) addUser(name string) string {
	h.t.Helper()
	ctx := context.Background()
	pw := "the password of " + name
	u, err := h.app.Services.Accounts.CreateUser(ctx, auth.RegisterInput{Email: name + "@example.org", Name: name, Password: pw}, auth.RoleUser)
	if err != nil {
		h.t.Fatal(err)
	}
	if h.tokens[name], err = h.app.Services.Sessions.Login(ctx, auth.LoginInput{Identifier: u.Email, Password: pw}); err != nil {
		h.t.Fatal(err)
	}
	h.users[name] = u
	h.verifyEmail(name)
	return u.ID
}

// enter has who's session act in orgID (POST /token/refresh with org_id)
// and keeps its new tokens.
func (h *harness) enter(who, orgID string) *guard.Claims {
	h.t.Helper()
	w := h.do(req{method: "POST", path: "/token/refresh", body: `{"refresh_token":"` + h.tokens[who].RefreshToken + `","org_id":"` + orgID + `"}`})
	if w.Code != 200 {
		h.t.Fatalf("%s enters %s: %d %s", who, orgID, w.Code, w.Body)
	}
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	h.tokens[who].AccessToken, h.tokens[who].RefreshToken = out.AccessToken, out.RefreshToken
	c, err := h.app.Guard.Verify(out.AccessToken)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// apiRequest is the request that takes c's action through the JSON API.
func apiRequest(f orgstest.Fixture, c orgstest.Case) []req {
	org := "/orgs/" + f.OrgID
	target := f.TargetID(c)
	switch c.Action {
	case "view":
		return []req{{method: "GET", path: org}, {method: "GET", path: org + "/members"}, {method: "GET", path: org + "/roles"}}
	case "rename":
		return []req{{method: "PATCH", path: org, body: `{"name":"Renamed"}`}}
	case "delete":
		return []req{{method: "DELETE", path: org}}
	case "list_invitations":
		return []req{{method: "GET", path: org + "/invitations"}}
	case "create_role":
		return []req{{method: "POST", path: org + "/roles", body: `{"name":"reader","permissions":["books:read"]}`}}
	case "invite":
		return []req{{method: "POST", path: org + "/invitations", body: `{"email":"new@example.net","role":"` + c.Target + `"}`}}
	case "revoke_invitation":
		return []req{{method: "DELETE", path: org + "/invitations/" + f.Invitations[c.Target]}}
	case "reinvite":
		return []req{{method: "POST", path: org + "/invitations", body: `{"email":"` + orgstest.InvitedEmail(c.Target) + `","role":"member"}`}}
	case "remove":
		return []req{{method: "DELETE", path: org + "/members/" + target}}
	}
	return []req{{method: "PATCH", path: org + "/members/" + target, body: `{"role":"` + strings.TrimPrefix(c.Action, "set_role:") + `"}`}}
}

func TestPolicyTableThroughTheAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ids := map[string]string{}
	for _, name := range orgstest.Names {
		ids[name] = h.addUser(name)
	}
	ctx := context.Background()
	cases := orgstest.Cases()
	for i, c := range cases {
		f, err := orgstest.Setup(ctx, h.app.Orgs, ids, fmt.Sprintf("api-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range apiRequest(f, c) {
			r.as = c.Actor
			w := h.do(r)
			got := ""
			if w.Code >= 400 {
				got = errorCode(w)
			}
			if got != c.Want {
				t.Errorf("%s: %s %s → %d %s, want %q", c, r.method, r.path, w.Code, w.Body, c.Want)
			}
		}
		if err := orgstest.Effect(ctx, h.app.Orgs, f, c); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	t.Logf("%d policy cases", len(cases))
}

// A member of another organization, acting in it, tries every route of
// an organization it does not belong to, and of that organization's
// books: each is 404, and nothing changes.
func TestAnotherOrganizationsMemberFindsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	ann, bob := h.users["ann"].ID, h.users["bob"].ID
	shop, err := h.app.Orgs.AdminCreate(ctx, ann, orgs.CreateInput{Name: "Shop", Slug: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.app.Orgs.AdminCreate(ctx, bob, orgs.CreateInput{Name: "Other", Slug: "other"})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := h.app.Orgs.Invite(ctx, ann, shop.ID, orgs.InviteInput{Email: "cy@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	h.enter("ann", shop.ID)
	w := h.do(req{method: "POST", path: "/books", as: "ann", body: `{"title":"Catalogue"}`})
	if w.Code != 201 {
		t.Fatalf("create in the organization: %d %s", w.Code, w.Body)
	}
	book := field(decode(t, w), "book", "id").(string)
	h.enter("bob", other.ID)
	before := h.orgSnapshot(shop.ID)
	o := "/orgs/" + shop.ID
	for _, r := range []req{
		{method: "GET", path: o},
		{method: "PATCH", path: o, body: `{"name":"Mine"}`},
		{method: "DELETE", path: o},
		{method: "GET", path: o + "/members"},
		{method: "PATCH", path: o + "/members/" + ann, body: `{"role":"member"}`},
		{method: "DELETE", path: o + "/members/" + ann},
		{method: "GET", path: o + "/roles"},
		{method: "POST", path: o + "/roles", body: `{"name":"spy","permissions":["books:read"]}`},
		{method: "POST", path: o + "/invitations", body: `{"email":"spy@example.org"}`},
		{method: "GET", path: o + "/invitations"},
		{method: "DELETE", path: o + "/invitations/" + inv.ID},
		{method: "GET", path: "/books/" + book},
		{method: "PATCH", path: "/books/" + book, body: `{"title":"Mine"}`},
		{method: "DELETE", path: "/books/" + book},
	} {
		r.as = "bob"
		if w := h.do(r); w.Code != 404 || errorCode(w) != "not_found" {
			t.Errorf("%s %s by another organization's owner: %d %s", r.method, r.path, w.Code, w.Body)
		}
	}
	// The same through the pages.
	page := "/organizations/" + shop.ID
	formBody := url.Values{"name": {"Mine"}, "slug": {"mine"}, "role": {"member"}, "email": {"spy@example.org"}, "permissions": {"books:read"}, "title": {"Mine"}}.Encode()
	for _, r := range []req{
		{method: "GET", path: page},
		{method: "GET", path: page + "/invitations"},
		{method: "POST", path: page + "/rename", body: formBody},
		{method: "POST", path: page + "/delete", body: formBody},
		{method: "POST", path: page + "/enter", body: formBody},
		{method: "POST", path: page + "/members/" + ann + "/role", body: formBody},
		{method: "POST", path: page + "/members/" + ann + "/remove", body: formBody},
		{method: "POST", path: page + "/roles", body: formBody},
		{method: "POST", path: page + "/invitations", body: formBody},
		{method: "POST", path: page + "/invitations/" + inv.ID + "/revoke", body: formBody},
		{method: "POST", path: "/books/" + book + "/edit", body: formBody},
		{method: "POST", path: "/books/" + book + "/delete", body: formBody},
	} {
		r.as, r.carrier, r.csrf = "bob", "cookie", true
		r.headers = map[string]string{"Accept": "text/html"}
		if r.body != "" {
			r.contentType = "application/x-www-form-urlencoded"
		}
		if w := h.do(r); w.Code != 404 {
			t.Errorf("page %s %s by another organization's owner: %d", r.method, r.path, w.Code)
		}
	}
	if w := h.do(req{method: "POST", path: "/token/refresh", body: `{"refresh_token":"` + h.tokens["bob"].RefreshToken + `","org_id":"` + shop.ID + `"}`}); w.Code != 404 {
		t.Errorf("entering another's organization: %d %s", w.Code, w.Body)
	}
	w = h.do(req{method: "GET", path: "/books", as: "bob"})
	if list := field(decode(t, w), "books").([]any); len(list) != 0 {
		t.Errorf("another organization lists %v", list)
	}
	w = h.do(req{method: "GET", path: "/orgs", as: "bob"})
	if list := field(decode(t, w), "orgs").([]any); len(list) != 1 || list[0].(map[string]any)["slug"] != "other" {
		t.Errorf("bob's organizations: %v", list)
	}
	if after := h.orgSnapshot(shop.ID); after != before {
		t.Errorf("the organization changed:\n%s\n%s", before, after)
	}
	if w := h.do(req{method: "GET", path: "/books/" + book, as: "ann"}); w.Code != 200 {
		t.Errorf("the organization's own member: %d %s", w.Code, w.Body)
	}
}

func (h *harness) orgSnapshot(orgID string) string {
	h.t.Helper()
	ctx := context.Background()
	var b strings.Builder
	o, err := h.store.Org(ctx, orgID)
	fmt.Fprintf(&b, "%+v %v\n", o, err)
	members, _ := h.store.Members(ctx, orgID)
	roles, _ := h.store.CustomRoles(ctx, orgID)
	invs, _ := h.store.Invitations(ctx, orgID)
	fmt.Fprintf(&b, "%+v\n%+v\n%+v\n", members, roles, invs)
	return b.String()
}

// A demoted admin's access token stops at once (token_revoked), its
// session lives on, and the next refresh carries the new role; a removal
// leaves the session in no organization.
func TestDemotionRevokesTheOldClaimsAndRefreshIssuesTheNew(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	ann, bob := h.users["ann"].ID, h.users["bob"].ID
	shop, err := h.app.Orgs.AdminCreate(ctx, ann, orgs.CreateInput{Name: "Shop", Slug: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.app.Orgs.AddMember(ctx, shop.ID, bob, orgs.Admin); err != nil {
		t.Fatal(err)
	}
	if c := h.enter("bob", shop.ID); c.OrgRole != orgs.Admin || !slices.Contains(c.Permissions, "books:write") {
		t.Fatalf("bob's claims: %+v", c)
	}
	if w := h.do(req{method: "POST", path: "/books", as: "bob", body: `{"title":"Catalogue"}`}); w.Code != 201 {
		t.Fatalf("an admin adds a book: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "PATCH", path: "/orgs/" + shop.ID + "/members/" + bob, as: "ann", body: `{"role":"member"}`}); w.Code != 200 {
		t.Fatalf("demote: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "GET", path: "/books", as: "bob"}); w.Code != 401 || errorCode(w) != "token_revoked" {
		t.Fatalf("the admin token after the demotion: %d %s", w.Code, w.Body)
	}
	if c := h.enter("bob", shop.ID); c.OrgRole != orgs.Member || slices.Contains(c.Permissions, "books:write") {
		t.Fatalf("after the refresh: %+v", c)
	}
	if w := h.do(req{method: "POST", path: "/books", as: "bob", body: `{"title":"More"}`}); w.Code != 403 {
		t.Fatalf("a member adds a book: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "DELETE", path: "/orgs/" + shop.ID + "/members/" + ann, as: "ann"}); w.Code != 409 || errorCode(w) != "last_owner" {
		t.Fatalf("the last owner leaves: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "DELETE", path: "/orgs/" + shop.ID + "/members/" + bob, as: "ann"}); w.Code != 204 {
		t.Fatalf("remove: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "GET", path: "/books", as: "bob"}); w.Code != 401 || errorCode(w) != "token_revoked" {
		t.Fatalf("the member token after the removal: %d %s", w.Code, w.Body)
	}
	w := h.do(req{method: "POST", path: "/token/refresh", body: `{"refresh_token":"` + h.tokens["bob"].RefreshToken + `"}`})
	if w.Code != 200 {
		t.Fatalf("refresh after the removal: %d %s", w.Code, w.Body)
	}
	c, err := h.app.Guard.Verify(field(decode(t, w), "access_token").(string))
	if err != nil || c.OrgID != "" {
		t.Fatalf("after the removal: %+v %v", c, err)
	}
}

func TestOrganizationsAPIAnswersTheContract(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.verifyEmail("ann")
	w := h.do(req{method: "POST", path: "/orgs", as: "ann", body: `{"name":"Shop","slug":"shop","id":"x","role":"member"}`})
	if w.Code != 201 || field(decode(t, w), "org", "role") != "owner" || field(decode(t, w), "org", "slug") != "shop" {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	id := field(decode(t, w), "org", "id").(string)
	for _, c := range []struct {
		r    req
		code int
		err  string
	}{
		{req{method: "POST", path: "/orgs", as: "ann", body: `{"name":"Again","slug":"shop"}`}, 409, "already_exists"},
		{req{method: "POST", path: "/orgs", as: "ann", body: `{"name":"Bad","slug":"Bad Slug"}`}, 400, "invalid_request"},
		{req{method: "POST", path: "/orgs", as: "bob", body: `{"name":"Unverified","slug":"bob"}`}, 403, "email_not_verified"},
		{req{method: "POST", path: "/orgs", body: `{"name":"Anonymous","slug":"anon"}`}, 401, "unauthorized"},
		{req{method: "POST", path: "/orgs/" + id + "/roles", as: "ann", body: `{"name":"Bad Name","permissions":["books:read"]}`}, 400, "invalid_request"},
		{req{method: "POST", path: "/orgs/" + id + "/roles", as: "ann", body: `{"name":"editor","permissions":["books"]}`}, 400, "invalid_request"},
		{req{method: "POST", path: "/orgs/" + id + "/invitations", as: "ann", body: `{"email":"ann@example.com"}`}, 409, "already_exists"},
		{req{method: "POST", path: "/invitations/accept", as: "bob", body: `{"token":"nope"}`}, 400, "invalid_code"},
		{req{method: "PATCH", path: "/orgs/" + id + "/members/" + h.users["bob"].ID, as: "ann", body: `{"role":"member"}`}, 404, "not_found"},
		{req{method: "GET", path: "/orgs/00000000-0000-7000-8000-000000000000", as: "ann"}, 404, "not_found"},
		{req{method: "POST", path: "/orgs/" + id + "/roles", as: "ann", carrier: "cookie", body: `{"name":"editor","permissions":["books:read"]}`}, 403, "csrf_failed"},
	} {
		before := h.orgSnapshot(id)
		w := h.do(c.r)
		if w.Code != c.code || errorCode(w) != c.err {
			t.Errorf("%s %s: %d %s, want %d %s", c.r.method, c.r.path, w.Code, w.Body, c.code, c.err)
		}
		if h.orgSnapshot(id) != before {
			t.Errorf("%s %s changed the organization", c.r.method, c.r.path)
		}
	}
	if w := h.do(req{method: "POST", path: "/orgs/" + id + "/roles", as: "ann", body: `{"name":"editor","permissions":["books:write","books:read"]}`}); w.Code != 201 {
		t.Fatalf("create role: %d %s", w.Code, w.Body)
	}
	w = h.do(req{method: "GET", path: "/orgs/" + id + "/roles", as: "ann"})
	if roles := field(decode(t, w), "roles").([]any); len(roles) != 4 || roles[3].(map[string]any)["name"] != "editor" {
		t.Fatalf("roles: %s", w.Body)
	}
	w = h.do(req{method: "GET", path: "/orgs/" + id + "/members", as: "ann"})
	if members := field(decode(t, w), "members").([]any); len(members) != 1 || members[0].(map[string]any)["email"] != "ann@example.com" {
		t.Fatalf("members: %s", w.Body)
	}
	if w := h.do(req{method: "POST", path: "/orgs/" + id + "/invitations", as: "ann", body: `{"email":"cy@example.org","role":"editor"}`}); w.Code != 201 {
		t.Fatalf("invite: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "DELETE", path: "/orgs/" + id, as: "ann"}); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
}

// pageRequest is the request that takes c's action through the pages.
func pageRequest(f orgstest.Fixture, c orgstest.Case) req {
	org := "/organizations/" + f.OrgID
	target := f.TargetID(c)
	form := func(path string, v url.Values) req {
		return req{method: "POST", path: path, body: v.Encode(), contentType: "application/x-www-form-urlencoded"}
	}
	switch c.Action {
	case "view":
		return req{method: "GET", path: org}
	case "rename":
		return form(org+"/rename", url.Values{"name": {"Renamed"}})
	case "delete":
		return form(org+"/delete", nil)
	case "list_invitations":
		return req{method: "GET", path: org + "/invitations"}
	case "create_role":
		return form(org+"/roles", url.Values{"name": {"reader"}, "permissions": {"books:read"}})
	case "invite":
		return form(org+"/invitations", url.Values{"email": {"new@example.net"}, "role": {c.Target}})
	case "revoke_invitation":
		return form(org+"/invitations/"+f.Invitations[c.Target]+"/revoke", nil)
	case "reinvite":
		return form(org+"/invitations", url.Values{"email": {orgstest.InvitedEmail(c.Target)}, "role": {"member"}})
	case "remove":
		return form(org+"/members/"+target+"/remove", nil)
	}
	return form(org+"/members/"+target+"/role", url.Values{"role": {strings.TrimPrefix(c.Action, "set_role:")}})
}

func TestPolicyTableThroughThePages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ids := map[string]string{}
	for _, name := range orgstest.Names {
		ids[name] = h.addUser(name)
	}
	ctx := context.Background()
	cases := orgstest.Cases()
	outcome := map[int]string{http.StatusOK: orgstest.Allow, http.StatusSeeOther: orgstest.Allow,
		http.StatusForbidden: orgstest.Forbidden, http.StatusNotFound: orgstest.NotFound}
	for i, c := range cases {
		f, err := orgstest.Setup(ctx, h.app.Orgs, ids, fmt.Sprintf("page-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		r := pageRequest(f, c)
		r.as, r.carrier, r.csrf = c.Actor, "cookie", true
		r.headers = map[string]string{"Accept": "text/html"}
		w := h.do(r)
		got, known := outcome[w.Code]
		if !known || got != c.Want {
			t.Errorf("%s: %s %s → %d, want %q", c, r.method, r.path, w.Code, c.Want)
		}
		if err := orgstest.Effect(ctx, h.app.Orgs, f, c); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
}

// The invitation page shows an invitation without spending it; its form
// makes the signed-in invited user a member; a used link is refused.
func TestInvitationPageAcceptsForTheInvitedAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	shop, err := h.app.Orgs.AdminCreate(ctx, h.users["ann"].ID, orgs.CreateInput{Name: "Shop", Slug: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	h.addUser("cy")
	if _, err := h.app.Orgs.Invite(ctx, h.users["ann"].ID, shop.ID, orgs.InviteInput{Email: "cy@example.org"}); err != nil {
		t.Fatal(err)
	}
	raw := invitationToken(t, h, "cy@example.org")
	page := req{method: "GET", path: "/invitations/accept?token=" + url.QueryEscape(raw), headers: map[string]string{"Accept": "text/html"}}
	if w := h.do(page); w.Code != 200 || !strings.Contains(w.Body.String(), "sign up") || w.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("the page to a stranger: %d %v %s", w.Code, w.Header(), w.Body)
	}
	page.as, page.carrier = "bob", "cookie"
	if w := h.do(page); w.Code != 200 || !strings.Contains(w.Body.String(), "another address") {
		t.Fatalf("the page to another user: %d %s", w.Code, w.Body)
	}
	page.as = "cy"
	if w := h.do(page); w.Code != 200 || !strings.Contains(w.Body.String(), "Join Shop") {
		t.Fatalf("the page to the invited user: %d %s", w.Code, w.Body)
	}
	accept := req{method: "POST", path: "/invitations/accept", as: "bob", carrier: "cookie", csrf: true,
		body: url.Values{"token": {raw}}.Encode(), contentType: "application/x-www-form-urlencoded"}
	if w := h.do(accept); w.Code != 403 {
		t.Fatalf("another user accepts: %d %s", w.Code, w.Body)
	}
	accept.as = "cy"
	if w := h.do(accept); w.Code != 303 || w.Header().Get("Location") != "/organizations/"+shop.ID {
		t.Fatalf("accept: %d %s", w.Code, w.Body)
	}
	if w := h.do(accept); w.Code != 400 {
		t.Fatalf("accept again: %d %s", w.Code, w.Body)
	}
	if w := h.do(page); w.Code != 400 {
		t.Fatalf("the used link's page: %d", w.Code)
	}
}

// invitationToken reads the token of the last invitation mailed to to.
func invitationToken(t *testing.T, h *harness, to string) string {
	t.Helper()
	mails, err := h.store.ClaimMail(context.Background(), "test", h.clock.Now(), time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	token := ""
	for _, m := range mails {
		if m.Message.To != to {
			continue
		}
		i := strings.Index(m.Message.Text, "/invitations/accept?token=")
		if i < 0 {
			t.Fatalf("no link in %q", m.Message.Text)
		}
		rest := m.Message.Text[i+len("/invitations/accept?token="):]
		token, _ = url.QueryUnescape(strings.Fields(rest)[0])
	}
	if token == "" {
		t.Fatalf("no invitation mailed to %s", to)
	}
	return token
}

// A client granted the organization scope gets, in its ID token and from
// userinfo, the organization the user's browser session acts in, with the
// role there; the consent page names it. Without the scope, nothing of it.
func TestOrganizationScopeSharesTheActiveOrganization(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	ctx := context.Background()
	shop, err := f.app.Orgs.AdminCreate(ctx, f.users["ann"].ID, orgs.CreateInput{Name: "Corner Shop", Slug: "corner"})
	if err != nil {
		t.Fatal(err)
	}
	rp, secret, err := f.app.Clients.Add(ctx, oidc.ClientInput{Name: "Team App", RedirectURIs: []string{rpRedirect},
		Scopes: []string{"openid", "organization"}})
	if err != nil {
		t.Fatal(err)
	}
	f.harness.enter("ann", shop.ID)
	verifier, challenge := pkcePair("org")
	q := authParams(rp, rpRedirect, challenge)
	q.Set("scope", "openid organization")
	w := f.authorize("ann", q)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Corner Shop") {
		t.Fatalf("the consent page does not name the organization: %d %s", w.Code, w.Body)
	}
	got := redirectQuery(t, f.consent("ann", q, "allow"), rpRedirect)
	tw := f.token(codeForm(got.Get("code"), rpRedirect, verifier), rp.ID+":"+secret)
	if tw.Code != 200 {
		t.Fatalf("token: %d %s", tw.Code, tw.Body)
	}
	tokens := decode(t, tw)
	id := f.idClaims(t, tokens["id_token"].(string), "EdDSA")
	if id["org_id"] != shop.ID || id["org_role"] != "owner" || fmt.Sprint(id["permissions"]) != "[books:read books:write]" {
		t.Fatalf("ID token claims %v", id)
	}
	uw := f.do(req{method: "GET", path: "/userinfo", headers: map[string]string{"Authorization": "Bearer " + tokens["access_token"].(string)}})
	if info := decode(t, uw); uw.Code != 200 || info["org_id"] != shop.ID || info["org_role"] != "owner" {
		t.Fatalf("userinfo: %d %s", uw.Code, uw.Body)
	}

	// The same user, the same organization, a client without the scope.
	verifier, challenge = pkcePair("plain")
	q = authParams(f.web, rpRedirect, challenge)
	plain := f.exchange(f.codeFor("ann", q), verifier)
	if id := f.idClaims(t, plain["id_token"].(string), "EdDSA"); id["org_id"] != nil || id["org_role"] != nil {
		t.Fatalf("an ID token without the organization scope: %v", id)
	}
}

func TestAdministratorsManageEveryOrganization(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ann, bob := h.users["ann"].ID, h.users["bob"].ID
	w := h.do(req{method: "POST", path: "/admin/orgs", as: "admin", body: `{"name":"Shop","slug":"shop","owner_id":"` + ann + `"}`})
	if w.Code != 201 {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	id := field(decode(t, w), "org", "id").(string)
	for _, c := range []struct {
		r    req
		code int
	}{
		{req{method: "GET", path: "/admin/orgs", as: "ann"}, 403},
		{req{method: "POST", path: "/admin/orgs", as: "ann", body: `{"name":"Mine","slug":"mine","owner_id":"` + ann + `"}`}, 403},
		{req{method: "POST", path: "/admin/orgs/" + id + "/members", as: "ann", body: `{"user_id":"` + bob + `"}`}, 403},
		{req{method: "POST", path: "/admin/orgs", as: "admin", body: `{"name":"Again","slug":"shop","owner_id":"` + bob + `"}`}, 409},
		{req{method: "POST", path: "/admin/orgs", as: "admin", body: `{"name":"Nobody's","slug":"nobody","owner_id":"` + id + `"}`}, 404},
		{req{method: "POST", path: "/admin/orgs/" + id + "/members", as: "admin", body: `{"user_id":"` + bob + `","role":"admin"}`}, 201},
		{req{method: "POST", path: "/admin/orgs/" + id + "/members", as: "admin", body: `{"user_id":"` + bob + `"}`}, 409},
		{req{method: "DELETE", path: "/admin/orgs/" + id + "/members/" + ann, as: "admin"}, 409},
		{req{method: "DELETE", path: "/admin/orgs/" + id + "/members/" + bob, as: "admin"}, 204},
	} {
		if w := h.do(c.r); w.Code != c.code {
			t.Errorf("%s %s as %s: %d %s, want %d", c.r.method, c.r.path, c.r.as, w.Code, w.Body, c.code)
		}
	}
	w = h.do(req{method: "GET", path: "/admin/orgs", as: "admin"})
	if list := field(decode(t, w), "orgs").([]any); len(list) != 1 {
		t.Fatalf("every organization: %s", w.Body)
	}
	events, _, err := h.app.Services.Accounts.AuditEvents(context.Background(), auth.AuditFilter{Event: orgs.EventMemberRemoved, Limit: 10})
	if err != nil || len(events) != 1 || events[0].ActorID != h.users["admin"].ID {
		t.Fatalf("the removal's audit: %+v %v", events, err)
	}
}
