package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

var passwords = map[string]string{"ann": annPassword, "bob": bobPassword, "admin": adminPassword}
var emails = map[string]string{"ann": "ann@example.com", "bob": "bob@example.com", "admin": "admin@example.com"}

// code is the current TOTP code of secret, off steps away.
func (h *harness) code(secret string, off int64) string {
	h.t.Helper()
	c, err := mfa.CodeAt(secret, mfa.Step(h.clock.Now())+off)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// verifyEmail has who's address (if any) verified with a verification
// link, as its owner would: second factors need a verified address. The
// link is stored as if mailed, without a mail, so tests of mail see none.
func (h *harness) verifyEmail(who string) {
	h.t.Helper()
	ctx := context.Background()
	u, err := h.app.Services.Accounts.User(ctx, h.users[who].ID)
	if err != nil {
		h.t.Fatal(err)
	}
	if u.Email == "" || u.EmailVerified {
		return
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	raw := base64.RawURLEncoding.EncodeToString(b)
	hash, _ := auth.ParseLinkToken(raw)
	now := h.clock.Now()
	if err := h.store.IssueLink(ctx, auth.LinkToken{Hash: hash, UserID: u.ID, Purpose: auth.PurposeVerifyEmail, Email: u.Email,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, nil, auth.LinkRequest{}); err != nil {
		h.t.Fatal(err)
	}
	if w := h.do(req{method: "POST", path: "/email/verify", body: `{"token":"` + raw + `"}`}); w.Code != 200 {
		h.t.Fatalf("verify %s: %d %s", u.Email, w.Code, w.Body)
	}
}

// enrol turns TOTP on for who through the API and returns its secret and
// recovery codes; the confirming step is then in the past.
func (h *harness) enrol(who string) (string, []string) {
	h.t.Helper()
	h.verifyEmail(who)
	w := h.do(req{method: "POST", path: "/me/mfa/totp", as: who})
	if w.Code != 200 {
		h.t.Fatalf("enrol %s: %d %s", who, w.Code, w.Body)
	}
	secret := decode(h.t, w)["secret"].(string)
	w = h.do(req{method: "POST", path: "/me/mfa/totp/confirm", as: who, body: `{"code":"` + h.code(secret, 0) + `"}`})
	if w.Code != 200 {
		h.t.Fatalf("confirm %s: %d %s", who, w.Code, w.Body)
	}
	var out struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	h.clock.Advance(mfa.Period)
	return secret, out.RecoveryCodes
}

// mfaToken runs the first step of who's login and returns its mfa_token.
func (h *harness) mfaToken(who string) string {
	h.t.Helper()
	w := h.do(req{method: "POST", path: "/login", body: fmt.Sprintf(`{"email":%q,"password":%q}`, emails[who], passwords[who])})
	m := decode(h.t, w)
	if w.Code != 401 || m["error"] != "mfa_required" || m["mfa_token"] == "" {
		h.t.Fatalf("login of %s: %d %s", who, w.Code, w.Body)
	}
	return m["mfa_token"].(string)
}

func (h *harness) loginMFA(token, field, value string) *httptest.ResponseRecorder {
	h.t.Helper()
	return h.do(req{method: "POST", path: "/login/mfa", body: fmt.Sprintf(`{"mfa_token":%q,%q:%q}`, token, field, value)})
}

// tokensFrom keeps a token response's tokens as who's.
func (h *harness) tokensFrom(who string, w *httptest.ResponseRecorder) {
	h.t.Helper()
	var tr struct{ AccessToken, RefreshToken string }
	m := decode(h.t, w)
	tr.AccessToken, _ = m["access_token"].(string)
	tr.RefreshToken, _ = m["refresh_token"].(string)
	if tr.AccessToken == "" {
		h.t.Fatalf("no token response: %s", w.Body)
	}
	h.tokens[who] = &auth.Tokens{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, SessionID: h.tokens[who].SessionID}
}

func TestLoginWithTOTPThroughEveryForm(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	secret, _ := h.enrol("ann")
	if w := h.do(req{method: "GET", path: "/me", as: "ann"}); field(decode(t, w), "user", "mfa", "totp") != true {
		t.Fatalf("GET /me: %s", w.Body)
	}

	// JSON: 401 mfa_required with the token and methods, and no session.
	w := h.do(req{method: "POST", path: "/login", body: `{"username":"ann","password":"` + annPassword + `"}`})
	m := decode(t, w)
	if w.Code != 401 || m["error"] != "mfa_required" || !slices.Equal(toStrings(m["methods"]), []string{"totp", "recovery_code"}) ||
		w.Header().Get("WWW-Authenticate") == "" || m["access_token"] != nil {
		t.Fatalf("JSON login: %d %s", w.Code, w.Body)
	}
	// Basic: the same.
	w = h.do(req{method: "POST", path: "/login", headers: basic("ann", annPassword)})
	if w.Code != 401 || decode(t, w)["error"] != "mfa_required" {
		t.Fatalf("Basic login: %d %s", w.Code, w.Body)
	}
	// The wrong password still says nothing about a second factor.
	w = h.do(req{method: "POST", path: "/login", body: `{"username":"ann","password":"wrong password!"}`})
	if w.Code != 401 || errorCode(w) != "invalid_credentials" {
		t.Fatalf("wrong password: %d %s", w.Code, w.Body)
	}
	// The second step answers the token response, with amr and auth_time.
	w = h.loginMFA(m["mfa_token"].(string), "code", h.code(secret, 0))
	if w.Code != 200 {
		t.Fatalf("second step: %d %s", w.Code, w.Body)
	}
	c, err := h.app.Guard.Verify(decode(t, w)["access_token"].(string))
	if err != nil || !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) || c.AuthTime == nil {
		t.Fatalf("claims %+v %v", c, err)
	}
	// Form: 303 to the second page, the token in an HttpOnly cookie.
	w = h.do(req{method: "POST", path: "/login", contentType: "application/x-www-form-urlencoded",
		body: url.Values{"identifier": {"ann"}, "password": {annPassword}, "next": {"/books"}}.Encode()})
	if w.Code != 303 || w.Header().Get("Location") != "/login/mfa?next=%2Fbooks" || hasCookie(w, "__Host-access", false) {
		t.Fatalf("form login: %d %s", w.Code, w.Header().Get("Location"))
	}
	mc := cookieValue(w, "__Host-mfa")
	if mc == "" || !strings.Contains(strings.Join(w.Header().Values("Set-Cookie"), ";"), "HttpOnly") {
		t.Fatalf("mfa cookie: %v", w.Header().Values("Set-Cookie"))
	}
	w = h.do(req{method: "GET", path: "/login/mfa?next=/books", headers: map[string]string{"Cookie": "__Host-mfa=" + mc}})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `name="code"`) || !strings.Contains(w.Body.String(), `value="/books"`) ||
		strings.Contains(w.Body.String(), "<script") {
		t.Fatalf("second page: %d", w.Code)
	}
	if w := h.do(req{method: "GET", path: "/login/mfa"}); w.Code != 303 || w.Header().Get("Location") != "/login" {
		t.Fatalf("second page without a first step: %d", w.Code)
	}
	h.clock.Advance(mfa.Period)
	post := func(values url.Values) *httptest.ResponseRecorder {
		values.Set("csrf_token", "c1")
		return h.do(req{method: "POST", path: "/login/mfa", contentType: "application/x-www-form-urlencoded", body: values.Encode(),
			headers: map[string]string{"Cookie": "__Host-mfa=" + mc + "; __Host-csrf=c1"}})
	}
	if w := post(url.Values{"code": {"000000"}, "next": {"/books"}}); w.Code != 400 || !strings.Contains(w.Body.String(), "not valid") {
		t.Fatalf("wrong code on the page: %d", w.Code)
	}
	w = post(url.Values{"code": {h.code(secret, 0)}, "next": {"/books"}})
	if w.Code != 303 || w.Header().Get("Location") != "/books" || !hasCookie(w, "__Host-access", false) || !hasCookie(w, "__Host-mfa", true) {
		t.Fatalf("second page post: %d %s", w.Code, w.Header().Get("Location"))
	}
}

// TestSecondStepRefusesWhatAnAttackerSends: every failure is 400
// invalid_code and starts no session; bad input is invalid_request.
func TestSecondStepRefusesWhatAnAttackerSends(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	annSecret, annCodes := h.enrol("ann")
	bobSecret, _ := h.enrol("bob")
	annToken, bobToken := h.mfaToken("ann"), h.mfaToken("bob")
	h.clock.Advance(mfa.Period)

	for _, c := range []struct {
		name, body, code string
		status           int
	}{
		{"ann's code with bob's mfa_token", `{"mfa_token":"` + bobToken + `","code":"` + h.code(annSecret, 0) + `"}`, "invalid_code", 400},
		{"bob's recovery code guess with bob's token", `{"mfa_token":"` + bobToken + `","recovery_code":"` + annCodes[0] + `"}`, "invalid_code", 400},
		{"a made-up mfa_token", `{"mfa_token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","code":"` + h.code(annSecret, 0) + `"}`, "invalid_code", 400},
		{"an access token as mfa_token", `{"mfa_token":"` + h.tokens["ann"].AccessToken + `","code":"123456"}`, "invalid_request", 400},
		{"no mfa_token", `{"code":"123456"}`, "invalid_request", 400},
		{"no code", `{"mfa_token":"` + annToken + `"}`, "invalid_request", 400},
		{"both kinds of code", `{"mfa_token":"` + annToken + `","code":"123456","recovery_code":"x"}`, "invalid_request", 400},
		{"code as a number", `{"mfa_token":"` + annToken + `","code":123456}`, "invalid_request", 400},
		{"malformed JSON", `{"mfa_token":`, "invalid_request", 400},
	} {
		w := h.do(req{method: "POST", path: "/login/mfa", body: c.body})
		if w.Code != c.status || errorCode(w) != c.code {
			t.Errorf("%s: %d %s", c.name, w.Code, w.Body)
		}
	}
	if w := h.do(req{method: "POST", path: "/login/mfa", body: `{}`, contentType: "text/plain"}); w.Code != 415 {
		t.Errorf("text/plain: %d", w.Code)
	}
	// ann's token still works with ann's code, once.
	if w := h.loginMFA(annToken, "code", h.code(annSecret, 0)); w.Code != 200 {
		t.Fatalf("ann's own second step: %d %s", w.Code, w.Body)
	}
	h.clock.Advance(mfa.Period)
	if w := h.loginMFA(annToken, "code", h.code(annSecret, 0)); w.Code != 400 || errorCode(w) != "invalid_code" {
		t.Fatalf("a replayed mfa_token: %d %s", w.Code, w.Body)
	}
	// The same code on a fresh token is a replayed step.
	fresh := h.mfaToken("bob")
	w := h.loginMFA(fresh, "code", h.code(bobSecret, 0))
	if w.Code != 200 {
		t.Fatalf("bob: %d %s", w.Code, w.Body)
	}
	if w := h.loginMFA(h.mfaToken("bob"), "code", h.code(bobSecret, 0)); w.Code != 400 {
		t.Fatalf("a replayed code: %d %s", w.Code, w.Body)
	}
	// Five wrong codes end a token.
	five := h.mfaToken("bob")
	for range 5 {
		h.loginMFA(five, "code", "000000")
	}
	h.clock.Advance(mfa.Period)
	if w := h.loginMFA(five, "code", h.code(bobSecret, 0)); w.Code != 400 {
		t.Fatalf("a token after five wrong codes: %d %s", w.Code, w.Body)
	}
	// An expired token.
	old := h.mfaToken("bob")
	h.clock.Advance(5*time.Minute + time.Second)
	if w := h.loginMFA(old, "code", h.code(bobSecret, 0)); w.Code != 400 {
		t.Fatalf("an expired token: %d %s", w.Code, w.Body)
	}
	// Failures of the second step are audited as failed logins.
	if evs, _, _ := h.app.Services.Accounts.AuditEvents(t.Context(), auth.AuditFilter{UserID: h.users["bob"].ID, Event: auth.EventLoginFailed, Limit: 50}); len(evs) < 7 {
		t.Fatalf("%d failed second steps audited", len(evs))
	}
}

func TestSecondStepSharesTheLockout(t *testing.T) {
	t.Parallel()
	lockoutOnly := unlimited
	lockoutOnly.Lockout = ratelimit.LockoutPolicy{FreeFailures: 5, BaseLock: time.Minute, MaxLock: time.Hour}
	h := newHarness(t, func(c *app.Config) { c.Limits = &lockoutOnly })
	secret, _ := h.enrol("ann")
	h.enrol("bob")
	token := h.mfaToken("ann")
	// The right password that opened the second step counts nothing: 5
	// wrong codes are the 5 free failures.
	for range 5 {
		h.loginMFA(token, "code", "000000")
	}
	// The sixth failure, a wrong password, is checked and starts the lock.
	if w := h.do(req{method: "POST", path: "/login", body: `{"username":"ann","password":"wrong password"}`}); w.Code != 401 {
		t.Fatalf("a wrong password after five wrong codes: %d %s", w.Code, w.Body)
	}
	w := h.do(req{method: "POST", path: "/login", body: `{"username":"ann","password":"` + annPassword + `"}`})
	if w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("the right password while locked: %d %s", w.Code, w.Body)
	}
	h.clock.Advance(mfa.Period)
	if w := h.loginMFA(h.mfaToken("bob"), "code", "000000"); w.Code != 400 {
		t.Fatalf("bob is not locked by ann's failures: %d %s", w.Code, w.Body)
	}
	_ = secret
}

func TestFactorRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.verifyEmail("ann")
	// A code for a user without an authenticator is simply wrong.
	if w := h.do(req{method: "POST", path: "/me/reauthenticate", as: "ann", body: `{"code":"123456"}`}); w.Code != 400 || errorCode(w) != "invalid_code" {
		t.Fatalf("a code without TOTP: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "POST", path: "/me/mfa/totp/confirm", as: "ann", body: `{"code":"123456"}`}); w.Code != 400 || errorCode(w) != "invalid_request" {
		t.Fatalf("confirm with nothing pending: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "DELETE", path: "/me/mfa/totp", as: "ann"}); w.Code != 404 {
		t.Fatalf("remove nothing: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "POST", path: "/me/mfa/recovery-codes", as: "ann"}); w.Code != 400 {
		t.Fatalf("recovery codes without a factor: %d %s", w.Code, w.Body)
	}
	for _, r := range []req{
		{method: "POST", path: "/me/mfa/totp"}, {method: "POST", path: "/me/mfa/totp/confirm", body: `{"code":"1"}`},
		{method: "DELETE", path: "/me/mfa/totp"}, {method: "POST", path: "/me/mfa/recovery-codes"},
		{method: "POST", path: "/me/reauthenticate", body: `{"password":"x"}`},
	} {
		if w := h.do(r); w.Code != 401 {
			t.Errorf("%s %s without a token: %d", r.method, r.path, w.Code)
		}
		r.as, r.carrier = "ann", "cookie" // a cookie without the CSRF token
		if w := h.do(r); w.Code != 403 || errorCode(w) != "csrf_failed" {
			t.Errorf("%s %s by cookie without CSRF: %d", r.method, r.path, w.Code)
		}
	}

	// Enrol: the secret, its otpauth URI and the QR as SVG.
	w := h.do(req{method: "POST", path: "/me/mfa/totp", as: "ann"})
	m := decode(t, w)
	if w.Code != 200 || !strings.HasPrefix(m["otpauth_uri"].(string), "otpauth://totp/Gatehouse:ann@example.com?") ||
		!strings.HasPrefix(m["qr_svg"].(string), "<svg") || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("enrol: %d %s", w.Code, w.Body)
	}
	secret := m["secret"].(string)
	if w := h.do(req{method: "POST", path: "/me/mfa/totp/confirm", as: "ann", body: `{"code":"000000"}`}); w.Code != 400 || errorCode(w) != "invalid_code" {
		t.Fatalf("confirm with a wrong code: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "POST", path: "/me/mfa/totp/confirm", as: "ann", body: `{"code":"` + h.code(secret, 0) + `"}`}); w.Code != 200 ||
		len(toStrings(decode(t, w)["recovery_codes"])) != 10 {
		t.Fatalf("confirm: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "POST", path: "/me/mfa/totp", as: "ann"}); w.Code != 409 {
		t.Fatalf("enrol twice: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "POST", path: "/me/mfa/recovery-codes", as: "ann"}); w.Code != 200 {
		t.Fatalf("new recovery codes: %d %s", w.Code, w.Body)
	}

	// After --reauth-max-age, every sensitive route wants a re-authentication.
	h.clock.Advance(11 * time.Minute)
	for _, r := range []req{
		{method: "POST", path: "/me/mfa/totp", as: "bob"}, {method: "DELETE", path: "/me/mfa/totp", as: "ann"},
		{method: "POST", path: "/me/mfa/recovery-codes", as: "ann"}, {method: "DELETE", path: "/me", as: "ann", body: `{"password":"` + annPassword + `"}`},
	} {
		if w := h.do(r); w.Code != 403 || errorCode(w) != "reauthentication_required" {
			t.Errorf("%s %s after 11 minutes: %d %s", r.method, r.path, w.Code, w.Body)
		}
	}
	if w := h.do(req{method: "POST", path: "/me/reauthenticate", as: "ann", body: `{"password":"wrong password!"}`}); w.Code != 401 {
		t.Fatalf("reauthenticate with a wrong password: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "POST", path: "/me/reauthenticate", as: "ann", body: `{}`}); w.Code != 400 || errorCode(w) != "invalid_request" {
		t.Fatalf("reauthenticate with nothing: %d %s", w.Code, w.Body)
	}
	w = h.do(req{method: "POST", path: "/me/reauthenticate", as: "ann", body: `{"code":"` + h.code(secret, 0) + `"}`})
	if w.Code != 200 {
		t.Fatalf("reauthenticate with a code: %d %s", w.Code, w.Body)
	}
	h.tokensFrom("ann", w)
	if w := h.do(req{method: "DELETE", path: "/me/mfa/totp", as: "ann"}); w.Code != 204 {
		t.Fatalf("remove after re-authenticating: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "GET", path: "/me", as: "ann"}); field(decode(t, w), "user", "mfa", "totp") != false {
		t.Fatalf("after removal: %s", w.Body)
	}
	w = h.do(req{method: "POST", path: "/login", body: `{"username":"ann","password":"` + annPassword + `"}`})
	if w.Code != 200 {
		t.Fatalf("login after removal: %d %s", w.Code, w.Body)
	}
}

func TestAdminResetsMFA(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	secret, codes := h.enrol("ann")
	for _, c := range []struct {
		as, path string
		status   int
	}{
		{"ann", "/users/ID:ann/mfa", 403},
		{"admin", "/users/ID:admin/mfa", 403},
		{"admin", "/users/01900000-0000-7000-8000-000000000000/mfa", 404},
	} {
		if w := h.do(req{method: "DELETE", path: c.path, as: c.as}); w.Code != c.status {
			t.Errorf("%s DELETE %s: %d %s", c.as, c.path, w.Code, w.Body)
		}
	}
	if w := h.do(req{method: "DELETE", path: "/users/ID:ann/mfa", as: "admin"}); w.Code != 204 {
		t.Fatalf("reset: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "GET", path: "/me", as: "ann"}); w.Code != 401 || errorCode(w) != "token_revoked" {
		t.Fatalf("ann's session after the reset: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "GET", path: "/users/ID:ann", as: "admin"}); field(decode(t, w), "user", "mfa", "totp") != false {
		t.Fatalf("user after the reset: %s", w.Body)
	}
	if w := h.do(req{method: "POST", path: "/login", body: `{"username":"ann","password":"` + annPassword + `"}`}); w.Code != 200 {
		t.Fatalf("login after the reset: %d %s", w.Code, w.Body)
	}
	out, _ := h.store.OutboxEntries(t.Context(), 10)
	if len(out) != 1 || out[0].To != "ann@example.com" {
		t.Fatalf("outbox %+v", out)
	}
	_, _ = secret, codes
}

func TestSecurityPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.verifyEmail("ann")
	w := page(h, "ann", "/security")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `action="/security/totp"`) || !strings.Contains(w.Body.String(), `href="/security"`) {
		t.Fatalf("security page: %d", w.Code)
	}
	if w := form(h, "ann", "/security/totp", url.Values{}); w.Code != 303 {
		t.Fatalf("set up: %d %s", w.Code, w.Body)
	}
	w = page(h, "ann", "/security")
	body := w.Body.String()
	// The one script is the WebAuthn calls' static file: nothing inline.
	noPasskeyScript := strings.ReplaceAll(body, `<script src="/static/passkeys.js" defer></script>`, "")
	if !strings.Contains(body, "<svg") || !strings.Contains(body, `action="/security/totp/confirm"`) || strings.Contains(noPasskeyScript, "<script") {
		t.Fatalf("pending setup page: %s", body)
	}
	f, _ := h.store.TOTP(t.Context(), h.users["ann"].ID)
	en, _, _ := h.app.Services.Factors.PendingTOTP(t.Context(), h.users["ann"].ID, h.tokens["ann"].SessionID)
	if !strings.Contains(body, en.Secret) || f.UserID == "" {
		t.Fatal("the page does not show the key")
	}
	if w := form(h, "ann", "/security/totp/confirm", url.Values{"code": {"000000"}}); w.Code != 400 || !strings.Contains(w.Body.String(), "<svg") {
		t.Fatalf("wrong code: %d", w.Code)
	}
	w = form(h, "ann", "/security/totp/confirm", url.Values{"code": {h.code(en.Secret, 0)}})
	if w.Code != 200 || strings.Count(w.Body.String(), "<li><code>") != 10 || !strings.Contains(w.Body.String(), `download="gatehouse-recovery-codes.txt"`) ||
		!strings.Contains(w.Body.String(), `href="data:text/plain;charset=utf-8,`) {
		t.Fatalf("confirm page: %d %s", w.Code, w.Body)
	}
	if w := page(h, "ann", "/security"); strings.Contains(w.Body.String(), "<li><code>") || !strings.Contains(w.Body.String(), "10 recovery codes left") {
		t.Fatal("the codes are shown again, or the count is missing")
	}
	// A stale sign-in: the re-authentication form, then the action works.
	h.clock.Advance(11 * time.Minute)
	w = form(h, "ann", "/security/recovery-codes", url.Values{})
	if w.Code != 403 || !strings.Contains(w.Body.String(), `action="/security/reauthenticate"`) {
		t.Fatalf("stale new codes: %d %s", w.Code, w.Body)
	}
	if w := form(h, "ann", "/security/reauthenticate", url.Values{"password": {"wrong password!"}}); w.Code != 401 {
		t.Fatalf("wrong password: %d", w.Code)
	}
	w = form(h, "ann", "/security/reauthenticate", url.Values{"password": {annPassword}})
	if w.Code != 303 || w.Header().Get("Location") != "/security?done=reauth" {
		t.Fatalf("reauthenticate: %d %s", w.Code, w.Body)
	}
	h.tokens["ann"].AccessToken, h.tokens["ann"].RefreshToken = cookieValue(w, "__Host-access"), cookieValue(w, "__Host-refresh")
	if w := form(h, "ann", "/security/recovery-codes", url.Values{}); w.Code != 200 || strings.Count(w.Body.String(), "<li><code>") != 10 {
		t.Fatalf("new codes after re-authenticating: %d", w.Code)
	}
	if w := form(h, "ann", "/security/totp/remove", url.Values{}); w.Code != 303 {
		t.Fatalf("remove: %d", w.Code)
	}
	// Cross-site or token-less posts change nothing.
	w = h.do(req{method: "POST", path: "/security/totp", contentType: "application/x-www-form-urlencoded", body: "csrf_token=x", headers: browser(h, "bob")})
	if w.Code != 403 {
		t.Fatalf("wrong CSRF token: %d", w.Code)
	}
}

func TestAdminPageResetsMFA(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.enrol("bob")
	w := page(h, "admin", "/admin/users")
	if !strings.Contains(w.Body.String(), `/admin/users/`+h.users["bob"].ID+`/mfa-reset`) || strings.Contains(w.Body.String(), h.users["ann"].ID+`/mfa-reset`) {
		t.Fatal("the reset button is missing, or shown for a user without factors")
	}
	if w := form(h, "ann", "/admin/users/"+h.users["bob"].ID+"/mfa-reset", url.Values{}); w.Code != 403 {
		t.Fatalf("a user resetting: %d", w.Code)
	}
	if w := form(h, "admin", "/admin/users/"+h.users["bob"].ID+"/mfa-reset", url.Values{}); w.Code != 303 || w.Header().Get("Location") != "/admin/users?done=mfa" {
		t.Fatalf("reset: %d %s", w.Code, w.Body)
	}
	if u, _ := h.app.Services.Accounts.User(t.Context(), h.users["bob"].ID); u.MFA.TOTP {
		t.Fatal("bob still has TOTP")
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func cookieValue(w *httptest.ResponseRecorder, name string) string {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// A stolen session, older than --reauth-max-age, waits on GET /security for
// its user to start an enrolment: it must not read the secret (with it, it
// would re-authenticate and mint recovery codes). The secret is the
// session's that started the enrolment, shown to it while its sign-in is
// recent and for 15 minutes at most.
func TestPendingTOTPSecretIsShownOnlyToItsSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.verifyEmail("ann")
	stolen := h.tokens["ann"]
	h.clock.Advance(11 * time.Minute)
	fresh, err := h.app.Services.Sessions.Login(t.Context(), auth.LoginInput{Identifier: "ann", Password: annPassword})
	if err != nil {
		t.Fatal(err)
	}
	h.tokens["ann"] = fresh
	if w := form(h, "ann", "/security/totp", url.Values{}); w.Code != 303 {
		t.Fatalf("set up: %d %s", w.Code, w.Body)
	}
	f, err := h.store.TOTP(t.Context(), h.users["ann"].ID)
	if err != nil || f.SessionID != fresh.SessionID {
		t.Fatalf("pending enrolment %+v %v: not the session's", f, err)
	}
	en, ok, err := h.app.Services.Factors.PendingTOTP(t.Context(), h.users["ann"].ID, fresh.SessionID)
	if !ok || err != nil {
		t.Fatalf("pending: %v %v", ok, err)
	}
	if w := page(h, "ann", "/security"); !strings.Contains(w.Body.String(), en.Secret) {
		t.Fatal("its own session is not shown the key")
	}
	h.tokens["ann"] = stolen
	w := page(h, "ann", "/security")
	if w.Code != 200 || strings.Contains(w.Body.String(), en.Secret) || strings.Contains(w.Body.String(), `action="/security/totp/confirm"`) {
		t.Fatalf("an old session is shown the pending key: %d", w.Code)
	}
	if w := form(h, "ann", "/security/totp/confirm", url.Values{"code": {h.code(en.Secret, 0)}}); w.Code == 200 {
		t.Fatal("an old session confirmed the enrolment")
	}
	h.tokens["ann"] = fresh
	if w := h.do(req{method: "POST", path: "/me/mfa/totp/confirm", as: "ann", body: `{"code":"000000"}`}); w.Code != 400 || errorCode(w) != "invalid_code" {
		t.Fatalf("its own session's wrong code: %d %s", w.Code, w.Body)
	}
	// Past 15 minutes it is gone, even for a session that signed in again.
	h.clock.Advance(16 * time.Minute)
	w = form(h, "ann", "/security/reauthenticate", url.Values{"password": {annPassword}})
	h.tokens["ann"].AccessToken, h.tokens["ann"].RefreshToken = cookieValue(w, "__Host-access"), cookieValue(w, "__Host-refresh")
	if w := page(h, "ann", "/security"); strings.Contains(w.Body.String(), en.Secret) {
		t.Fatal("an expired enrolment is shown")
	}
	if w := h.do(req{method: "POST", path: "/me/mfa/totp/confirm", as: "ann", body: `{"code":"` + h.code(en.Secret, 0) + `"}`}); w.Code != 400 || errorCode(w) != "invalid_request" {
		t.Fatalf("confirming an expired enrolment: %d %s", w.Code, w.Body)
	}
}

// An unverified address cannot get a second factor (the JSON API and the
// pages alike): whoever signed up with someone else's address would shut
// its owner out of password resets with it.
func TestFactorEnrolmentNeedsAVerifiedAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, r := range []req{
		{method: "POST", path: "/me/mfa/totp", as: "ann"},
		{method: "POST", path: "/me/passkeys/register/begin", as: "ann"},
	} {
		if w := h.do(r); w.Code != 403 || errorCode(w) != "email_not_verified" {
			t.Fatalf("%s: %d %s", r.path, w.Code, w.Body)
		}
	}
	if w := form(h, "ann", "/security/totp", url.Values{}); w.Code != 403 || !strings.Contains(w.Body.String(), "Verify your email address") {
		t.Fatalf("page: %d %s", w.Code, w.Body)
	}
	h.verifyEmail("ann")
	if w := h.do(req{method: "POST", path: "/me/mfa/totp", as: "ann"}); w.Code != 200 {
		t.Fatalf("verified: %d %s", w.Code, w.Body)
	}
}
