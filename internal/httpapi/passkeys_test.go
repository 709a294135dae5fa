package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth/passkeytest"
)

// The harness's relying party: its issuer, https://gatehouse.test.
func (h *harness) authenticator() *passkeytest.Authenticator {
	return passkeytest.New("gatehouse.test", testIssuer)
}

// addPasskey registers a passkey of a for who through the API.
func (h *harness) addPasskey(who string, a *passkeytest.Authenticator, name string) *httptest.ResponseRecorder {
	h.t.Helper()
	h.verifyEmail(who)
	w := h.do(req{method: "POST", path: "/me/passkeys/register/begin", as: who})
	if w.Code != 200 {
		h.t.Fatalf("begin: %d %s", w.Code, w.Body)
	}
	cred, err := a.Create(w.Body.Bytes())
	if err != nil {
		h.t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"name": name, "credential": json.RawMessage(cred)})
	return h.do(req{method: "POST", path: "/me/passkeys/register/finish", as: who, body: string(body)})
}

// passkeyLogin runs a passwordless login with a through the API.
func (h *harness) passkeyLogin(a *passkeytest.Authenticator) *httptest.ResponseRecorder {
	h.t.Helper()
	w := h.do(req{method: "POST", path: "/login/passkey/begin"})
	if w.Code != 200 {
		h.t.Fatalf("begin: %d %s", w.Code, w.Body)
	}
	cred, err := a.Get(w.Body.Bytes())
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req{method: "POST", path: "/login/passkey/finish", body: `{"credential":` + string(cred) + `}`})
}

func TestPasskeyRoutesJourney(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.authenticator()
	w := h.addPasskey("ann", a, "Laptop")
	if w.Code != 201 {
		t.Fatalf("finish: %d %s", w.Code, w.Body)
	}
	pk := decode(t, w)["passkey"].(map[string]any)
	if pk["name"] != "Laptop" || pk["last_used_at"] != nil || pk["id"] == "" {
		t.Fatalf("passkey %v", pk)
	}
	id := pk["id"].(string)
	if w := h.do(req{method: "GET", path: "/me", as: "ann"}); field(decode(t, w), "user", "mfa", "passkeys") != float64(1) {
		t.Fatalf("GET /me: %s", w.Body)
	}
	// A password login now needs the second step, which offers the passkey.
	w = h.do(req{method: "POST", path: "/login", body: fmt.Sprintf(`{"email":%q,"password":%q}`, emails["ann"], annPassword)})
	m := decode(t, w)
	if w.Code != 401 || !slices.Equal(toStrings(m["methods"]), []string{"passkey"}) {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	token := m["mfa_token"].(string)
	w = h.do(req{method: "POST", path: "/login/mfa/passkey/begin", body: `{"mfa_token":"` + token + `"}`})
	if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("mfa begin: %d %s", w.Code, w.Body)
	}
	cred, _ := a.Get(w.Body.Bytes())
	body, _ := json.Marshal(map[string]any{"mfa_token": token, "credential": json.RawMessage(cred)})
	w = h.do(req{method: "POST", path: "/login/mfa/passkey/finish", body: string(body)})
	if w.Code != 200 {
		t.Fatalf("mfa finish: %d %s", w.Code, w.Body)
	}
	if c, err := h.app.Guard.Verify(decode(t, w)["access_token"].(string)); err != nil || !slices.Equal(c.AMR, []string{"pwd", "hwk", "user", "mfa"}) {
		t.Fatalf("mfa claims %+v %v", c, err)
	}
	// Replayed: the mfa_token is used.
	if w := h.do(req{method: "POST", path: "/login/mfa/passkey/finish", body: string(body)}); w.Code != 400 || errorCode(w) != "invalid_code" {
		t.Fatalf("replay: %d %s", w.Code, w.Body)
	}
	// Passwordless.
	w = h.passkeyLogin(a)
	if w.Code != 200 {
		t.Fatalf("passwordless: %d %s", w.Code, w.Body)
	}
	if c, err := h.app.Guard.Verify(decode(t, w)["access_token"].(string)); err != nil || !slices.Equal(c.AMR, []string{"hwk", "user", "mfa"}) {
		t.Fatalf("passwordless claims %+v %v", c, err)
	}
	h.tokensFrom("ann", w)
	// List, rename, remove.
	w = h.do(req{method: "GET", path: "/me/passkeys", as: "ann"})
	if list := decode(t, w)["passkeys"].([]any); w.Code != 200 || len(list) != 1 || list[0].(map[string]any)["last_used_at"] == nil {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	w = h.do(req{method: "PATCH", path: "/me/passkeys/" + id, as: "ann", body: `{"name":"Work laptop"}`})
	if w.Code != 200 || field(decode(t, w), "passkey", "name") != "Work laptop" {
		t.Fatalf("rename: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "DELETE", path: "/me/passkeys/" + id, as: "ann"}); w.Code != 204 {
		t.Fatalf("remove: %d %s", w.Code, w.Body)
	}
	if w := h.passkeyLogin(a); w.Code != 401 || errorCode(w) != "invalid_credentials" {
		t.Fatalf("removed passkey: %d %s", w.Code, w.Body)
	}
}

// TestPasskeyRoutesRefuseWhatAnAttackerSends: each route against what an
// attacker sends; nothing changes.
func TestPasskeyRoutesRefuseWhatAnAttackerSends(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.authenticator()
	w := h.addPasskey("ann", a, "Laptop")
	id := field(decode(t, w), "passkey", "id").(string)
	for _, sc := range []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"begin registration anonymous", req{method: "POST", path: "/me/passkeys/register/begin"}, 401, "unauthorized"},
		{"finish registration anonymous", req{method: "POST", path: "/me/passkeys/register/finish", body: `{}`}, 401, "unauthorized"},
		{"finish without a credential", req{method: "POST", path: "/me/passkeys/register/finish", as: "ann", body: `{"name":"x"}`}, 400, "invalid_request"},
		{"finish with a string credential", req{method: "POST", path: "/me/passkeys/register/finish", as: "ann", body: `{"name":"x","credential":"abc"}`}, 400, "invalid_request"},
		{"finish with a junk credential", req{method: "POST", path: "/me/passkeys/register/finish", as: "ann", body: `{"name":"x","credential":{"id":"x"}}`}, 400, "invalid_request"},
		{"finish not JSON", req{method: "POST", path: "/me/passkeys/register/finish", as: "ann", body: `name=x`, contentType: "text/plain"}, 415, "unsupported_media_type"},
		{"list anonymous", req{method: "GET", path: "/me/passkeys"}, 401, "unauthorized"},
		{"rename another user's", req{method: "PATCH", path: "/me/passkeys/" + id, as: "bob", body: `{"name":"mine"}`}, 404, "not_found"},
		{"rename to nothing", req{method: "PATCH", path: "/me/passkeys/" + id, as: "ann", body: `{"name":"  "}`}, 400, "invalid_request"},
		{"rename too long", req{method: "PATCH", path: "/me/passkeys/" + id, as: "ann", body: `{"name":"` + strings.Repeat("é", 65) + `"}`}, 400, "invalid_request"},
		{"remove another user's", req{method: "DELETE", path: "/me/passkeys/" + id, as: "bob"}, 404, "not_found"},
		{"remove by cookie without CSRF", req{method: "DELETE", path: "/me/passkeys/" + id, as: "ann", carrier: "cookie"}, 403, "csrf_failed"},
		{"passwordless finish with junk", req{method: "POST", path: "/login/passkey/finish", body: `{"credential":{"id":"x","response":{}}}`}, 401, "invalid_credentials"},
		{"passwordless finish without a credential", req{method: "POST", path: "/login/passkey/finish", body: `{}`}, 400, "invalid_request"},
		{"passwordless finish as an array", req{method: "POST", path: "/login/passkey/finish", body: `[]`}, 400, "invalid_request"},
		{"mfa begin with a forged token", req{method: "POST", path: "/login/mfa/passkey/begin", body: `{"mfa_token":"forged"}`}, 400, "invalid_code"},
		{"mfa begin without a token", req{method: "POST", path: "/login/mfa/passkey/begin", body: `{}`}, 400, "invalid_code"},
		{"mfa finish with a forged token", req{method: "POST", path: "/login/mfa/passkey/finish", body: `{"mfa_token":"forged","credential":{}}`}, 400, "invalid_code"},
		{"mfa begin as a cross-site form", req{method: "POST", path: "/login/mfa/passkey/begin", contentType: "application/x-www-form-urlencoded", body: "csrf_token=x",
			headers: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403, "csrf_failed"},
	} {
		t.Run(sc.name, func(t *testing.T) {
			h.t = t
			w := h.do(sc.r)
			if w.Code != sc.status || errorCode(w) != sc.code {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body, sc.status, sc.code)
			}
		})
	}
	h.t = t
	if w := h.do(req{method: "GET", path: "/me/passkeys", as: "ann"}); len(decode(t, w)["passkeys"].([]any)) != 1 ||
		field(decode(t, w)["passkeys"].([]any)[0].(map[string]any), "name") != "Laptop" {
		t.Fatalf("changed: %s", w.Body)
	}

	// A passkey assertion for another account's sign-in: bob's second step
	// with ann's passkey.
	bobKey := h.authenticator()
	h.addPasskey("bob", bobKey, "Bob's")
	token := h.mfaToken("bob")
	w = h.do(req{method: "POST", path: "/login/mfa/passkey/begin", body: `{"mfa_token":"` + token + `"}`})
	cred, _ := a.Assert(a.Creds[0], passkeytest.Challenge(w.Body.Bytes()))
	body, _ := json.Marshal(map[string]any{"mfa_token": token, "credential": json.RawMessage(cred)})
	if w := h.do(req{method: "POST", path: "/login/mfa/passkey/finish", body: string(body)}); w.Code != 400 || errorCode(w) != "invalid_code" {
		t.Fatalf("ann's passkey for bob: %d %s", w.Code, w.Body)
	}
	// A clone: the counter set back.
	if w := h.passkeyLogin(a); w.Code != 200 {
		t.Fatalf("genuine: %d %s", w.Code, w.Body)
	}
	a.Creds[0].Counter--
	if w := h.passkeyLogin(a); w.Code != 401 || errorCode(w) != "invalid_credentials" {
		t.Fatalf("clone: %d %s", w.Code, w.Body)
	}
	// A phishing site's origin.
	a.Origin = "https://gatehouse.test.evil.example"
	if w := h.passkeyLogin(a); w.Code != 401 {
		t.Fatalf("wrong origin: %d %s", w.Code, w.Body)
	}
}

func TestPasskeyRegistrationNeedsRecentLoginOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.clock.Advance(11 * time.Minute)
	if w := h.do(req{method: "POST", path: "/me/passkeys/register/begin", as: "ann"}); w.Code != 403 || errorCode(w) != "reauthentication_required" {
		t.Fatalf("begin: %d %s", w.Code, w.Body)
	}
}

func TestPasskeyPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.verifyEmail("ann")
	// The login page offers a passkey (its form shows once the script runs).
	w := h.do(req{method: "GET", path: "/login"})
	if !strings.Contains(w.Body.String(), `data-passkey="login"`) || !strings.Contains(w.Body.String(), `<script src="/static/passkeys.js" defer></script>`) {
		t.Fatalf("login page: %s", w.Body)
	}
	if w := h.do(req{method: "GET", path: "/static/passkeys.js"}); w.Code != 200 || !strings.Contains(w.Body.String(), "navigator.credentials") {
		t.Fatalf("script: %d", w.Code)
	}
	w = page(h, "ann", "/security")
	if !strings.Contains(w.Body.String(), "Add a passkey") || !strings.Contains(w.Body.String(), `data-passkey="register"`) {
		t.Fatalf("security page: %s", w.Body)
	}
	// The form the script submits: a new passkey, then rename and remove.
	a := h.authenticator()
	opts := h.do(req{method: "POST", path: "/me/passkeys/register/begin", as: "ann", carrier: "cookie", csrf: true})
	if opts.Code != 200 {
		t.Fatalf("begin by the page's cookies: %d %s", opts.Code, opts.Body)
	}
	cred, _ := a.Create(opts.Body.Bytes())
	if w := form(h, "ann", "/security/passkeys", url.Values{"name": {"Phone"}, "credential": {string(cred)}}); w.Code != 303 ||
		w.Header().Get("Location") != "/security?done=passkey" {
		t.Fatalf("add: %d %s", w.Code, w.Body)
	}
	list, _ := h.app.Services.Passkeys.Passkeys(t.Context(), h.users["ann"].ID)
	w = page(h, "ann", "/security")
	if len(list) != 1 || !strings.Contains(w.Body.String(), `value="Phone"`) || !strings.Contains(w.Body.String(), "/security/passkeys/"+list[0].ID+"/remove") {
		t.Fatalf("listed: %s", w.Body)
	}
	if w := form(h, "ann", "/security/passkeys", url.Values{"name": {"Again"}, "credential": {""}}); w.Code != 400 ||
		!strings.Contains(w.Body.String(), "credential") {
		t.Fatalf("add without a credential: %d", w.Code)
	}
	if w := form(h, "ann", "/security/passkeys/"+list[0].ID+"/rename", url.Values{"name": {"<b>Pixel</b>"}}); w.Code != 303 {
		t.Fatalf("rename: %d %s", w.Code, w.Body)
	}
	if w := page(h, "ann", "/security"); !strings.Contains(w.Body.String(), `value="&lt;b&gt;Pixel&lt;/b&gt;"`) {
		t.Fatalf("renamed: %s", w.Body)
	}
	if w := form(h, "bob", "/security/passkeys/"+list[0].ID+"/remove", url.Values{}); w.Code != 404 {
		t.Fatalf("bob removes ann's: %d", w.Code)
	}

	// The second login page offers the passkey, and its forms work.
	w = h.do(req{method: "POST", path: "/login", contentType: "application/x-www-form-urlencoded",
		body: url.Values{"identifier": {"ann"}, "password": {annPassword}}.Encode()})
	mc := cookieValue(w, "__Host-mfa")
	cookies := map[string]string{"Cookie": "__Host-mfa=" + mc + "; __Host-csrf=c1"}
	w = h.do(req{method: "GET", path: "/login/mfa", headers: cookies})
	if !strings.Contains(w.Body.String(), `data-passkey="mfa"`) || strings.Contains(w.Body.String(), `name="code"`) {
		t.Fatalf("second page: %s", w.Body)
	}
	w = h.do(req{method: "POST", path: "/login/mfa/passkey/begin", contentType: "application/x-www-form-urlencoded", body: "csrf_token=c1", headers: cookies})
	if w.Code != 200 {
		t.Fatalf("page begin: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "POST", path: "/login/mfa/passkey/begin", contentType: "application/x-www-form-urlencoded", body: "csrf_token=wrong", headers: cookies}); w.Code != 403 {
		t.Fatalf("page begin with a wrong CSRF token: %d", w.Code)
	}
	assertion, _ := a.Get(w.Body.Bytes())
	w = h.do(req{method: "POST", path: "/login/mfa/passkey/finish", contentType: "application/x-www-form-urlencoded",
		body: url.Values{"csrf_token": {"c1"}, "credential": {string(assertion)}}.Encode(), headers: cookies})
	if w.Code != 303 || w.Header().Get("Location") != "/dashboard" || cookieValue(w, "__Host-access") == "" {
		t.Fatalf("page finish: %d %s", w.Code, w.Body)
	}

	// Passwordless from the login page's form.
	w = h.do(req{method: "POST", path: "/login/passkey/begin"})
	assertion, _ = a.Get(w.Body.Bytes())
	w = h.do(req{method: "POST", path: "/login/passkey/finish", contentType: "application/x-www-form-urlencoded",
		body: url.Values{"csrf_token": {"c1"}, "credential": {string(assertion)}, "next": {"/books"}}.Encode(), headers: map[string]string{"Cookie": "__Host-csrf=c1"}})
	if w.Code != 303 || w.Header().Get("Location") != "/books" || cookieValue(w, "__Host-access") == "" {
		t.Fatalf("page passwordless: %d %s", w.Code, w.Body)
	}
	// The same assertion again: the login page with the one answer.
	w = h.do(req{method: "POST", path: "/login/passkey/finish", contentType: "application/x-www-form-urlencoded",
		body: url.Values{"csrf_token": {"c1"}, "credential": {string(assertion)}}.Encode(), headers: map[string]string{"Cookie": "__Host-csrf=c1"}})
	if w.Code != 401 || !strings.Contains(w.Body.String(), "could not be verified") {
		t.Fatalf("page replay: %d %s", w.Code, w.Body)
	}
}
