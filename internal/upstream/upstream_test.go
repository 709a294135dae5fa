package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/upstream"
	"github.com/gatehouse-auth/gatehouse/internal/upstream/upstreamtest"
	"github.com/pquerna/otp/totp"
)

// harness is the upstream service over auth's services (a test database,
// a manual clock) and the two fake providers, configured as "idp" (oidc)
// and "gh" (github).
type harness struct {
	*authtest.Env
	svc *upstream.Service
	idp *upstreamtest.OIDC
	gh  *upstreamtest.GitHub
}

var key, _ = seal.Generate()

func newHarness(t *testing.T, timeout time.Duration) *harness {
	t.Helper()
	e := authtest.New(t, authtest.WithDeps(func(d *auth.Deps) { d.Sealer = key }))
	h := &harness{Env: e, idp: upstreamtest.NewOIDC(t), gh: upstreamtest.NewGitHub(t)}
	h.idp.Now = e.Clock.Now
	h.svc = upstream.New(upstream.Config{PublicURL: "http://gatehouse.test", Now: e.Clock.Now, Timeout: timeout},
		upstream.Deps{Store: e.Store, Sessions: e.Sessions, Accounts: e.Accounts, Sealer: key})
	h.addProvider(t, upstream.ProviderInput{ID: "idp", Issuer: ptr(h.idp.URL), ClientID: ptr(h.idp.ClientID), ClientSecret: h.idp.ClientSecret,
		Name: ptr("Example ID")})
	h.addProvider(t, upstream.ProviderInput{ID: "gh", Kind: upstream.KindGitHub, ClientID: ptr(h.gh.ClientID), ClientSecret: h.gh.ClientSecret,
		AuthURL: ptr(h.gh.URL + "/login/oauth/authorize"), TokenURL: ptr(h.gh.URL + "/login/oauth/access_token"), APIURL: ptr(h.gh.URL + "/api")})
	return h
}

// verify checks an access token as an API would.
func (h *harness) verify(token string) (*guard.Claims, error) {
	g, err := guard.New(guard.Config{Issuer: authtest.Issuer, Audience: authtest.Issuer, Algorithms: []string{"EdDSA"},
		Keys: h.Keys, Revocations: h.Revocations, Now: h.Clock.Now})
	if err != nil {
		return nil, err
	}
	return g.Verify(token)
}

func ptr[T any](v T) *T { return &v }

func (h *harness) addProvider(t *testing.T, in upstream.ProviderInput) {
	t.Helper()
	if _, err := h.svc.AddProvider(context.Background(), in); err != nil {
		t.Fatalf("add provider %s: %v", in.ID, err)
	}
}

// noRedirect is the browser's way to a provider: one request, whose
// redirect back to Gatehouse's callback is read, not followed.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// start begins a login at provider id and returns the flow cookie and the
// callback's query as the provider answers it.
func (h *harness) start(t *testing.T, id string, in upstream.BeginInput) (cookie string, callback url.Values) {
	t.Helper()
	in.ProviderID = id
	target, cookie, err := h.svc.Begin(context.Background(), in)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	resp, err := noRedirect.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || !strings.HasPrefix(loc.String(), "http://gatehouse.test/login/"+id+"/callback") {
		t.Fatalf("provider answered %d %v %v", resp.StatusCode, loc, err)
	}
	return cookie, loc.Query()
}

// login runs a whole login at provider id.
func (h *harness) login(t *testing.T, id string) (*upstream.Result, error) {
	t.Helper()
	cookie, q := h.start(t, id, upstream.BeginInput{Next: "/books"})
	return h.svc.Finish(context.Background(), upstream.FinishInput{ProviderID: id, Query: q, Cookie: cookie})
}

func (h *harness) users(t *testing.T) int {
	t.Helper()
	list, _, err := h.Accounts.ListUsers(context.Background(), auth.UserQuery{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func (h *harness) audited(t *testing.T, event, detail string) bool {
	t.Helper()
	events, _, err := h.Accounts.AuditEvents(context.Background(), auth.AuditFilter{Event: event, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if strings.Contains(e.Detail, detail) {
			return true
		}
	}
	return false
}

func (h *harness) register(t *testing.T, email string) auth.User {
	t.Helper()
	u, err := h.Accounts.Register(context.Background(), auth.RegisterInput{Email: email, Password: "a long enough passphrase"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUpstreamLoginCreatesAnAccountAndSignsItInAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.idp.SignIn(upstreamtest.User{Subject: "u-1", Email: "Nora@Example.com", EmailVerified: true, Name: "Nora"}, upstreamtest.Bend{})
	res, err := h.login(t, "idp")
	if err != nil {
		t.Fatal(err)
	}
	if res.Tokens == nil || res.Next != "/books" {
		t.Fatalf("result %+v", res)
	}
	u := res.Tokens.User
	if u.Email != "nora@example.com" || !u.EmailVerified || u.Name != "Nora" {
		t.Fatalf("new account %+v", u)
	}
	claims, err := h.verify(res.Tokens.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if claims.IDP != "idp" || strings.Join(claims.AMR, " ") != "fed" {
		t.Fatalf("amr %v idp %q", claims.AMR, claims.IDP)
	}
	again, err := h.login(t, "idp")
	if err != nil || again.Tokens == nil || again.Tokens.User.ID != u.ID {
		t.Fatalf("second login: %+v %v", again, err)
	}
	if h.users(t) != 1 || !h.audited(t, upstream.EventUpstreamLogin, "known identity") || !h.audited(t, upstream.EventIdentityLinked, "new account") {
		t.Fatal("one account, linked once, and two upstream logins audited")
	}
	ids, err := h.svc.Identities(context.Background(), u.ID)
	if err != nil || len(ids) != 1 || ids[0].Provider != "idp" || ids[0].Subject != "u-1" {
		t.Fatalf("identities %+v %v", ids, err)
	}
	// The account has no password: a password login fails as any wrong one does.
	if _, err := h.Sessions.Login(context.Background(), auth.LoginInput{Identifier: "nora@example.com", Password: "anything at all here"}); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
		t.Fatalf("password login of a passwordless account: %v", err)
	}
}

// The attack table: each bad callback ends with one sentence, is audited
// with its reason, and creates or links nothing.
func TestUpstreamCallbackRefusals(t *testing.T) {
	t.Parallel()
	nora := upstreamtest.User{Subject: "u-1", Email: "nora@example.com", EmailVerified: true}
	type row struct {
		name string
		// issuerInResponse: the provider advertises and sends iss (RFC 9207)
		issuerInResponse bool
		bend             upstreamtest.Bend
		tamper           func(t *testing.T, h *harness, cookie string, q url.Values) (string, url.Values) // the callback as it arrives
		want             string                                                                           // the sentence
		reason           string                                                                           // in the audit
		// codeUnused: the code never reached the token endpoint (the mix-up defence)
		codeUnused bool
	}
	sameCallback := func(t *testing.T, h *harness, cookie string, q url.Values) (string, url.Values) { return cookie, q }
	rows := []row{
		{name: "denied consent", bend: upstreamtest.Bend{Deny: true}, tamper: sameCallback,
			want: "The sign-in was cancelled at the provider", reason: "provider answered error access_denied"},
		{name: "missing state", tamper: func(t *testing.T, h *harness, c string, q url.Values) (string, url.Values) {
			q.Del("state")
			return c, q
		},
			want: "expired or was started in another browser", reason: "state or provider differ"},
		{name: "wrong state", tamper: func(t *testing.T, h *harness, c string, q url.Values) (string, url.Values) {
			q.Set("state", "x")
			return c, q
		},
			want: "expired or was started in another browser", reason: "state or provider differ"},
		{name: "no flow cookie", tamper: func(t *testing.T, h *harness, c string, q url.Values) (string, url.Values) { return "", q },
			want: "expired or was started in another browser", reason: "no flow cookie"},
		{name: "another browser's cookie", tamper: func(t *testing.T, h *harness, c string, q url.Values) (string, url.Values) {
			other, _ := h.start(t, "idp", upstream.BeginInput{})
			return other, q
		}, want: "expired or was started in another browser", reason: "state or provider differ"},
		{name: "replayed callback", tamper: func(t *testing.T, h *harness, c string, q url.Values) (string, url.Values) {
			if _, err := h.svc.Finish(context.Background(), upstream.FinishInput{ProviderID: "idp", Query: q, Cookie: c}); err != nil {
				t.Fatalf("first callback: %v", err)
			}
			return c, q
		}, want: "expired or was started in another browser", reason: "callback replayed"},
		{name: "ID token from another issuer", bend: upstreamtest.Bend{Issuer: "https://evil.example"}, tamper: sameCallback,
			want: "could not be verified", reason: "issued by a different provider"},
		{name: "ID token for another audience", bend: upstreamtest.Bend{Audience: "someone-else"}, tamper: sameCallback,
			want: "could not be verified", reason: "expected audience"},
		{name: "wrong nonce", bend: upstreamtest.Bend{Nonce: "replayed-nonce"}, tamper: sameCallback,
			want: "could not be verified", reason: "nonce differs"},
		{name: "expired ID token", bend: upstreamtest.Bend{ExpiredBy: time.Hour}, tamper: sameCallback,
			want: "could not be verified", reason: "ID token expired"},
		{name: "upstream slow", bend: upstreamtest.Bend{Stall: true}, tamper: sameCallback,
			want: "did not answer in time", reason: "provider unreachable"},
		{name: "iss of another issuer", issuerInResponse: true, bend: upstreamtest.Bend{ResponseIssuer: "https://evil.example"},
			tamper: sameCallback, want: "could not be verified", reason: `from issuer "https://evil.example", not the provider's`, codeUnused: true},
		{name: "iss of another issuer from a provider that does not advertise it", bend: upstreamtest.Bend{ResponseIssuer: "https://evil.example"},
			tamper: sameCallback, want: "could not be verified", reason: `from issuer "https://evil.example", not the provider's`, codeUnused: true},
		{name: "iss differing by a trailing slash", issuerInResponse: true, tamper: func(t *testing.T, h *harness, c string, q url.Values) (string, url.Values) {
			q.Set("iss", q.Get("iss")+"/")
			return c, q
		}, want: "could not be verified", reason: "not the provider's", codeUnused: true},
		{name: "a second iss", issuerInResponse: true, tamper: func(t *testing.T, h *harness, c string, q url.Values) (string, url.Values) {
			q.Add("iss", "https://evil.example")
			return c, q
		}, want: "could not be verified", reason: "2 iss parameters", codeUnused: true},
		{name: "no iss from a provider that sends it", issuerInResponse: true, bend: upstreamtest.Bend{NoResponseIssuer: true},
			tamper: sameCallback, want: "could not be verified", reason: "without iss", codeUnused: true},
		{name: "denial with another issuer's iss", bend: upstreamtest.Bend{Deny: true, ResponseIssuer: "https://evil.example"},
			tamper: sameCallback, want: "could not be verified", reason: "not the provider's", codeUnused: true},
		{name: "flow expired", tamper: func(t *testing.T, h *harness, c string, q url.Values) (string, url.Values) {
			h.Clock.Advance(upstream.FlowTTL + time.Second)
			return c, q
		}, want: "expired or was started in another browser", reason: "no flow cookie"},
		{name: "callback at another provider", tamper: func(t *testing.T, h *harness, c string, q url.Values) (string, url.Values) {
			return c, q // finished below at "gh"
		}, want: "expired or was started in another browser", reason: "state or provider differ"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, 300*time.Millisecond)
			h.idp.IssuerInResponse = r.issuerInResponse
			h.idp.SignIn(nora, r.bend)
			cookie, q := h.start(t, "idp", upstream.BeginInput{})
			cookie, q = r.tamper(t, h, cookie, q)
			before := h.users(t)
			provider := "idp"
			if r.name == "callback at another provider" {
				provider = "gh"
			}
			res, err := h.svc.Finish(context.Background(), upstream.FinishInput{ProviderID: provider, Query: q, Cookie: cookie})
			if err == nil || !strings.Contains(auth.ErrorMessage(err), r.want) {
				t.Fatalf("answer %+v, %v; want %q", res, err, r.want)
			}
			if r.name != "replayed callback" && h.users(t) != before {
				t.Fatal("an account was created")
			}
			if r.name != "replayed callback" && before != 0 {
				t.Fatalf("%d accounts before", before)
			}
			if !h.audited(t, upstream.EventUpstreamLoginFailed, r.reason) {
				t.Fatalf("no upstream_login_failed with %q", r.reason)
			}
			if r.codeUnused && h.idp.Issued() != 0 {
				t.Fatal("the code was exchanged before the answer's issuer was checked")
			}
		})
	}
}

// A provider that identifies itself in its authorization responses (RFC
// 9207, as Gatehouse does) signs users in; so does one that does not.
func TestProviderThatNamesItselfInTheCallbackSignsIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.idp.IssuerInResponse = true
	h.idp.SignIn(upstreamtest.User{Subject: "u-9207", Email: "ida@example.com", EmailVerified: true}, upstreamtest.Bend{})
	cookie, q := h.start(t, "idp", upstream.BeginInput{})
	if q.Get("iss") != h.idp.URL {
		t.Fatalf("the provider answered iss %q", q.Get("iss"))
	}
	res, err := h.svc.Finish(context.Background(), upstream.FinishInput{ProviderID: "idp", Query: q, Cookie: cookie})
	if err != nil || res.Tokens == nil {
		t.Fatalf("login: %+v %v", res, err)
	}
}

// A forged callback (another state, sent to the victim's browser by a
// link or an image) is refused and leaves the login in progress alone:
// the flow stays live and its cookie is kept; the provider's own callback
// then signs in, once.
func TestForgedCallbackKeepsTheLoginInProgress(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.idp.SignIn(upstreamtest.User{Subject: "u-f", Email: "fay@example.com", EmailVerified: true}, upstreamtest.Bend{})
	cookie, q := h.start(t, "idp", upstream.BeginInput{Next: "/books"})
	for _, forged := range []upstream.FinishInput{
		{ProviderID: "idp", Query: url.Values{"code": {"attacker-code"}, "state": {"attacker-state"}}, Cookie: cookie},
		{ProviderID: "idp", Query: url.Values{"error": {"access_denied"}}, Cookie: cookie},
		{ProviderID: "gh", Query: q, Cookie: cookie},
	} {
		res, err := h.svc.Finish(context.Background(), forged)
		if err == nil || !strings.Contains(auth.ErrorMessage(err), "expired or was started in another browser") || res == nil || !res.FlowKept {
			t.Fatalf("forged callback %v at %s: %+v %v", forged.Query, forged.ProviderID, res, err)
		}
	}
	res, err := h.svc.Finish(context.Background(), upstream.FinishInput{ProviderID: "idp", Query: q, Cookie: cookie})
	if err != nil || res.Tokens == nil || res.Next != "/books" || res.FlowKept {
		t.Fatalf("the provider's callback after forged ones: %+v %v", res, err)
	}
	res, err = h.svc.Finish(context.Background(), upstream.FinishInput{ProviderID: "idp", Query: q, Cookie: cookie})
	if err == nil || res != nil && res.FlowKept || !h.audited(t, upstream.EventUpstreamLoginFailed, "callback replayed") {
		t.Fatalf("replayed callback: %+v %v", res, err)
	}
}

// GitHub names itself https://github.com/login/oauth in its callbacks: a
// github provider's issuer is its authorization URL without /authorize
// (GitHub Enterprise's likewise). Another iss is refused before the code
// is exchanged; a callback without one (GitHub before RFC 9207) is not.
func TestGitHubCallbackIssIsGitHubsOwn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.gh.SignIn(upstreamtest.GitHubUser{ID: 9207, Login: "iss", Emails: []upstreamtest.GitHubEmail{{Email: "iss@example.com", Primary: true, Verified: true}}})
	cookie, q := h.start(t, "gh", upstream.BeginInput{})
	if q.Get("iss") != h.gh.URL+"/login/oauth" {
		t.Fatalf("the server answered iss %q", q.Get("iss"))
	}
	if res, err := h.svc.Finish(context.Background(), upstream.FinishInput{ProviderID: "gh", Query: q, Cookie: cookie}); err != nil || res.Tokens == nil {
		t.Fatalf("login with GitHub's iss: %+v %v", res, err)
	}
	h.gh.AnswerIssuer("https://github.com/login/oauth") // github.com's, not this server's
	if res, err := h.login(t, "gh"); err == nil || !strings.Contains(auth.ErrorMessage(err), "could not be verified") ||
		!h.audited(t, upstream.EventUpstreamLoginFailed, `from issuer "https://github.com/login/oauth", not the provider's`) {
		t.Fatalf("another GitHub's iss: %+v %v", res, err)
	}
	h.gh.AnswerIssuer("")
	if res, err := h.login(t, "gh"); err != nil || res.Tokens == nil {
		t.Fatalf("login without iss: %+v %v", res, err)
	}
}

func TestUnknownProviderAndDownProviderAreRefusedAtTheStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 300*time.Millisecond)
	_, _, err := h.svc.Begin(context.Background(), upstream.BeginInput{ProviderID: "nope"})
	if auth.ErrorCode(err) != auth.CodeNotFound || !h.audited(t, upstream.EventUpstreamLoginFailed, "unknown provider") {
		t.Fatalf("unknown provider: %v", err)
	}
	// An id from the URL reaches the audit log without its control characters.
	if _, _, err := h.svc.Begin(context.Background(), upstream.BeginInput{ProviderID: "x\nforged: line"}); auth.ErrorCode(err) != auth.CodeNotFound ||
		!h.audited(t, upstream.EventUpstreamLoginFailed, "provider xforged: line: unknown provider") {
		t.Fatalf("unknown provider with a newline: %v", err)
	}
	h.idp.Close() // down
	_, _, err = h.svc.Begin(context.Background(), upstream.BeginInput{ProviderID: "idp"})
	if auth.ErrorCode(err) != auth.CodeUnavailable || !h.audited(t, upstream.EventUpstreamLoginFailed, "provider unreachable") {
		t.Fatalf("provider down: %v", err)
	}
	if err := h.svc.Refuse(context.Background(), "idp", auth.Client{}); err == nil || !h.audited(t, upstream.EventUpstreamLoginFailed, "next is not a local path") {
		t.Fatalf("off-site next: %v", err)
	}
}

func TestUnverifiedUpstreamEmailNeverTakesOverAnAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	victim := h.register(t, "victim@example.com")
	// Even a provider trusted for its emails: the address is not verified there.
	if _, err := h.svc.UpdateProvider(context.Background(), upstream.ProviderInput{ID: "idp", TrustEmail: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	h.idp.SignIn(upstreamtest.User{Subject: "attacker", Email: "victim@example.com", EmailVerified: false}, upstreamtest.Bend{})
	res, err := h.login(t, "idp")
	if err == nil || res.Tokens != nil || res.PendingLink != "" {
		t.Fatalf("takeover: %+v %v", res, err)
	}
	if ids, _ := h.svc.Identities(context.Background(), victim.ID); len(ids) != 0 {
		t.Fatalf("identity linked to the victim: %+v", ids)
	}
	if !h.audited(t, upstream.EventUpstreamLoginFailed, "unverified email matches an account") || h.users(t) != 1 {
		t.Fatal("not audited, or an account was created")
	}
	// The same through GitHub, whose primary address is unverified.
	h.gh.SignIn(upstreamtest.GitHubUser{ID: 99, Login: "mallory", Emails: []upstreamtest.GitHubEmail{
		{Email: "victim@example.com", Primary: true, Verified: false}, {Email: "mallory@example.net", Verified: true}}})
	if _, err := h.svc.UpdateProvider(context.Background(), upstream.ProviderInput{ID: "gh", TrustEmail: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if res, err := h.login(t, "gh"); err == nil || res.Tokens != nil {
		t.Fatalf("takeover through GitHub: %+v %v", res, err)
	}
	if ids, _ := h.svc.Identities(context.Background(), victim.ID); len(ids) != 0 || h.users(t) != 1 {
		t.Fatalf("identity linked to the victim: %+v", ids)
	}
}

func TestVerifiedEmailLinksOnlyAfterTheAccountSignsIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	ann := h.register(t, "ann@example.com")
	other := h.register(t, "other@example.com")
	h.idp.SignIn(upstreamtest.User{Subject: "ann-upstream", Email: "ann@example.com", EmailVerified: true}, upstreamtest.Bend{})
	res, err := h.login(t, "idp")
	if !errors.Is(err, upstream.ErrLinkPending) || res.PendingLink == "" || res.Tokens != nil {
		t.Fatalf("collision: %+v %v", res, err)
	}
	if ids, _ := h.svc.Identities(context.Background(), ann.ID); len(ids) != 0 {
		t.Fatal("linked before the account signed in")
	}
	// Another account signing in with that browser links nothing.
	if h.svc.CompletePendingLink(context.Background(), res.PendingLink, other.ID, auth.Client{}) {
		t.Fatal("linked to another account")
	}
	// A pending link that waited too long links nothing.
	h.Clock.Advance(upstream.PendingLinkTTL + time.Second)
	if h.svc.CompletePendingLink(context.Background(), res.PendingLink, ann.ID, auth.Client{}) {
		t.Fatal("an expired pending link linked")
	}
	res, _ = h.login(t, "idp")
	if !h.svc.CompletePendingLink(context.Background(), res.PendingLink, ann.ID, auth.Client{}) {
		t.Fatal("the account's own sign-in did not link")
	}
	again, err := h.login(t, "idp")
	if err != nil || again.Tokens == nil || again.Tokens.User.ID != ann.ID {
		t.Fatalf("login after the link: %+v %v", again, err)
	}
	if !h.audited(t, upstream.EventIdentityLinked, "after the account signed in") {
		t.Fatal("link not audited")
	}
}

func TestTrustEmailLinksAVerifiedEmailAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	ann := h.register(t, "ann@example.com")
	if _, err := h.svc.UpdateProvider(context.Background(), upstream.ProviderInput{ID: "idp", TrustEmail: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	h.idp.SignIn(upstreamtest.User{Subject: "ann-upstream", Email: "ann@example.com", EmailVerified: true}, upstreamtest.Bend{})
	res, err := h.login(t, "idp")
	if err != nil || res.Tokens == nil || res.Tokens.User.ID != ann.ID {
		t.Fatalf("trusted link: %+v %v", res, err)
	}
	if !h.audited(t, upstream.EventIdentityLinked, "trusted provider") {
		t.Fatal("link not audited")
	}
}

func TestUnlinkingTheLastWayInIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.idp.SignIn(upstreamtest.User{Subject: "solo", Email: "solo@example.com", EmailVerified: true}, upstreamtest.Bend{})
	res, err := h.login(t, "idp")
	if err != nil {
		t.Fatal(err)
	}
	u := res.Tokens.User
	ids, _ := h.svc.Identities(context.Background(), u.ID)
	if err := h.svc.Unlink(context.Background(), u.ID, ids[0].ID); auth.ErrorCode(err) != auth.CodeLastSignInMethod {
		t.Fatalf("unlink the only way in: %v", err)
	}
	// Link GitHub from the signed-in session; then the first can go.
	h.gh.SignIn(upstreamtest.GitHubUser{ID: 7, Login: "solo", Emails: []upstreamtest.GitHubEmail{{Email: "solo@example.com", Primary: true, Verified: true}}})
	cookie, q := h.start(t, "gh", upstream.BeginInput{LinkUserID: u.ID, LinkSessionID: res.Tokens.SessionID})
	linked, err := h.svc.Finish(context.Background(), upstream.FinishInput{ProviderID: "gh", Query: q, Cookie: cookie})
	if err != nil || !linked.Linked {
		t.Fatalf("link from the session: %+v %v", linked, err)
	}
	if err := h.svc.Unlink(context.Background(), u.ID, ids[0].ID); err != nil {
		t.Fatalf("unlink with another identity left: %v", err)
	}
	if err := h.svc.Unlink(context.Background(), "someone-else", ids[0].ID); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("unlink of another's identity: %v", err)
	}
	if !h.audited(t, upstream.EventIdentityUnlinked, "provider idp") {
		t.Fatal("unlink not audited")
	}
}

func TestLinkFromASessionNeedsARecentSignIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.register(t, "ann@example.com")
	tok, err := h.Sessions.Login(context.Background(), auth.LoginInput{Identifier: "ann@example.com", Password: "a long enough passphrase"})
	if err != nil {
		t.Fatal(err)
	}
	h.Clock.Advance(time.Hour)
	_, _, err = h.svc.Begin(context.Background(), upstream.BeginInput{ProviderID: "idp", LinkUserID: tok.User.ID, LinkSessionID: tok.SessionID})
	if auth.ErrorCode(err) != auth.CodeReauthenticationRequired {
		t.Fatalf("stale session: %v", err)
	}
}

func TestGitHubIdentityFromUserAndPrimaryEmail(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.gh.SignIn(upstreamtest.GitHubUser{ID: 583231, Login: "octocat", Name: "The Octocat", Emails: []upstreamtest.GitHubEmail{
		{Email: "old@example.com", Verified: true}, {Email: "octo@example.com", Primary: true, Verified: true}}})
	res, err := h.login(t, "gh")
	if err != nil || res.Tokens == nil {
		t.Fatalf("%+v %v", res, err)
	}
	if u := res.Tokens.User; u.Email != "octo@example.com" || !u.EmailVerified || u.Name != "The Octocat" {
		t.Fatalf("account %+v", u)
	}
	// A user whose primary address is unverified gets an account whose
	// address is not verified either.
	h.gh.SignIn(upstreamtest.GitHubUser{ID: 2, Login: "newbie", Emails: []upstreamtest.GitHubEmail{{Email: "newbie@example.com", Primary: true}}})
	res, err = h.login(t, "gh")
	if err != nil || res.Tokens == nil || res.Tokens.User.EmailVerified || res.Tokens.User.Name != "newbie" {
		t.Fatalf("unverified primary: %+v %v", res, err)
	}
}

func TestSecondFactorIsStillAskedAfterAnUpstreamLogin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	ctx := context.Background()
	h.idp.SignIn(upstreamtest.User{Subject: "mfa", Email: "mfa@example.com", EmailVerified: true}, upstreamtest.Bend{})
	res, err := h.login(t, "idp")
	if err != nil {
		t.Fatal(err)
	}
	u, sess := res.Tokens.User, res.Tokens.SessionID
	en, err := h.Factors.EnrolTOTP(ctx, u.ID, sess)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(en.Secret, h.Clock.Now())
	if _, err := h.Factors.ConfirmTOTP(ctx, u.ID, sess, code, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	h.Clock.Advance(time.Minute)
	res, err = h.login(t, "idp")
	if err != nil || res.Tokens != nil || res.MFA == nil {
		t.Fatalf("second factor not asked: %+v %v", res, err)
	}
	code, _ = totp.GenerateCode(en.Secret, h.Clock.Now())
	tok, err := h.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: res.MFA.Token, Code: code})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := h.verify(tok.AccessToken)
	if err != nil || claims.IDP != "idp" || strings.Join(claims.AMR, " ") != "fed otp mfa" {
		t.Fatalf("claims %+v %v", claims, err)
	}
}

func TestKeptTokensAreRefreshedAndOthersAreNotKept(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	ctx := context.Background()
	h.idp.SignIn(upstreamtest.User{Subject: "k", Email: "k@example.com", EmailVerified: true}, upstreamtest.Bend{})
	res, err := h.login(t, "idp")
	if err != nil {
		t.Fatal(err)
	}
	u := res.Tokens.User
	ids, _ := h.svc.Identities(ctx, u.ID)
	if _, err := h.svc.Token(ctx, u.ID, ids[0].ID); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("a token without --keep-tokens: %v", err)
	}
	if _, err := h.svc.UpdateProvider(ctx, upstream.ProviderInput{ID: "idp", KeepTokens: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.login(t, "idp"); err != nil {
		t.Fatal(err)
	}
	first, err := h.svc.Token(ctx, u.ID, ids[0].ID)
	if err != nil || !strings.HasPrefix(first.AccessToken, "at-") {
		t.Fatalf("kept token: %+v %v", first, err)
	}
	issued := h.idp.Issued()
	h.Clock.Advance(10 * time.Minute) // past expires_in
	fresh, err := h.svc.Token(ctx, u.ID, ids[0].ID)
	if err != nil || fresh.AccessToken == first.AccessToken || h.idp.Issued() != issued+1 {
		t.Fatalf("refreshed token: %+v %v", fresh, err)
	}
	if again, err := h.svc.Token(ctx, u.ID, ids[0].ID); err != nil || again.AccessToken != fresh.AccessToken {
		t.Fatalf("the refreshed token was not kept: %+v %v", again, err)
	}
	if _, err := h.svc.Token(ctx, "someone-else", ids[0].ID); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("another's identity: %v", err)
	}
}

func TestProviderSettingsAreChecked(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	for _, in := range []upstream.ProviderInput{
		{ID: "plain", Issuer: ptr("http://idp.example"), ClientID: ptr("c"), ClientSecret: "s"}, // http off loopback
		{ID: "mfa", Issuer: ptr("https://idp.example"), ClientID: ptr("c"), ClientSecret: "s"},  // a login route's word
		{ID: "Bad_ID", Issuer: ptr("https://idp.example"), ClientID: ptr("c"), ClientSecret: "s"},
		{ID: "nosecret", Issuer: ptr("https://idp.example"), ClientID: ptr("c")},
		{ID: "query", Issuer: ptr("https://idp.example/?a=b"), ClientID: ptr("c"), ClientSecret: "s"},
		{ID: "gitlab", Kind: "saml", ClientID: ptr("c"), ClientSecret: "s"},
	} {
		if _, err := h.svc.AddProvider(context.Background(), in); auth.ErrorCode(err) != auth.CodeInvalidRequest {
			t.Errorf("%s: %v", in.ID, err)
		}
	}
	p, err := h.svc.AddProvider(context.Background(), upstream.ProviderInput{ID: "microsoft", ClientID: ptr("c"), ClientSecret: "s"})
	if err != nil || p.Issuer != "https://login.microsoftonline.com/common/v2.0" || p.Kind != upstream.KindOIDC || p.Name != "Microsoft" {
		t.Fatalf("preset: %+v %v", p, err)
	}
	if string(p.SealedSecret) == "s" || len(p.SealedSecret) < 16 {
		t.Fatal("the secret is not sealed")
	}
}

// A multi-tenant issuer (Microsoft's common endpoint): discovery names
// ".../{tenantid}/v2.0", and each ID token's iss must be that with its own
// tid; a token whose iss names another tenant than its tid is refused.
func TestMultiTenantIssuerIsCheckedPerTenant(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	ms := upstreamtest.NewOIDC(t)
	ms.Now, ms.Tenant = h.Clock.Now, "9188040d-6c67-4c5b-b112-36a304b66dad"
	h.addProvider(t, upstream.ProviderInput{ID: "ms", Issuer: ptr(ms.URL + "/common/v2.0"), ClientID: ptr(ms.ClientID), ClientSecret: ms.ClientSecret})
	ms.SignIn(upstreamtest.User{Subject: "ms-1", Email: "max@example.com", EmailVerified: true}, upstreamtest.Bend{})
	if res, err := h.login(t, "ms"); err != nil || res.Tokens == nil {
		t.Fatalf("tenant login: %+v %v", res, err)
	}
	ms.SignIn(upstreamtest.User{Subject: "ms-2", Email: "eve@example.com", EmailVerified: true}, upstreamtest.Bend{TenantClaim: "another-tenant"})
	if _, err := h.login(t, "ms"); err == nil || !h.audited(t, upstream.EventUpstreamLoginFailed, "does not match its tenant") {
		t.Fatalf("a token of another tenant: %v", err)
	}
	ms.SignIn(upstreamtest.User{Subject: "ms-3", Email: "eve@example.com", EmailVerified: true}, upstreamtest.Bend{Issuer: "https://evil.example/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"})
	if _, err := h.login(t, "ms"); err == nil {
		t.Fatal("a token from another host's tenant was accepted")
	}
}

// A multi-tenant provider that names itself in its callbacks (RFC 9207)
// names the user's tenant there: iss must be the template on its own host,
// and the very issuer of the ID token that follows.
func TestMultiTenantCallbackIssIsTheTokensTenant(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	ms := upstreamtest.NewOIDC(t)
	ms.Now, ms.Tenant, ms.IssuerInResponse = h.Clock.Now, "9188040d-6c67-4c5b-b112-36a304b66dad", true
	h.addProvider(t, upstream.ProviderInput{ID: "ms", Issuer: ptr(ms.URL + "/common/v2.0"), ClientID: ptr(ms.ClientID), ClientSecret: ms.ClientSecret})
	ms.SignIn(upstreamtest.User{Subject: "ms-1", Email: "max@example.com", EmailVerified: true}, upstreamtest.Bend{})
	if res, err := h.login(t, "ms"); err != nil || res.Tokens == nil {
		t.Fatalf("tenant login: %+v %v", res, err)
	}
	for _, tc := range []struct {
		bend   upstreamtest.Bend
		reason string
	}{
		{upstreamtest.Bend{ResponseIssuer: ms.URL + "/another-tenant/v2.0"}, "is not the ID token's issuer"},
		{upstreamtest.Bend{ResponseIssuer: "https://evil.example/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"}, "not the provider's"},
		{upstreamtest.Bend{ResponseIssuer: ms.URL + "/{tenantid}/v2.0"}, "not the provider's"},
		{upstreamtest.Bend{ResponseIssuer: ms.URL + "/a/b/v2.0"}, "not the provider's"},
		{upstreamtest.Bend{NoResponseIssuer: true}, "without iss"},
	} {
		ms.SignIn(upstreamtest.User{Subject: "ms-2", Email: "eve@example.com", EmailVerified: true}, tc.bend)
		if res, err := h.login(t, "ms"); err == nil || !strings.Contains(auth.ErrorMessage(err), "could not be verified") ||
			!h.audited(t, upstream.EventUpstreamLoginFailed, tc.reason) {
			t.Fatalf("iss %q: %+v %v", tc.bend.ResponseIssuer, res, err)
		}
	}
	if h.users(t) != 1 {
		t.Fatal("a refused callback made an account")
	}
}

func TestDisabledAccountGetsNoSessionThroughAProvider(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	admin, err := h.Accounts.CreateUser(context.Background(), auth.RegisterInput{Email: "root@example.com", Password: "a long enough passphrase"}, auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	h.idp.SignIn(upstreamtest.User{Subject: "d", Email: "d@example.com", EmailVerified: true}, upstreamtest.Bend{})
	res, err := h.login(t, "idp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Accounts.AdminUpdate(context.Background(), admin.ID, res.Tokens.User.ID, nil, ptr(true)); err != nil {
		t.Fatal(err)
	}
	res, err = h.login(t, "idp")
	if err == nil || res.Tokens != nil || res.MFA != nil || auth.ErrorMessage(err) != "This account cannot sign in." {
		t.Fatalf("disabled account: %+v %v", res, err)
	}
	if !h.audited(t, upstream.EventUpstreamLoginFailed, "session refused") {
		t.Fatal("not audited")
	}
}

func TestLinkFromASessionThatEndedLinksNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	ctx := context.Background()
	h.register(t, "ann@example.com")
	tok, err := h.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: "a long enough passphrase"})
	if err != nil {
		t.Fatal(err)
	}
	h.idp.SignIn(upstreamtest.User{Subject: "ann-up", Email: "ann@example.com", EmailVerified: true}, upstreamtest.Bend{})
	cookie, q := h.start(t, "idp", upstream.BeginInput{LinkUserID: tok.User.ID, LinkSessionID: tok.SessionID})
	if err := h.Sessions.Logout(ctx, auth.LogoutInput{SessionID: tok.SessionID, UserID: tok.User.ID}); err != nil {
		t.Fatal(err)
	}
	if res, err := h.svc.Finish(ctx, upstream.FinishInput{ProviderID: "idp", Query: q, Cookie: cookie}); err == nil || res != nil && res.Linked {
		t.Fatalf("link after logout: %+v %v", res, err)
	}
	if ids, _ := h.svc.Identities(ctx, tok.User.ID); len(ids) != 0 || !h.audited(t, upstream.EventUpstreamLoginFailed, "session that asked for the link has ended") {
		t.Fatalf("linked after the session ended: %+v", ids)
	}
}

// reauthHarness is an account made through the oidc provider (nora,
// subject u-1) whose session's sign-in is an hour old: too old for a
// sensitive action.
func reauthHarness(t *testing.T) (*harness, *auth.Tokens) {
	t.Helper()
	h := newHarness(t, 0)
	h.idp.SignIn(upstreamtest.User{Subject: "u-1", Email: "nora@example.com", EmailVerified: true}, upstreamtest.Bend{})
	res, err := h.login(t, "idp")
	if err != nil || res.Tokens == nil {
		t.Fatalf("sign-up: %+v %v", res, err)
	}
	h.Clock.Advance(time.Hour)
	if err := h.Sessions.RequireRecentAuth(context.Background(), res.Tokens.SessionID); auth.ErrorCode(err) != auth.CodeReauthenticationRequired {
		t.Fatalf("an hour-old sign-in: %v", err)
	}
	return h, res.Tokens
}

// signedIn is the browser's session at a callback.
func signedIn(userID, sessionID string) func() (string, string) {
	return func() (string, string) { return userID, sessionID }
}

func TestReauthenticationThroughTheLinkedProviderRenewsTheSession(t *testing.T) {
	t.Parallel()
	h, tok := reauthHarness(t)
	ctx := context.Background()
	if got := h.svc.ReauthProviders(ctx, tok.User.ID); len(got) != 1 || got[0].ID != "idp" || got[0].Name != "Example ID" {
		t.Fatalf("providers offered for re-authentication: %+v", got)
	}
	cookie, q := h.start(t, "idp", upstream.BeginInput{ReauthUserID: tok.User.ID, ReauthSessionID: tok.SessionID, Next: "/security?done=reauth"})
	if a := h.idp.LastAuthorization(); a.Get("prompt") != "login" || a.Get("max_age") != "0" {
		t.Fatalf("the provider was not asked for a fresh sign-in: prompt %q max_age %q", a.Get("prompt"), a.Get("max_age"))
	}
	res, err := h.svc.Finish(ctx, upstream.FinishInput{ProviderID: "idp", Query: q, Cookie: cookie, SignedIn: signedIn(tok.User.ID, tok.SessionID)})
	if err != nil || !res.Reauthenticated || res.Tokens == nil || res.Tokens.SessionID != tok.SessionID || res.Next != "/security?done=reauth" {
		t.Fatalf("re-authentication: %+v %v", res, err)
	}
	if err := h.Sessions.RequireRecentAuth(ctx, tok.SessionID); err != nil {
		t.Fatalf("the session's sign-in is still old: %v", err)
	}
	claims, err := h.verify(res.Tokens.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if !claims.AuthTime.Equal(h.Clock.Now().Truncate(time.Second)) || strings.Join(claims.AMR, " ") != "fed" {
		t.Fatalf("auth_time %v amr %v", claims.AuthTime, claims.AMR)
	}
	if h.users(t) != 1 || !h.audited(t, auth.EventReauthenticated, "session "+tok.SessionID+" with fed through provider idp") {
		t.Fatal("re-authentication not audited, or an account made")
	}
}

// Each refused re-authentication is audited with its reason and leaves the
// session's sign-in as old as it was.
func TestProviderReauthenticationRefusals(t *testing.T) {
	t.Parallel()
	nora := upstreamtest.User{Subject: "u-1", Email: "nora@example.com", EmailVerified: true}
	sameSession := func(t *testing.T, h *harness, tok *auth.Tokens) (string, string) { return tok.User.ID, tok.SessionID }
	rows := []struct {
		name string
		// provider sets who the provider signs in and how it answers.
		provider func(t *testing.T, h *harness)
		// callback is the browser's session when the callback arrives.
		callback func(t *testing.T, h *harness, tok *auth.Tokens) (userID, sessionID string)
		reason   string
	}{
		{name: "another account's identity", provider: func(t *testing.T, h *harness) {
			h.idp.SignIn(upstreamtest.User{Subject: "u-2", Email: "eve@example.com", EmailVerified: true}, upstreamtest.Bend{})
			if _, err := h.login(t, "idp"); err != nil {
				t.Fatal(err)
			}
		}, callback: sameSession, reason: "subject u-2 is not an identity of this account"},
		{name: "an identity linked to no account", provider: func(t *testing.T, h *harness) {
			h.idp.SignIn(upstreamtest.User{Subject: "u-3", Email: "nora@example.com", EmailVerified: true}, upstreamtest.Bend{})
		}, callback: sameSession, reason: "subject u-3 is not an identity of this account"},
		{name: "a provider that keeps the earlier sign-in", provider: func(t *testing.T, h *harness) {
			h.idp.SignIn(nora, upstreamtest.Bend{IgnorePrompt: true})
		}, callback: sameSession, reason: "before the re-authentication began"},
		{name: "an auth_time in the future", provider: func(t *testing.T, h *harness) {
			h.idp.SignIn(nora, upstreamtest.Bend{AuthTimeAhead: time.Hour})
		}, callback: sameSession, reason: "is in the future"},
		{name: "no auth_time", provider: func(t *testing.T, h *harness) {
			h.idp.SignIn(nora, upstreamtest.Bend{NoAuthTime: true})
		}, callback: sameSession, reason: "ID token without auth_time"},
		{name: "another session of the user at the callback", provider: func(*testing.T, *harness) {},
			callback: func(t *testing.T, h *harness, tok *auth.Tokens) (string, string) {
				other, err := h.login(t, "idp")
				if err != nil {
					t.Fatal(err)
				}
				return tok.User.ID, other.Tokens.SessionID
			}, reason: "started by another session"},
		{name: "no session at the callback", provider: func(*testing.T, *harness) {},
			callback: func(*testing.T, *harness, *auth.Tokens) (string, string) { return "", "" }, reason: "started by another session"},
		{name: "the session ended", provider: func(*testing.T, *harness) {},
			callback: func(t *testing.T, h *harness, tok *auth.Tokens) (string, string) {
				if err := h.Sessions.Logout(context.Background(), auth.LogoutInput{SessionID: tok.SessionID, UserID: tok.User.ID}); err != nil {
					t.Fatal(err)
				}
				return tok.User.ID, tok.SessionID
			}, reason: "the session that asked for the re-authentication has ended"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			h, tok := reauthHarness(t)
			ctx := context.Background()
			row.provider(t, h)
			cookie, q := h.start(t, "idp", upstream.BeginInput{ReauthUserID: tok.User.ID, ReauthSessionID: tok.SessionID})
			userID, sessionID := row.callback(t, h, tok)
			res, err := h.svc.Finish(ctx, upstream.FinishInput{ProviderID: "idp", Query: q, Cookie: cookie, SignedIn: signedIn(userID, sessionID)})
			if err == nil || res != nil && (res.Reauthenticated || res.Tokens != nil) {
				t.Fatalf("refused re-authentication answered %+v %v", res, err)
			}
			if err := h.Sessions.RequireRecentAuth(ctx, tok.SessionID); auth.ErrorCode(err) != auth.CodeReauthenticationRequired {
				t.Fatalf("the session's sign-in was renewed: %v", err)
			}
			if !h.audited(t, upstream.EventUpstreamLoginFailed, row.reason) || h.audited(t, auth.EventReauthenticated, "") {
				t.Fatalf("refusal not audited with %q, or a re-authentication audited", row.reason)
			}
		})
	}
}

func TestProviderReauthenticationIsOfferedOnlyWhereItProvesAFreshSignIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	ctx := context.Background()
	// GitHub cannot be asked for a fresh sign-in, nor says when it was.
	h.gh.SignIn(upstreamtest.GitHubUser{ID: 7, Login: "octo", Emails: []upstreamtest.GitHubEmail{{Email: "octo@example.com", Primary: true, Verified: true}}})
	res, err := h.login(t, "gh")
	if err != nil || res.Tokens == nil {
		t.Fatalf("%+v %v", res, err)
	}
	tok := res.Tokens
	if got := h.svc.ReauthProviders(ctx, tok.User.ID); len(got) != 0 {
		t.Fatalf("offered %+v", got)
	}
	if _, _, err := h.svc.Begin(ctx, upstream.BeginInput{ProviderID: "gh", ReauthUserID: tok.User.ID, ReauthSessionID: tok.SessionID}); auth.ErrorCode(err) != auth.CodeInvalidRequest ||
		!h.audited(t, upstream.EventUpstreamLoginFailed, "cannot prove a fresh sign-in") {
		t.Fatalf("re-authentication through github: %v", err)
	}
	// A provider the account has no identity at proves nothing about it.
	if _, _, err := h.svc.Begin(ctx, upstream.BeginInput{ProviderID: "idp", ReauthUserID: tok.User.ID, ReauthSessionID: tok.SessionID}); auth.ErrorCode(err) != auth.CodeInvalidRequest ||
		!h.audited(t, upstream.EventUpstreamLoginFailed, "no identity of the account at this provider") {
		t.Fatalf("re-authentication through an unlinked provider: %v", err)
	}
	// Nor does another user's session.
	if _, _, err := h.svc.Begin(ctx, upstream.BeginInput{ProviderID: "gh", ReauthUserID: "someone-else", ReauthSessionID: tok.SessionID}); auth.ErrorCode(err) != auth.CodeNotFound ||
		!h.audited(t, upstream.EventUpstreamLoginFailed, "re-authentication refused: not a live session of this user") {
		t.Fatalf("re-authentication of another's session: %v", err)
	}
}

// An account with no password and no second factor is told how it can
// confirm a sensitive action; one with a password, to use it.
func TestReauthenticationRequiredSaysWhatThisAccountCanUse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	ctx := context.Background()
	h.gh.SignIn(upstreamtest.GitHubUser{ID: 7, Login: "octo", Emails: []upstreamtest.GitHubEmail{{Email: "octo@example.com", Primary: true, Verified: true}}})
	res, err := h.login(t, "gh")
	if err != nil || res.Tokens == nil {
		t.Fatalf("%+v %v", res, err)
	}
	h.register(t, "ann@example.com")
	ann, err := h.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: "a long enough passphrase"})
	if err != nil {
		t.Fatal(err)
	}
	h.Clock.Advance(time.Hour)
	_, err = h.Factors.EnrolTOTP(ctx, res.Tokens.User.ID, res.Tokens.SessionID)
	if msg := auth.ErrorMessage(err); auth.ErrorCode(err) != auth.CodeReauthenticationRequired ||
		!strings.Contains(msg, "no password") || !strings.Contains(msg, "Forgot password") || strings.Contains(msg, "POST /me/reauthenticate with") {
		t.Fatalf("passwordless account: %v", err)
	}
	_, err = h.Factors.EnrolTOTP(ctx, ann.User.ID, ann.SessionID)
	if msg := auth.ErrorMessage(err); auth.ErrorCode(err) != auth.CodeReauthenticationRequired || !strings.Contains(msg, "POST /me/reauthenticate") ||
		strings.Contains(msg, "Forgot password") {
		t.Fatalf("password account: %v", err)
	}
}

// A form that starts a flow is redirected to the provider's authorization
// endpoint: the page lists its origin in form-action, which browsers check
// a form's redirects against.
func TestFormOriginsAreTheAuthorizationEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	got := h.svc.FormOrigins(context.Background(), "idp", "gh", "idp", "unknown")
	if strings.Join(got, " ") != h.idp.URL+" "+h.gh.URL {
		t.Fatalf("form origins %v", got)
	}
}

// An account made through a provider has no password to confirm a deletion
// or an email change with: once it has re-authenticated through the
// provider, those need no password. Before, they are refused as for any
// account (a recent sign-in first).
func TestPasswordlessAccountConfirmsWithItsRecentSignIn(t *testing.T) {
	t.Parallel()
	h, tok := reauthHarness(t)
	ctx := context.Background()
	change := auth.ChangeEmailInput{UserID: tok.User.ID, SessionID: tok.SessionID, Email: "nora@new.example"}
	if err := h.Recovery.RequestEmailChange(ctx, change); auth.ErrorCode(err) != auth.CodeReauthenticationRequired {
		t.Fatalf("email change from an hour-old sign-in: %v", err)
	}
	if err := h.Accounts.DeleteAccount(ctx, tok.User.ID, tok.SessionID, "", auth.Client{}); auth.ErrorCode(err) != auth.CodeReauthenticationRequired {
		t.Fatalf("deletion from an hour-old sign-in: %v", err)
	}
	cookie, q := h.start(t, "idp", upstream.BeginInput{ReauthUserID: tok.User.ID, ReauthSessionID: tok.SessionID})
	if res, err := h.svc.Finish(ctx, upstream.FinishInput{ProviderID: "idp", Query: q, Cookie: cookie,
		SignedIn: signedIn(tok.User.ID, tok.SessionID)}); err != nil || !res.Reauthenticated {
		t.Fatalf("re-authentication: %+v %v", res, err)
	}
	// (This harness has no mail templates: the change gets as far as the
	// mail, past the confirmation.)
	if err := h.Recovery.RequestEmailChange(ctx, change); err == nil || !strings.Contains(err.Error(), "no mail templates") {
		t.Fatalf("email change after re-authenticating: %v, want it past the confirmation, at the mail", err)
	}
	if err := h.Accounts.DeleteAccount(ctx, tok.User.ID, tok.SessionID, "", auth.Client{}); err != nil {
		t.Fatalf("deletion after re-authenticating: %v", err)
	}
	if h.users(t) != 0 {
		t.Fatal("the account is still there")
	}
}
