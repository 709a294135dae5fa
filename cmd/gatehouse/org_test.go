package main

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
)

var (
	createdUser = regexp.MustCompile(`created user ([0-9a-f-]{36})`)
	createdOrg  = regexp.MustCompile(`org_id: ([0-9a-f-]{36})`)
)

// cliID runs a command that prints an id matching re and returns the id.
func cliID(t *testing.T, re *regexp.Regexp, stdin string, args ...string) string {
	t.Helper()
	out, code := cliRun(t, stdin, args...)
	m := re.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, out)
	}
	return m[1]
}

func TestOrgCommandsManageOrganizations(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "gatehouse.db")
	if out, code := cliRun(t, "", "migrate", "--db", db); code != 0 {
		t.Fatalf("migrate: %s", out)
	}
	ann := cliID(t, createdUser, "ann's long passphrase\n", "user", "add", "--db", db, "--email", "ann@example.com")
	bob := cliID(t, createdUser, "bob's long passphrase\n", "user", "add", "--db", db, "--email", "bob@example.com")
	org := cliID(t, createdOrg, "", "org", "add", "--db", db, "--name", "Shop", "--slug", "shop", "--owner", ann)
	if out, code := cliRun(t, "", "org", "add", "--db", db, "--name", "Again", "--slug", "shop", "--owner", bob); code != 1 || !strings.Contains(out, "taken") {
		t.Fatalf("a taken slug: exit %d: %s", code, out)
	}
	if out, code := cliRun(t, "", "org", "add", "--db", db, "--name", "Bad", "--slug", "Bad Slug", "--owner", bob); code != 1 || !strings.Contains(out, "slug") {
		t.Fatalf("a bad slug: exit %d: %s", code, out)
	}
	if out, code := cliRun(t, "", "org", "add", "--db", db, "--name", "No owner", "--slug", "x"); code != 2 {
		t.Fatalf("no owner: exit %d: %s", code, out)
	}
	if out, code := cliRun(t, "", "org", "member", "add", "--db", db, "--role", "admin", org, bob); code != 0 {
		t.Fatalf("member add: exit %d: %s", code, out)
	}
	if out, code := cliRun(t, "", "org", "member", "add", "--db", db, org, bob); code != 1 || !strings.Contains(out, "member already") {
		t.Fatalf("member add twice: exit %d: %s", code, out)
	}
	out, code := cliRun(t, "", "org", "list", "--db", db)
	if code != 0 || !strings.Contains(out, org) || !strings.Contains(out, "shop") {
		t.Fatalf("list: exit %d: %s", code, out)
	}
	if out, code := cliRun(t, "", "org", "member", "remove", "--db", db, org, ann); code != 1 || !strings.Contains(out, "owner") {
		t.Fatalf("removing the last owner: exit %d: %s", code, out)
	}
	if out, code := cliRun(t, "", "org", "member", "remove", "--db", db, org, bob); code != 0 {
		t.Fatalf("member remove: exit %d: %s", code, out)
	}
	if out, code := cliRun(t, "", "audit", "--db", db, "--event", "org_member_removed"); code != 0 || !strings.Contains(out, bob) {
		t.Fatalf("the removal is audited: %s", out)
	}
}

// hostRewriter sends every request to one instance, whatever the URL's
// host: the remote guard asks the shared issuer's address, which names no
// real host here.
type hostRewriter struct{ host string }

func (h hostRewriter) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Host, r.Host = h.host, h.host
	return http.DefaultTransport.RoundTrip(r)
}

// A member demoted on instance A loses its old claims at a remote guard
// that follows instance B's revocation feed, within the guard's poll
// interval; the test logs how long that took. The next refresh, on B,
// carries the new role.
func TestDemotionReachesARemoteGuardOnAnotherInstance(t *testing.T) {
	redisURL := os.Getenv("GATEHOUSE_TEST_REDIS")
	if redisURL == "" {
		t.Skip("multi-instance test skipped: set GATEHOUSE_TEST_REDIS (and GATEHOUSE_TEST_POSTGRES) to run it")
	}
	db := storetest.PostgresURL(t) // skips without GATEHOUSE_TEST_POSTGRES
	if out, code := cliRun(t, "", "migrate", "--db", db); code != 0 {
		t.Fatalf("migrate: %s", out)
	}
	issuer := "http://orgs-" + strings.ToLower(rand.Text()[:8]) + ".test"
	a := newClient(t, startServer(t, db, "--issuer", issuer, "--redis", redisURL))
	bServer := startServer(t, db, "--issuer", issuer, "--redis", redisURL)
	b := newClient(t, bServer)

	owner := cliID(t, createdUser, "the owner's passphrase\n", "user", "add", "--db", db, "--email", "owner@example.com")
	staff := cliID(t, createdUser, "the staff's passphrase\n", "user", "add", "--db", db, "--email", "staff@example.com")
	org := cliID(t, createdOrg, "", "org", "add", "--db", db, "--name", "Shop", "--slug", "shop", "--owner", owner)
	if out, code := cliRun(t, "", "org", "member", "add", "--db", db, "--role", "admin", org, staff); code != 0 {
		t.Fatalf("member add: %s", out)
	}
	login := func(c *client, email, pw string) (string, string) {
		r := c.json("POST", "/login", `{"email":"`+email+`","password":"`+pw+`","org_id":"`+org+`"}`)
		expect(t, r, 200)
		return r.json(t)["access_token"].(string), r.json(t)["refresh_token"].(string)
	}
	ownerToken, _ := login(a, "owner@example.com", "the owner's passphrase")
	staffToken, staffRefresh := login(b, "staff@example.com", "the staff's passphrase")

	const poll = time.Second
	base, _ := url.Parse(bServer.base)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	remote, err := guard.NewRemote(ctx, guard.RemoteConfig{Issuer: issuer, PollInterval: poll,
		HTTPClient: &http.Client{Timeout: 5 * time.Second, Transport: hostRewriter{base.Host}}})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := remote.Verify(staffToken); err != nil || c.OrgID != org || c.OrgRole != "admin" {
		t.Fatalf("the remote guard before the demotion: %+v %v", c, err)
	}

	expect(t, a.json("PATCH", "/orgs/"+org+"/members/"+staff, `{"role":"member"}`, "Authorization", "Bearer "+ownerToken), 200)
	demoted := time.Now()
	for {
		_, err := remote.Verify(staffToken)
		if err != nil {
			if ge, ok := err.(*guard.Error); !ok || ge.Code != guard.CodeTokenRevoked {
				t.Fatalf("the remote guard refused with %v, want token_revoked", err)
			}
			break
		}
		if time.Since(demoted) > time.Minute { // a liveness bound, not a measure
			t.Fatal("the remote guard never refused the demoted admin's token")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("the remote guard (following instance B, polling every %s) refused the demoted admin's token %s after the demotion on instance A",
		poll, time.Since(demoted).Round(time.Millisecond))
	for _, cl := range []*client{a, b} {
		expect(t, cl.json("GET", "/books", "", "Authorization", "Bearer "+staffToken), 401)
	}

	r := b.json("POST", "/token/refresh", `{"refresh_token":"`+staffRefresh+`"}`)
	expect(t, r, 200)
	c, err := remote.Verify(r.json(t)["access_token"].(string))
	if err != nil || c.OrgRole != "member" {
		t.Fatalf("the refreshed token at the remote guard: %+v %v", c, err)
	}
}
