package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/upstream/upstreamtest"
)

// setCookie finds a cookie a response set.
func setCookie(w *httptest.ResponseRecorder, name string) string {
	for _, c := range (&http.Response{Header: w.Header()}).Cookies() {
		if c.Name == name && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}

// upstreamLogin runs the page flow at provider id through the handler
// tree and the fake provider: the button, the provider, the callback,
// with cookies (extra: the browser's others). It returns the callback's
// answer.
func upstreamLogin(t *testing.T, h *harness, id, extra string) *httptest.ResponseRecorder {
	t.Helper()
	w := h.do(req{method: "GET", path: "/login/" + id + "?next=%2Fbooks", headers: map[string]string{"Accept": "text/html"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("start: %d %s", w.Code, w.Body)
	}
	flow := setCookie(w, "__Host-upstream")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(w.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := resp.Location()
	if err != nil || !strings.HasPrefix(back.String(), testIssuer+"/login/"+id+"/callback?") {
		t.Fatalf("provider answered %v %v", back, err)
	}
	cookies := "__Host-upstream=" + flow
	if extra != "" {
		cookies += "; " + extra
	}
	return h.do(req{method: "GET", path: back.RequestURI(), headers: map[string]string{"Accept": "text/html", "Cookie": cookies}})
}

// browserFlow is the flow cookie of one browser, as it keeps it: each
// answer's Set-Cookie for __Host-upstream replaces or deletes it.
type browserFlow struct{ value string }

func (b *browserFlow) keep(w *httptest.ResponseRecorder) {
	for _, c := range (&http.Response{Header: w.Header()}).Cookies() {
		if c.Name == "__Host-upstream" {
			b.value = c.Value
			if c.MaxAge < 0 {
				b.value = ""
			}
		}
	}
}

// callbackOf follows a provider's authorization URL to the callback it
// sends the browser back to.
func callbackOf(t *testing.T, authorizationURL string) string {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(authorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := resp.Location()
	if err != nil || !strings.HasPrefix(back.String(), testIssuer+"/login/idp/callback?") {
		t.Fatalf("provider answered %v %v", back, err)
	}
	return back.RequestURI()
}

// A forged callback (another state, that an attacker's link or image
// makes the victim's browser request) must not cancel the victim's login
// or link in progress: its answer leaves the flow cookie alone, and the
// provider's own callback then completes, once. For a login the pages
// start and for a link the JSON API starts.
func TestForgedCallbackKeepsTheLoginInProgress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	idp := upstreamtest.NewOIDC(t)
	idp.Now = h.clock.Now
	expectStatus(t, h.do(req{method: "POST", path: "/providers", as: "admin",
		body: `{"id":"idp","issuer":"` + idp.URL + `","client_id":"` + idp.ClientID + `","client_secret":"` + idp.ClientSecret + `"}`}), 201)
	page := map[string]string{"Accept": "text/html"}
	for _, tc := range []struct {
		name  string
		start func() *httptest.ResponseRecorder
		// the provider's URL in the start's answer
		target func(w *httptest.ResponseRecorder) string
		done   string // where the completed callback goes
	}{
		{"login from the pages", func() *httptest.ResponseRecorder {
			idp.SignIn(upstreamtest.User{Subject: "fay-1", Email: "fay@example.com", EmailVerified: true}, upstreamtest.Bend{})
			return h.do(req{method: "GET", path: "/login/idp?next=%2Fbooks", headers: page})
		}, func(w *httptest.ResponseRecorder) string { return w.Header().Get("Location") }, "/books"},
		{"link from the JSON API", func() *httptest.ResponseRecorder {
			idp.SignIn(upstreamtest.User{Subject: "ann-1", Email: "ann@example.com", EmailVerified: true}, upstreamtest.Bend{})
			return h.do(req{method: "POST", path: "/me/identities/idp", as: "ann"})
		}, func(w *httptest.ResponseRecorder) string {
			var link struct {
				AuthorizationURL string `json:"authorization_url"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &link)
			return link.AuthorizationURL
		}, "/security?done=linked"},
	} {
		var flow browserFlow
		w := tc.start()
		flow.keep(w)
		if flow.value == "" {
			t.Fatalf("%s: no flow cookie: %d %s", tc.name, w.Code, w.Body)
		}
		callback := callbackOf(t, tc.target(w))
		started := flow.value
		for _, forged := range []string{"/login/idp/callback?code=attacker-code&state=attacker-state",
			"/login/idp/callback?error=access_denied", "/login/gh/callback?" + strings.SplitN(callback, "?", 2)[1]} {
			w = h.do(req{method: "GET", path: forged, headers: map[string]string{"Accept": "text/html", "Cookie": "__Host-upstream=" + flow.value}})
			flow.keep(w)
			if w.Code == http.StatusSeeOther || !strings.Contains(w.Body.String(), "This sign-in expired or was started in another browser") {
				t.Fatalf("%s: forged callback %s: %d %s", tc.name, forged, w.Code, w.Body)
			}
			if flow.value != started {
				t.Fatalf("%s: forged callback %s changed the flow cookie", tc.name, forged)
			}
		}
		w = h.do(req{method: "GET", path: callback, headers: map[string]string{"Accept": "text/html", "Cookie": "__Host-upstream=" + flow.value}})
		flow.keep(w)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != tc.done || flow.value != "" {
			t.Fatalf("%s: the provider's callback after forged ones: %d %s, flow cookie %q", tc.name, w.Code, w.Header().Get("Location"), flow.value)
		}
		w = h.do(req{method: "GET", path: callback, headers: map[string]string{"Accept": "text/html", "Cookie": "__Host-upstream=" + started}})
		if w.Code == http.StatusSeeOther || !strings.Contains(w.Body.String(), "This sign-in expired or was started in another browser") {
			t.Fatalf("%s: replayed callback: %d %s", tc.name, w.Code, w.Body)
		}
	}
}

func TestProvidersAPIAndIdentities(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	idp := upstreamtest.NewOIDC(t)
	idp.Now = h.clock.Now
	body := `{"id":"idp","name":"Example ID","issuer":"` + idp.URL + `","client_id":"` + idp.ClientID + `","client_secret":"` + idp.ClientSecret + `"}`
	expectStatus(t, h.do(req{method: "POST", path: "/providers", as: "ann", body: body}), 403)
	w := h.do(req{method: "POST", path: "/providers", as: "admin", body: body})
	expectStatus(t, w, 201)
	if strings.Contains(w.Body.String(), idp.ClientSecret) || !strings.Contains(w.Body.String(), `"redirect_uri":"`+testIssuer+`/login/idp/callback"`) {
		t.Fatalf("created: %s", w.Body)
	}
	expectStatus(t, h.do(req{method: "POST", path: "/providers", as: "admin", body: body}), 409)
	expectStatus(t, h.do(req{method: "POST", path: "/providers", as: "admin", body: `{"id":"x","issuer":"http://idp.example","client_id":"c","client_secret":"s"}`}), 400)
	w = h.do(req{method: "GET", path: "/providers", as: "admin"})
	expectStatus(t, w, 200)
	if strings.Contains(w.Body.String(), idp.ClientSecret) || !strings.Contains(w.Body.String(), `"id":"idp"`) {
		t.Fatalf("list: %s", w.Body)
	}
	expectStatus(t, h.do(req{method: "PATCH", path: "/providers/idp", as: "admin", body: `{"keep_tokens":true}`}), 200)
	expectStatus(t, h.do(req{method: "PATCH", path: "/providers/nope", as: "admin", body: `{"keep_tokens":true}`}), 404)

	// A new account through the pages.
	idp.SignIn(upstreamtest.User{Subject: "zoe-1", Email: "zoe@example.com", EmailVerified: true, Name: "Zoe"}, upstreamtest.Bend{})
	w = upstreamLogin(t, h, "idp", "")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/books" {
		t.Fatalf("callback: %d %s %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	zoe := map[string]string{"Authorization": "Bearer " + setCookie(w, "__Host-access")}
	w = h.do(req{method: "GET", path: "/me/identities", headers: zoe})
	expectStatus(t, w, 200)
	var ids struct {
		Identities []struct{ ID, Provider, Subject, Email string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &ids); err != nil || len(ids.Identities) != 1 || ids.Identities[0].Subject != "zoe-1" {
		t.Fatalf("identities: %s", w.Body)
	}
	id := ids.Identities[0].ID
	w = h.do(req{method: "GET", path: "/me/identities/" + id + "/token", headers: zoe})
	expectStatus(t, w, 200)
	if !strings.Contains(w.Body.String(), `"access_token":"at-`) || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("kept token: %s", w.Body)
	}
	expectStatus(t, h.do(req{method: "GET", path: "/me/identities/" + id + "/token", as: "ann"}), 404)
	expectStatus(t, h.do(req{method: "DELETE", path: "/me/identities/" + id, as: "ann"}), 404)
	w = h.do(req{method: "DELETE", path: "/me/identities/" + id, headers: zoe})
	expectStatus(t, w, 409)
	if !strings.Contains(w.Body.String(), `"last_sign_in_method"`) {
		t.Fatalf("unlink: %s", w.Body)
	}

	// Linking from a signed-in session: the provider's URL, and the flow cookie.
	w = h.do(req{method: "POST", path: "/me/identities/idp", as: "ann"})
	expectStatus(t, w, 200)
	if !strings.Contains(w.Body.String(), `"authorization_url":"`+idp.URL) || setCookie(w, "__Host-upstream") == "" {
		t.Fatalf("link: %s", w.Body)
	}
	expectStatus(t, h.do(req{method: "POST", path: "/me/identities/nope", as: "ann"}), 404)

	expectStatus(t, h.do(req{method: "DELETE", path: "/providers/idp", as: "admin"}), 204)
	expectStatus(t, h.do(req{method: "DELETE", path: "/providers/idp", as: "admin"}), 404)
}

// A provider's verified email that is ann's: the callback shows the login
// page and links nothing; ann's password login in that browser links it.
func TestPendingLinkCompletesWhenTheAccountSignsIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	idp := upstreamtest.NewOIDC(t)
	idp.Now = h.clock.Now
	expectStatus(t, h.do(req{method: "POST", path: "/providers", as: "admin",
		body: `{"id":"idp","issuer":"` + idp.URL + `","client_id":"` + idp.ClientID + `","client_secret":"` + idp.ClientSecret + `"}`}), 201)
	idp.SignIn(upstreamtest.User{Subject: "ann-up", Email: "ann@example.com", EmailVerified: true}, upstreamtest.Bend{})
	w := upstreamLogin(t, h, "idp", "")
	pending := setCookie(w, "__Host-upstream-link")
	if w.Code != 200 || pending == "" || setCookie(w, "__Host-access") != "" ||
		!strings.Contains(w.Body.String(), "An account with this email exists: sign in to it to link this provider.") {
		t.Fatalf("collision: %d %s", w.Code, w.Body)
	}
	w = h.do(req{method: "GET", path: "/me/identities", as: "ann"})
	if !strings.Contains(w.Body.String(), `"identities":[]`) {
		t.Fatalf("linked before ann signed in: %s", w.Body)
	}
	form := url.Values{"identifier": {"ann@example.com"}, "password": {annPassword}}
	w = h.do(req{method: "POST", path: "/login", body: form.Encode(), contentType: "application/x-www-form-urlencoded",
		headers: map[string]string{"Cookie": "__Host-upstream-link=" + pending, "Sec-Fetch-Site": "same-origin"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	w = h.do(req{method: "GET", path: "/me/identities", as: "ann"})
	if !strings.Contains(w.Body.String(), `"subject":"ann-up"`) {
		t.Fatalf("not linked after ann signed in: %s", w.Body)
	}
	// Now the provider signs ann in.
	w = upstreamLogin(t, h, "idp", "")
	if w.Code != http.StatusSeeOther || setCookie(w, "__Host-access") == "" {
		t.Fatalf("login after the link: %d %s", w.Code, w.Body)
	}
}

func expectStatus(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
}

// A user with an authenticator app passes it after an upstream login too:
// the callback goes to the second login page, whose code finishes the
// sign-in with amr fed, otp, mfa and the provider in idp.
func TestUpstreamLoginAsksTheSecondFactorOnThePages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	idp := upstreamtest.NewOIDC(t)
	idp.Now = h.clock.Now
	expectStatus(t, h.do(req{method: "POST", path: "/providers", as: "admin",
		body: `{"id":"idp","issuer":"` + idp.URL + `","client_id":"` + idp.ClientID + `","client_secret":"` + idp.ClientSecret + `"}`}), 201)
	idp.SignIn(upstreamtest.User{Subject: "kim-1", Email: "kim@example.com", EmailVerified: true}, upstreamtest.Bend{})
	w := upstreamLogin(t, h, "idp", "")
	claims, err := h.app.Guard.Verify(setCookie(w, "__Host-access"))
	if err != nil {
		t.Fatal(err)
	}
	en, err := h.app.Services.Factors.EnrolTOTP(ctx, claims.Subject, claims.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.app.Services.Factors.ConfirmTOTP(ctx, claims.Subject, claims.SessionID, h.code(en.Secret, 0), auth.Client{}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)

	w = upstreamLogin(t, h, "idp", "")
	mfaToken := setCookie(w, "__Host-mfa")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login/mfa?next=%2Fbooks" || mfaToken == "" || setCookie(w, "__Host-access") != "" {
		t.Fatalf("callback of an account with a second factor: %d %s", w.Code, w.Header().Get("Location"))
	}
	form := url.Values{"code": {h.code(en.Secret, 0)}, "next": {"/books"}}
	w = h.do(req{method: "POST", path: "/login/mfa", body: form.Encode(), contentType: "application/x-www-form-urlencoded",
		headers: map[string]string{"Cookie": "__Host-mfa=" + mfaToken, "Sec-Fetch-Site": "same-origin"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/books" {
		t.Fatalf("second step: %d %s", w.Code, w.Body)
	}
	claims, err = h.app.Guard.Verify(setCookie(w, "__Host-access"))
	if err != nil || claims.IDP != "idp" || strings.Join(claims.AMR, " ") != "fed otp mfa" {
		t.Fatalf("claims %+v %v", claims, err)
	}
}

// A provider changed through the API shows on the login page at once, and
// one removed is gone from it; the admin page adds one from its form.
func TestProviderChangesShowOnThePagesAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	page := func() string {
		return h.do(req{method: "GET", path: "/login", headers: map[string]string{"Accept": "text/html"}}).Body.String()
	}
	if strings.Contains(page(), `class="providers"`) {
		t.Fatal("a button without providers")
	}
	form := url.Values{"id": {"github"}, "client_id": {"Iv1.abc"}, "client_secret": {"s3cret"}, "trust_email": {"1"}}
	w := h.do(req{method: "POST", path: "/admin/providers", as: "admin", carrier: "cookie", csrf: true, body: form.Encode(),
		contentType: "application/x-www-form-urlencoded", headers: map[string]string{"Accept": "text/html", "Sec-Fetch-Site": "same-origin"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("admin page form: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(page(), `href="/login/github">Sign in with GitHub</a>`) {
		t.Fatal("the new provider has no button")
	}
	expectStatus(t, h.do(req{method: "PATCH", path: "/providers/github", as: "admin", body: `{"name":"GitHub Enterprise"}`}), 200)
	if !strings.Contains(page(), "Sign in with GitHub Enterprise") {
		t.Fatal("the renamed provider's button kept its name")
	}
	w = h.do(req{method: "GET", path: "/admin/providers", as: "admin", carrier: "cookie", headers: map[string]string{"Accept": "text/html"}})
	if w.Code != 200 || !strings.Contains(w.Body.String(), testIssuer+"/login/github/callback") || strings.Contains(w.Body.String(), "s3cret") {
		t.Fatalf("admin page: %d", w.Code)
	}
	expectStatus(t, h.do(req{method: "DELETE", path: "/providers/github", as: "admin"}), 204)
	if strings.Contains(page(), `class="providers"`) {
		t.Fatal("the removed provider kept its button")
	}
}

// An account made through an OpenID provider has no password: the security
// page offers to confirm a sensitive change by signing in again there
// (prompt=login, max_age=0), the callback renews the session's sign-in and
// goes back to the page; a callback arriving in another session of the
// user renews nothing and asks again.
func TestSecurityPageReauthenticatesThroughTheLinkedProvider(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	idp := upstreamtest.NewOIDC(t)
	idp.Now = h.clock.Now
	expectStatus(t, h.do(req{method: "POST", path: "/providers", as: "admin",
		body: `{"id":"idp","name":"Example ID","issuer":"` + idp.URL + `","client_id":"` + idp.ClientID + `","client_secret":"` + idp.ClientSecret + `"}`}), 201)
	idp.SignIn(upstreamtest.User{Subject: "nora-1", Email: "nora@example.com", EmailVerified: true}, upstreamtest.Bend{})
	access := setCookie(upstreamLogin(t, h, "idp", ""), "__Host-access")
	other := setCookie(upstreamLogin(t, h, "idp", ""), "__Host-access") // another browser of the same user
	h.clock.Advance(12 * time.Minute)                                   // past --reauth-max-age, within the access token's life
	form := func(path, access string, values url.Values) *httptest.ResponseRecorder {
		values.Set("csrf_token", "c1")
		return h.do(req{method: "POST", path: path, body: values.Encode(), contentType: "application/x-www-form-urlencoded",
			headers: map[string]string{"Cookie": "__Host-access=" + access + "; __Host-csrf=c1", "Sec-Fetch-Site": "same-origin"}})
	}

	w := form("/security/totp", access, url.Values{})
	body := w.Body.String()
	if w.Code != http.StatusForbidden || !strings.Contains(body, `action="/security/reauthenticate/idp"`) || !strings.Contains(body, "Confirm with Example ID") ||
		!strings.Contains(w.Header().Get("Content-Security-Policy"), "form-action 'self' "+idp.URL) {
		t.Fatalf("a stale sign-in's change: %d %s %s", w.Code, w.Header().Get("Content-Security-Policy"), body)
	}

	reauth := func(access string) (callback, flow string) {
		w := form("/security/reauthenticate/idp", access, url.Values{"next": {"/security?done=reauth"}})
		target, err := url.Parse(w.Header().Get("Location"))
		if w.Code != http.StatusSeeOther || err != nil || target.Query().Get("prompt") != "login" || target.Query().Get("max_age") != "0" {
			t.Fatalf("confirm with the provider: %d %s", w.Code, w.Header().Get("Location"))
		}
		return callbackOf(t, target.String()), setCookie(w, "__Host-upstream")
	}
	// Started in one session, arriving in another: refused, nothing renewed.
	callback, flow := reauth(access)
	w = h.do(req{method: "GET", path: callback, headers: map[string]string{"Accept": "text/html",
		"Cookie": "__Host-upstream=" + flow + "; __Host-access=" + other + "; __Host-csrf=c1"}})
	if w.Code == http.StatusSeeOther || setCookie(w, "__Host-access") != "" || !strings.Contains(w.Body.String(), `action="/security/reauthenticate/idp"`) {
		t.Fatalf("callback in another session: %d %s", w.Code, w.Body)
	}
	if w := form("/security/totp", access, url.Values{}); w.Code != http.StatusForbidden {
		t.Fatalf("the refused callback renewed the sign-in: %d", w.Code)
	}

	callback, flow = reauth(access)
	w = h.do(req{method: "GET", path: callback, headers: map[string]string{"Accept": "text/html",
		"Cookie": "__Host-upstream=" + flow + "; __Host-access=" + access + "; __Host-csrf=c1"}})
	renewed := setCookie(w, "__Host-access")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/security?done=reauth" || renewed == "" {
		t.Fatalf("the provider's callback: %d %s %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	claims, err := h.app.Guard.Verify(renewed)
	if err != nil || !claims.AuthTime.Equal(h.clock.Now().Truncate(time.Second)) {
		t.Fatalf("renewed claims %+v %v", claims, err)
	}
	if w := form("/security/totp", renewed, url.Values{}); w.Code != http.StatusSeeOther {
		t.Fatalf("the change after the re-authentication: %d %s", w.Code, w.Body)
	}
}
