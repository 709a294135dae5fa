package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// recoveryLimits lifts the link limits too, for tests about other things.
func recoveryLimits(recovery, account ratelimit.Limit) func(*app.Config) {
	return func(c *app.Config) {
		l := *c.Limits
		l.Recovery, l.RecoveryAccount = recovery, account
		c.Limits = &l
	}
}

var noRecoveryLimits = recoveryLimits(ratelimit.Per(1e6, time.Second, 1e6), ratelimit.Per(1e6, time.Second, 1e6))

// mails waits for the background recovery requests, then takes every mail
// from the outbox (as the worker would).
func (h *harness) mails(t *testing.T) []outbox.Message {
	t.Helper()
	h.app.Services.Recovery.WaitRecovery()
	claimed, err := h.store.ClaimMail(context.Background(), "test", h.clock.Now(), time.Minute, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []outbox.Message
	for _, m := range claimed {
		out = append(out, m.Message)
	}
	return out
}

var csrfValue = regexp.MustCompile(`name="csrf_token" value="[^"]*"`)

var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+\?token=[A-Za-z0-9_-]+`)

// linkTo returns the one link mailed to addr among msgs.
func linkTo(t *testing.T, msgs []outbox.Message, addr, path string) string {
	t.Helper()
	var links []string
	for _, m := range msgs {
		if m.To == addr {
			for _, l := range linkPattern.FindAllString(m.Text, -1) {
				if strings.Contains(l, path+"?token=") && !slices.Contains(links, l) {
					links = append(links, l)
				}
			}
		}
	}
	if len(links) != 1 {
		t.Fatalf("%d %s links mailed to %s: %v (mails %+v)", len(links), path, addr, links, msgs)
	}
	return links[0]
}

func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

func TestForgotPasswordAnswersAlikeForEveryAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noRecoveryLimits)
	ctx := context.Background()
	if _, err := h.app.Services.Accounts.CreateUser(ctx, auth.RegisterInput{Username: "noaddress", Password: "a long enough password"}, auth.RoleUser); err != nil {
		t.Fatal(err)
	}
	h.do(req{method: "PATCH", path: "/users/ID:bob", as: "admin", body: `{"disabled":true}`})
	var ref *httptest.ResponseRecorder
	for _, body := range []string{
		`{"email":"ann@example.com"}`, `{"email":"nobody@example.com"}`, `{"username":"noaddress"}`,
		`{"identifier":"bob@example.com"}`, `{"identifier":"ROOT"}`,
	} {
		w := h.do(req{method: "POST", path: "/password/forgot", body: body})
		if ref == nil {
			ref = w
		}
		if w.Code != 202 || w.Body.String() != ref.Body.String() || !sameHeaders(w, ref) {
			t.Fatalf("%s: %d %s %v; first answer %d %s %v", body, w.Code, w.Body, w.Header(), ref.Code, ref.Body, ref.Header())
		}
	}
	msgs := h.mails(t)
	var to []string
	for _, m := range msgs {
		to = append(to, m.To)
	}
	slices.Sort(to)
	if !slices.Equal(to, []string{"admin@example.com", "ann@example.com"}) { // not the disabled bob, nor the unknown ones
		t.Fatalf("mailed %v", to)
	}
	for _, body := range []string{`{}`, `{"email":"  "}`, `not json`} {
		if w := h.do(req{method: "POST", path: "/password/forgot", body: body}); w.Code != 400 {
			t.Fatalf("%s: %d", body, w.Code)
		}
	}
}

func TestForgedHostChangesNothingInTheMail(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noRecoveryLimits, func(c *app.Config) { c.PublicURL = "https://id.example.com" })
	h.do(req{method: "POST", path: "/password/forgot", body: `{"email":"ann@example.com"}`,
		headers: map[string]string{"Host": "evil.example", "X-Forwarded-Host": "evil.example", "Origin": "https://evil.example",
			"Forwarded": "host=evil.example"}})
	msgs := h.mails(t)
	link := linkTo(t, msgs, "ann@example.com", "/reset-password")
	if !strings.HasPrefix(link, "https://id.example.com/reset-password?token=") {
		t.Fatalf("link %s", link)
	}
	for _, m := range msgs {
		if strings.Contains(m.Text+m.HTML+m.Subject, "evil") {
			t.Fatalf("the forged host reached the mail: %+v", m)
		}
	}
}

func TestLinkPagesSpendNothingOnGet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noRecoveryLimits)
	h.do(req{method: "POST", path: "/password/forgot", body: `{"email":"ann@example.com"}`})
	h.do(req{method: "POST", path: "/email/verify/request", as: "bob"})
	if w := h.do(req{method: "POST", path: "/me/email", as: "admin", body: `{"email":"root@new.example","password":"` + adminPassword + `"}`}); w.Code != 202 {
		t.Fatalf("email change: %d %s", w.Code, w.Body)
	}
	msgs := h.mails(t)
	reset := tokenOf(t, linkTo(t, msgs, "ann@example.com", "/reset-password"))
	verify := tokenOf(t, linkTo(t, msgs, "bob@example.com", "/verify-email"))
	confirm := tokenOf(t, linkTo(t, msgs, "root@new.example", "/confirm-email"))
	for path, tok := range map[string]string{"/reset-password": reset, "/verify-email": verify, "/confirm-email": confirm} {
		for range 3 { // a mail scanner, a preview, the user
			w := h.do(req{method: "GET", path: path + "?token=" + tok, headers: map[string]string{"Accept": "text/html"}})
			if w.Code != 200 || w.Header().Get("Referrer-Policy") != "no-referrer" || !strings.Contains(w.Body.String(), `value="`+tok+`"`) ||
				!strings.Contains(w.Body.String(), `method="post" action="`+path+`"`) {
				t.Fatalf("GET %s: %d %v %s", path, w.Code, w.Header(), w.Body)
			}
		}
	}
	if w := h.do(req{method: "POST", path: "/password/reset", body: `{"token":"` + reset + `","new_password":"ann's brand new phrase"}`}); w.Code != 204 {
		t.Fatalf("reset after the GETs: %d %s", w.Code, w.Body)
	}
	w := h.do(req{method: "POST", path: "/email/verify", body: `{"token":"` + verify + `"}`})
	if w.Code != 200 || field(decode(t, w), "user", "email_verified") != true {
		t.Fatalf("verify after the GETs: %d %s", w.Code, w.Body)
	}
	// Through the page's own form, as a browser posts it.
	form := url.Values{"token": {confirm}}.Encode()
	w = h.do(req{method: "POST", path: "/confirm-email", body: form, contentType: "application/x-www-form-urlencoded"})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Your email address is changed and verified.") {
		t.Fatalf("confirm after the GETs: %d %s", w.Code, w.Body)
	}
	w = h.do(req{method: "GET", path: "/users/ID:admin", as: "admin"})
	if field(decode(t, w), "user", "email") != "root@new.example" || field(decode(t, w), "user", "email_verified") != true {
		t.Fatalf("admin after the change: %s", w.Body)
	}
	// Spent now: the pages and the API give one answer.
	for _, r := range []req{
		{method: "POST", path: "/password/reset", body: `{"token":"` + reset + `","new_password":"another new phrase"}`},
		{method: "POST", path: "/email/verify", body: `{"token":"` + verify + `"}`},
		{method: "POST", path: "/email/change/confirm", body: `{"token":"` + confirm + `"}`},
	} {
		if w := h.do(r); w.Code != 400 || errorCode(w) != "invalid_code" {
			t.Fatalf("%s spent twice: %d %s", r.path, w.Code, w.Body)
		}
	}
	w = h.do(req{method: "POST", path: "/reset-password", body: url.Values{"token": {reset}, "new_password": {"x long new phrase"},
		"confirm_password": {"x long new phrase"}}.Encode(), contentType: "application/x-www-form-urlencoded"})
	if w.Code != 400 || !strings.Contains(w.Body.String(), "The link is not valid") || !strings.Contains(w.Body.String(), `href="/forgot-password"`) {
		t.Fatalf("reset page with a spent link: %d %s", w.Code, w.Body)
	}
}

func TestResetEndsEverySessionAndDoesNotLogIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noRecoveryLimits)
	h.do(req{method: "POST", path: "/password/forgot", body: `{"email":"ann@example.com"}`})
	tok := tokenOf(t, linkTo(t, h.mails(t), "ann@example.com", "/reset-password"))
	// The page's form: two different passwords spend nothing.
	w := h.do(req{method: "POST", path: "/reset-password", body: url.Values{"token": {tok}, "new_password": {"ann's brand new phrase"},
		"confirm_password": {"something else"}}.Encode(), contentType: "application/x-www-form-urlencoded"})
	if w.Code != 400 || !strings.Contains(w.Body.String(), `id="confirm-error">The two passwords differ.`) {
		t.Fatalf("mismatch: %d %s", w.Code, w.Body)
	}
	w = h.do(req{method: "POST", path: "/password/reset", body: `{"token":"` + tok + `","new_password":"password"}`})
	if w.Code != 400 || errorCode(w) != "weak_password" {
		t.Fatalf("weak: %d %s", w.Code, w.Body)
	}
	w = h.do(req{method: "POST", path: "/reset-password", body: url.Values{"token": {tok}, "new_password": {"ann's brand new phrase"},
		"confirm_password": {"ann's brand new phrase"}}.Encode(), contentType: "application/x-www-form-urlencoded"})
	if w.Code != 303 || w.Header().Get("Location") != "/login?reset=1" || len(w.Header().Values("Set-Cookie")) == 0 {
		t.Fatalf("reset form: %d %v", w.Code, w.Header())
	}
	if w := h.do(req{method: "GET", path: "/me", as: "ann"}); w.Code != 401 {
		t.Fatalf("the old session still works: %d", w.Code)
	}
	if w := h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"` + annPassword + `"}`}); w.Code != 401 {
		t.Fatalf("old password: %d", w.Code)
	}
	if w := h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"ann's brand new phrase"}`}); w.Code != 200 {
		t.Fatalf("new password: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "GET", path: "/me", as: "bob"}); w.Code != 200 {
		t.Fatalf("another user's session ended: %d", w.Code)
	}
	// A notice went to the address.
	msgs := h.mails(t)
	if len(msgs) != 1 || msgs[0].To != "ann@example.com" || !strings.Contains(strings.ToLower(msgs[0].Subject), "password") {
		t.Fatalf("notice %+v", msgs)
	}
}

func TestRequireVerifiedEmailOnEveryLogin(t *testing.T) {
	t.Parallel()
	// The harness logs its users in first; then the server restarts
	// requiring verified addresses, on the same database.
	var cfg app.Config
	h := newHarness(t, noRecoveryLimits, func(c *app.Config) { cfg = *c })
	cfg.RequireVerifiedEmail = true
	a, err := app.New(context.Background(), cfg, h.store)
	if err != nil {
		t.Fatal(err)
	}
	h.app = a
	for name, r := range map[string]req{
		"json":  {method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"` + annPassword + `"}`},
		"basic": {method: "POST", path: "/login", headers: basic("ann", annPassword)},
		"alias": {method: "POST", path: "/set-jwt", body: `{"username":"ann","password":"` + annPassword + `"}`},
	} {
		if w := h.do(r); w.Code != 403 || errorCode(w) != "email_not_verified" {
			t.Fatalf("%s: %d %s", name, w.Code, w.Body)
		}
	}
	// A wrong password says only that.
	if w := h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"wrong one"}`}); w.Code != 401 {
		t.Fatalf("wrong password: %d", w.Code)
	}
	form := url.Values{"identifier": {"ann@example.com"}, "password": {annPassword}}.Encode()
	w := h.do(req{method: "POST", path: "/login", body: form, contentType: "application/x-www-form-urlencoded"})
	if w.Code != 403 || len(w.Header().Values("Set-Cookie")) > 1 || !strings.Contains(w.Body.String(), `action="/verify-email/resend"`) ||
		!strings.Contains(w.Body.String(), "Send the link again") {
		t.Fatalf("form login: %d %v %s", w.Code, w.Header(), w.Body)
	}
	// "Send the link again" needs no session and answers alike for anyone.
	resend := func(ident string) *httptest.ResponseRecorder {
		return h.do(req{method: "POST", path: "/verify-email/resend", body: url.Values{"identifier": {ident}}.Encode(),
			contentType: "application/x-www-form-urlencoded"})
	}
	known, unknown := resend("ann@example.com"), resend("nobody@example.com")
	page := func(w *httptest.ResponseRecorder, ident string) string { // the page without its CSRF token and the name typed
		return csrfValue.ReplaceAllString(strings.ReplaceAll(w.Body.String(), ident, "X"), "")
	}
	if known.Code != 200 || unknown.Code != 200 || !strings.Contains(known.Body.String(), "a new verification link is on its way") ||
		page(known, "ann@example.com") != page(unknown, "nobody@example.com") {
		t.Fatalf("resend answers differ:\n%s\n%s", known.Body, unknown.Body)
	}
	tok := tokenOf(t, linkTo(t, h.mails(t), "ann@example.com", "/verify-email"))
	if w := h.do(req{method: "POST", path: "/email/verify", as: "bob", body: `{"token":"` + tok + `"}`}); w.Code != 400 || errorCode(w) != "invalid_code" {
		t.Fatalf("another user's link: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "POST", path: "/email/verify", body: `{"token":"` + tok + `"}`}); w.Code != 200 {
		t.Fatalf("verify: %d %s", w.Code, w.Body)
	}
	w = h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"` + annPassword + `"}`})
	if w.Code != 200 || field(decode(t, w), "user", "email_verified") != true {
		t.Fatalf("after verifying: %d %s", w.Code, w.Body)
	}
}

func TestRecoveryLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, recoveryLimits(ratelimit.Per(3, time.Hour, 3), ratelimit.Per(2, time.Hour, 2)))
	for i := range 3 {
		ident := []string{"ann@example.com", "ann", "ANN@example.com"}[i]
		if w := h.do(req{method: "POST", path: "/password/forgot", body: `{"identifier":"` + ident + `"}`}); w.Code != 202 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	// The address is over its limit: refused openly, whatever the account.
	w := h.do(req{method: "POST", path: "/password/forgot", body: `{"email":"nobody@example.com"}`})
	if w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("over the address limit: %d %v", w.Code, w.Header())
	}
	// The account is over its limit: the third request mailed nothing.
	if msgs := h.mails(t); len(msgs) != 2 {
		t.Fatalf("%d mails, want 2 (per-account limit)", len(msgs))
	}
	// Never a lock: ann logs in as ever.
	if w := h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"` + annPassword + `"}`}); w.Code != 200 {
		t.Fatalf("login after the limits: %d", w.Code)
	}
}

func TestAdminPasswordResetRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noRecoveryLimits)
	if w := h.do(req{method: "POST", path: "/users/ID:ann/password-reset", as: "bob"}); w.Code != 403 {
		t.Fatalf("non-admin: %d", w.Code)
	}
	if w := h.do(req{method: "POST", path: "/users/nope/password-reset", as: "admin"}); w.Code != 404 {
		t.Fatalf("unknown user: %d", w.Code)
	}
	if w := h.do(req{method: "POST", path: "/users/ID:ann/password-reset", as: "admin"}); w.Code != 202 {
		t.Fatalf("admin: %d %s", w.Code, w.Body)
	}
	linkTo(t, h.mails(t), "ann@example.com", "/reset-password")
	if w := h.do(req{method: "GET", path: "/audit?event=password_reset_requested", as: "admin"}); !strings.Contains(w.Body.String(), "by an administrator") {
		t.Fatalf("audit: %s", w.Body)
	}
}

func TestChangeEmailRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noRecoveryLimits)
	for body, code := range map[string]string{
		`{"email":"not an address","password":"` + annPassword + `"}`:    "invalid_request",
		`{"email":"ann@[127.0.0.1]","password":"` + annPassword + `"}`:   "invalid_request",
		`{"email":"ann%x@example.com","password":"` + annPassword + `"}`: "invalid_request",
		`{"email":"ann@new.example","password":"wrong"}`:                 "invalid_credentials",
		`{"email":"ANN@example.com","password":"` + annPassword + `"}`:   "invalid_request",
	} {
		if w := h.do(req{method: "POST", path: "/me/email", as: "ann", body: body}); errorCode(w) != code {
			t.Fatalf("%s: %d %s, want %s", body, w.Code, w.Body, code)
		}
	}
	if w := h.do(req{method: "POST", path: "/me/email", as: "ann", body: `{"email":"bob@example.com","password":"` + annPassword + `"}`}); w.Code != 202 {
		t.Fatalf("a taken address is not told at request time: %d %s", w.Code, w.Body)
	}
	msgs := h.mails(t)
	tok := tokenOf(t, linkTo(t, msgs, "bob@example.com", "/confirm-email"))
	notice := false
	for _, m := range msgs {
		notice = notice || (m.To == "ann@example.com" && strings.Contains(m.Text, "bob@example.com"))
	}
	if !notice {
		t.Fatalf("no notice to the old address: %+v", msgs)
	}
	if w := h.do(req{method: "POST", path: "/email/change/confirm", body: `{"token":"` + tok + `"}`}); w.Code != 409 || errorCode(w) != "already_exists" {
		t.Fatalf("taken at confirmation: %d %s", w.Code, w.Body)
	}
}

func TestRecoveryFormsAndLinkGuessingAreGuarded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noRecoveryLimits, func(c *app.Config) {
		l := *c.Limits
		l.Login = ratelimit.Per(3, time.Hour, 3) // the per-address bucket every secret check shares
		c.Limits = &l
	})
	form := "application/x-www-form-urlencoded"
	cross := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
	for _, r := range []req{
		{method: "POST", path: "/forgot-password", body: "identifier=ann%40example.com", contentType: form, headers: cross},
		{method: "POST", path: "/reset-password", body: "token=x&new_password=a+long+password&confirm_password=a+long+password", contentType: form, headers: cross},
		{method: "POST", path: "/verify-email/resend", body: "identifier=ann", contentType: form, headers: cross},
		{method: "POST", path: "/verify-email", body: "token=x", contentType: form, headers: cross},
		{method: "POST", path: "/confirm-email", body: "token=x", contentType: form, headers: cross},
		{method: "POST", path: "/dashboard/email", as: "ann", carrier: "cookie", body: "email=a%40b.example&password=x", contentType: form},
		{method: "POST", path: "/dashboard/verify", as: "ann", carrier: "cookie", body: "", contentType: form},
	} {
		if w := h.do(r); w.Code != 403 {
			t.Fatalf("%s from another origin or without its CSRF token: %d %s", r.path, w.Code, w.Body)
		}
	}
	if msgs := h.mails(t); len(msgs) != 0 {
		t.Fatalf("a refused form mailed %+v", msgs)
	}
	for i := range 4 {
		w := h.do(req{method: "POST", path: "/email/verify", body: `{"token":"` + strings.Repeat("A", 43) + `"}`})
		want := 400
		if i == 3 {
			want = 429
		}
		if w.Code != want {
			t.Fatalf("guess %d: %d %s, want %d", i+1, w.Code, w.Body, want)
		}
	}
	refused := h.do(req{method: "GET", path: "/audit?event=recovery_link_refused", as: "admin"})
	if n := strings.Count(refused.Body.String(), `"event":"recovery_link_refused"`); n != 3 {
		t.Fatalf("%d refused links audited, want 3: %s", n, refused.Body)
	}
}

// Every way to a session passes the one --require-verified-email rule, not
// only the password logins above: a passkey, a login's second step (TOTP or
// passkey, from a first step before the rule or after it), and an OpenID
// client's code from a browser session signed in before the rule. Cy has no
// address (so she may enrol factors) and so can never be verified.
func TestRequireVerifiedEmailOnPasskeySecondStepAndOIDC(t *testing.T) {
	t.Parallel()
	var cfg app.Config
	f := newOIDC(t, func(c *app.Config) { cfg = *c })
	ctx := context.Background()
	const cyPassword = "cy's unverified phrase"
	cy, err := f.app.Services.Accounts.CreateUser(ctx, auth.RegisterInput{Username: "cyd", Password: cyPassword}, auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	f.users["cy"] = cy
	if f.tokens["cy"], err = f.app.Services.Sessions.Login(ctx, auth.LoginInput{Identifier: "cyd", Password: cyPassword}); err != nil {
		t.Fatal(err)
	}
	secret, _ := f.enrol("cy")
	a := f.authenticator()
	if w := f.addPasskey("cy", a, "Key"); w.Code != 201 {
		t.Fatalf("passkey: %d %s", w.Code, w.Body)
	}
	firstStep := func() string {
		t.Helper()
		w := f.do(req{method: "POST", path: "/login", body: `{"username":"cyd","password":"` + cyPassword + `"}`})
		if w.Code != 401 || errorCode(w) != "mfa_required" {
			t.Fatalf("first step: %d %s", w.Code, w.Body)
		}
		return decode(t, w)["mfa_token"].(string)
	}
	before := firstStep()

	cfg.RequireVerifiedEmail = true
	if f.app, err = app.New(ctx, cfg, f.store); err != nil {
		t.Fatal(err)
	}
	refused := func(name string, w *httptest.ResponseRecorder) {
		t.Helper()
		if w.Code != 403 || errorCode(w) != "email_not_verified" {
			t.Fatalf("%s: %d %s, want 403 email_not_verified", name, w.Code, w.Body)
		}
	}
	refused("passkey", f.passkeyLogin(a))
	refused("second step begun before the rule", f.loginMFA(before, "code", f.code(secret, 0)))
	f.clock.Advance(30 * time.Second)
	refused("second step", f.loginMFA(firstStep(), "code", f.code(secret, 0)))
	token := firstStep()
	w := f.do(req{method: "POST", path: "/login/mfa/passkey/begin", body: `{"mfa_token":"` + token + `"}`})
	if w.Code != 200 {
		t.Fatalf("mfa passkey begin: %d %s", w.Code, w.Body)
	}
	cred, _ := a.Get(w.Body.Bytes())
	body, _ := json.Marshal(map[string]any{"mfa_token": token, "credential": json.RawMessage(cred)})
	refused("passkey second step", f.do(req{method: "POST", path: "/login/mfa/passkey/finish", body: string(body)}))

	// OpenID Connect: without a session, /authorize sends the browser to the
	// login page, which refuses; Ann's session from before the rule gets a
	// code that buys no tokens.
	verifier, challenge := pkcePair("v")
	q := authParams(f.spa, spaRedirect, challenge)
	w = f.authorize("", q)
	next := redirectQuery(t, w, "/login?").Get("next")
	if w.Code != 302 || !strings.HasPrefix(next, "/authorize?") {
		t.Fatalf("authorize without a session: %d %v", w.Code, w.Header())
	}
	form := url.Values{"identifier": {"ann@example.com"}, "password": {annPassword}, "next": {next}}.Encode()
	w = f.do(req{method: "POST", path: "/login", body: form, contentType: "application/x-www-form-urlencoded"})
	if w.Code != 403 || w.Header().Get("Location") != "" || strings.Contains(strings.Join(w.Header().Values("Set-Cookie"), ";"), "__Host-access=") {
		t.Fatalf("login page on the way to /authorize: %d %v", w.Code, w.Header())
	}
	code := f.codeFor("ann", q)
	w = f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spaRedirect},
		"code_verifier": {verifier}, "client_id": {f.spa.ID}}, "")
	if w.Code != 400 || oauthError(w) != "invalid_grant" {
		t.Fatalf("code of an unverified account: %d %s", w.Code, w.Body)
	}
	if w := f.do(req{method: "GET", path: "/audit?event=login_failed", as: "admin"}); !strings.Contains(w.Body.String(), "email not verified") {
		t.Fatalf("refusals not audited: %s", w.Body)
	}
}
