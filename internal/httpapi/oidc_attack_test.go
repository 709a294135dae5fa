package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/oidc"
)

// What an attacker sends to the authorization and token endpoints. Every
// row runs on a fresh server.
func TestOIDCAttackTable(t *testing.T) {
	t.Parallel()
	_, challenge := pkcePair("a")
	// Redirect URIs that are not the registered one get the error page and
	// never a redirect (no Location at all).
	redirects := []struct{ name, client, uri string }{
		{"suffix", "web", rpRedirect + "/evil"},
		{"suffix glued", "web", rpRedirect + "x"},
		{"prefix", "web", "https://rp.example/call"},
		{"path traversal out", "web", rpRedirect + "/../evil"},
		{"path traversal in", "web", "https://rp.example/evil/../callback"},
		{"encoded traversal", "web", "https://rp.example/callback/%2e%2e/evil"},
		{"host case", "web", "https://RP.example/callback"},
		{"path case", "web", "https://rp.example/Callback"},
		{"fragment", "web", rpRedirect + "#frag"},
		{"empty fragment", "web", rpRedirect + "#"},
		{"query added", "web", rpRedirect + "?next=https://evil.example"},
		{"other port on a non-loopback host", "web", "https://rp.example:8443/callback"},
		{"scheme downgrade", "web", "http://rp.example/callback"},
		{"subdomain of attacker", "web", "https://rp.example.evil.example/callback"},
		{"userinfo trick", "web", "https://rp.example@evil.example/callback"},
		{"trailing slash", "web", rpRedirect + "/"},
		{"missing", "web", ""},
		{"loopback other host name", "spa", "http://localhost:4000/cb"},
		{"loopback other address", "spa", "http://[::1]:4000/cb"},
		{"loopback other path", "spa", "http://127.0.0.1:4000/cb/x"},
		{"loopback https", "spa", "https://127.0.0.1:4000/cb"},
	}
	for _, rc := range redirects {
		t.Run("redirect_uri "+rc.name, func(t *testing.T) {
			f := newOIDC(t)
			c := map[string]oidc.Client{"web": f.web, "spa": f.spa}[rc.client]
			q := authParams(c, rc.uri, challenge)
			if rc.uri == "" {
				q.Del("redirect_uri")
			}
			for _, as := range []string{"", "ann"} {
				w := f.authorize(as, q)
				if w.Code != 400 || w.Header().Get("Location") != "" || !strings.Contains(w.Header().Get("Content-Type"), "text/html") {
					t.Fatalf("as %q: %d, Location %q: want the error page", as, w.Code, w.Header().Get("Location"))
				}
			}
		})
	}
	t.Run("unknown client: the error page", func(t *testing.T) {
		f := newOIDC(t)
		q := authParams(f.web, rpRedirect, challenge)
		q.Set("client_id", "0190aaaa-0000-7000-8000-000000000000")
		if w := f.authorize("ann", q); w.Code != 400 || w.Header().Get("Location") != "" {
			t.Fatalf("%d %q", w.Code, w.Header().Get("Location"))
		}
	})
	t.Run("loopback any port is the registered URI", func(t *testing.T) {
		f := newOIDC(t)
		if got := redirectQuery(t, f.authorize("ann", authParams(f.spa, "http://127.0.0.1:61000/cb", challenge)), "http://127.0.0.1:61000/cb"); got.Get("code") == "" {
			t.Fatalf("%v", got)
		}
	})
	t.Run("loopback ports that are no port are not the registered URI", func(t *testing.T) {
		for _, uri := range []string{"http://127.0.0.1:99999/cb", "http://127.0.0.1:0005555/cb", "http://127.0.0.1:0/cb"} {
			f := newOIDC(t)
			if w := f.authorize("ann", authParams(f.spa, uri, challenge)); w.Code != 400 || w.Header().Get("Location") != "" {
				t.Fatalf("%s: %d %q, want the error page", uri, w.Code, w.Header().Get("Location"))
			}
		}
	})

	// Parameters that are wrong once the redirect URI is trusted: an error
	// redirect, with state and iss.
	badParams := []struct {
		name, code string
		change     func(q url.Values)
	}{
		{"PKCE missing (public client)", "invalid_request", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }},
		{"PKCE plain", "invalid_request", func(q url.Values) { q.Set("code_challenge_method", "plain") }},
		{"PKCE method missing (plain by default)", "invalid_request", func(q url.Values) { q.Del("code_challenge_method") }},
		{"PKCE challenge not a SHA-256", "invalid_request", func(q url.Values) { q.Set("code_challenge", "short") }},
		{"implicit flow", "unsupported_response_type", func(q url.Values) { q.Set("response_type", "token") }},
		{"hybrid flow", "unsupported_response_type", func(q url.Values) { q.Set("response_type", "code id_token") }},
		{"scope beyond the client's", "invalid_scope", func(q url.Values) { q.Set("scope", "openid admin") }},
		{"repeated parameter", "invalid_request", func(q url.Values) { q["scope"] = []string{"openid", "openid email"} }},
		{"prompt none with login", "invalid_request", func(q url.Values) { q.Set("prompt", "none login") }},
		{"bad max_age", "invalid_request", func(q url.Values) { q.Set("max_age", "-1") }},
		{"form_post response mode", "invalid_request", func(q url.Values) { q.Set("response_mode", "form_post") }},
	}
	for _, bc := range badParams {
		t.Run(bc.name, func(t *testing.T) {
			f := newOIDC(t)
			q := authParams(f.spa, spaRedirect, challenge)
			bc.change(q)
			got := redirectQuery(t, f.authorize("ann", q), spaRedirect)
			if got.Get("error") != bc.code || got.Get("state") != "st-123" || got.Get("iss") != testIssuer || got.Get("code") != "" {
				t.Fatalf("want error %s with state and iss, got %v", bc.code, got)
			}
		})
	}

	t.Run("state round-trips byte for byte, so the RP can compare it", func(t *testing.T) {
		f := newOIDC(t)
		q := authParams(f.spa, spaRedirect, challenge)
		q.Set("state", `a&b=c d+e/%?#"<>`)
		if got := redirectQuery(t, f.authorize("ann", q), spaRedirect); got.Get("state") != `a&b=c d+e/%?#"<>` {
			t.Fatalf("state %q", got.Get("state"))
		}
	})
	t.Run("mix-up: iss names this issuer in every redirect (RFC 9207)", func(t *testing.T) {
		f := newOIDC(t)
		ok := redirectQuery(t, f.authorize("ann", authParams(f.spa, spaRedirect, challenge)), spaRedirect)
		q := authParams(f.spa, spaRedirect, challenge)
		q.Set("response_type", "token")
		bad := redirectQuery(t, f.authorize("ann", q), spaRedirect)
		disc := decode(t, f.do(req{method: "GET", path: "/.well-known/openid-configuration"}))
		if ok.Get("iss") != disc["issuer"] || bad.Get("iss") != disc["issuer"] || disc["authorization_response_iss_parameter_supported"] != true {
			t.Fatalf("iss %q / %q, issuer %v", ok.Get("iss"), bad.Get("iss"), disc["issuer"])
		}
	})
	t.Run("consent without the CSRF token", func(t *testing.T) {
		f := newOIDC(t)
		form := authParams(f.web, rpRedirect, challenge)
		form.Set("consent", "allow")
		w := f.do(req{method: "POST", path: "/authorize", as: "ann", carrier: "cookie", body: form.Encode(),
			contentType: "application/x-www-form-urlencoded"})
		if w.Code != 403 || w.Header().Get("Location") != "" {
			t.Fatalf("%d %q", w.Code, w.Header().Get("Location"))
		}
	})
	t.Run("consent posted from another site", func(t *testing.T) {
		f := newOIDC(t)
		form := authParams(f.web, rpRedirect, challenge)
		form.Set("consent", "allow")
		form.Set("csrf_token", "csrf-ann")
		w := f.do(req{method: "POST", path: "/authorize", as: "ann", carrier: "cookie", body: form.Encode(),
			contentType: "application/x-www-form-urlencoded", headers: map[string]string{"Sec-Fetch-Site": "cross-site"}})
		if w.Code != 403 || w.Header().Get("Location") != "" {
			t.Fatalf("%d %q", w.Code, w.Header().Get("Location"))
		}
	})

	// The token endpoint.
	tokenRows := []struct {
		name string
		run  func(t *testing.T, f *oidcFixture)
	}{
		{"code replay revokes what the code issued", func(t *testing.T, f *oidcFixture) {
			verifier, ch := pkcePair("r")
			code := f.codeFor("ann", authParams(f.web, rpRedirect, ch))
			tok := f.exchange(code, verifier)
			if w := f.token(codeForm(code, rpRedirect, verifier), f.webBasic()); w.Code != 400 || oauthError(w) != "invalid_grant" {
				t.Fatalf("replay: %d %s", w.Code, w.Body)
			}
			if w := f.do(req{method: "GET", path: "/userinfo", headers: map[string]string{"Authorization": "Bearer " + tok["access_token"].(string)}}); w.Code != 401 {
				t.Fatalf("the first exchange's access token survived the replay: %d", w.Code)
			}
			if w := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, f.webBasic()); w.Code != 400 {
				t.Fatalf("the first exchange's refresh token survived the replay: %d", w.Code)
			}
		}},
		{"code from another client", func(t *testing.T, f *oidcFixture) {
			other, secret, err := f.app.Clients.Add(context.Background(), oidc.ClientInput{Name: "Other", RedirectURIs: []string{rpRedirect}})
			if err != nil {
				t.Fatal(err)
			}
			verifier, ch := pkcePair("o")
			code := f.codeFor("ann", authParams(f.web, rpRedirect, ch))
			if w := f.token(codeForm(code, rpRedirect, verifier), other.ID+":"+secret); oauthError(w) != "invalid_grant" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		}},
		{"wrong PKCE verifier", func(t *testing.T, f *oidcFixture) {
			_, ch := pkcePair("w")
			code := f.codeFor("ann", authParams(f.web, rpRedirect, ch))
			wrong, _ := pkcePair("x")
			if w := f.token(codeForm(code, rpRedirect, wrong), f.webBasic()); oauthError(w) != "invalid_grant" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		}},
		{"missing PKCE verifier", func(t *testing.T, f *oidcFixture) {
			_, ch := pkcePair("m")
			code := f.codeFor("ann", authParams(f.web, rpRedirect, ch))
			if w := f.token(codeForm(code, rpRedirect, ""), f.webBasic()); oauthError(w) != "invalid_grant" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		}},
		{"the challenge itself as verifier", func(t *testing.T, f *oidcFixture) {
			_, ch := pkcePair("c")
			code := f.codeFor("ann", authParams(f.web, rpRedirect, ch))
			if w := f.token(codeForm(code, rpRedirect, ch), f.webBasic()); oauthError(w) != "invalid_grant" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		}},
		{"downgrade: a verifier for a code issued without a challenge", func(t *testing.T, f *oidcFixture) {
			no := false
			c, secret, err := f.app.Clients.Add(context.Background(), oidc.ClientInput{Name: "No PKCE", RedirectURIs: []string{rpRedirect},
				RequirePKCE: &no, RequireConsent: &no})
			if err != nil {
				t.Fatal(err)
			}
			q := authParams(c, rpRedirect, "")
			q.Del("code_challenge")
			q.Del("code_challenge_method")
			code := f.codeFor("ann", q)
			verifier, _ := pkcePair("d")
			if w := f.token(codeForm(code, rpRedirect, verifier), c.ID+":"+secret); oauthError(w) != "invalid_grant" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		}},
		{"redirect_uri differs at the token endpoint", func(t *testing.T, f *oidcFixture) {
			verifier, ch := pkcePair("u")
			code := f.codeFor("ann", authParams(f.web, rpRedirect, ch))
			if w := f.token(codeForm(code, rpRedirect+"/x", verifier), f.webBasic()); oauthError(w) != "invalid_grant" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		}},
		{"expired code (60 s)", func(t *testing.T, f *oidcFixture) {
			verifier, ch := pkcePair("e")
			code := f.codeFor("ann", authParams(f.web, rpRedirect, ch))
			f.clock.Advance(oidc.CodeTTL)
			if w := f.token(codeForm(code, rpRedirect, verifier), f.webBasic()); oauthError(w) != "invalid_grant" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		}},
		{"wrong client secret", func(t *testing.T, f *oidcFixture) {
			verifier, ch := pkcePair("s")
			code := f.codeFor("ann", authParams(f.web, rpRedirect, ch))
			w := f.token(codeForm(code, rpRedirect, verifier), f.web.ID+":not-the-secret")
			if w.Code != 401 || oauthError(w) != "invalid_client" || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("%d %s %v", w.Code, w.Body, w.Header())
			}
			if tok := f.exchange(code, verifier); tok["access_token"] == nil { // the code is still good for its client
				t.Fatal("no token")
			}
		}},
		{"two client authentication methods", func(t *testing.T, f *oidcFixture) {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_secret": {f.webSecret}}
			if w := f.token(form, f.webBasic()); oauthError(w) != "invalid_request" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		}},
		{"password grant does not exist", func(t *testing.T, f *oidcFixture) {
			form := url.Values{"grant_type": {"password"}, "username": {"ann"}, "password": {annPassword}}
			if w := f.token(form, f.webBasic()); oauthError(w) != "unsupported_grant_type" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		}},
		{"JSON body refused", func(t *testing.T, f *oidcFixture) {
			w := f.do(req{method: "POST", path: "/oauth/token", body: `{"grant_type":"authorization_code"}`})
			if w.Code != 400 || oauthError(w) != "invalid_request" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		}},
		{"another client's refresh token", func(t *testing.T, f *oidcFixture) {
			verifier, ch := pkcePair("t")
			q := authParams(f.spa, spaRedirect, ch)
			code := f.codeFor("ann", q)
			w := f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spaRedirect},
				"code_verifier": {verifier}, "client_id": {f.spa.ID}}, "")
			rt := decode(t, w)["refresh_token"].(string)
			if w := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, f.webBasic()); oauthError(w) != "invalid_grant" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			// Untouched: its own client still refreshes it.
			if w := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {f.spa.ID}}, ""); w.Code != 200 {
				t.Fatalf("own refresh after the attempt: %d %s", w.Code, w.Body)
			}
		}},
		{"a first-party refresh token at /oauth/token, and a client's at /token/refresh", func(t *testing.T, f *oidcFixture) {
			if w := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {f.tokens["ann"].RefreshToken}}, f.webBasic()); oauthError(w) != "invalid_grant" {
				t.Fatalf("first-party at /oauth/token: %d %s", w.Code, w.Body)
			}
			verifier, ch := pkcePair("f")
			tok := f.exchange(f.codeFor("ann", authParams(f.web, rpRedirect, ch)), verifier)
			if w := f.do(req{method: "POST", path: "/token/refresh", body: `{"refresh_token":"` + tok["refresh_token"].(string) + `"}`}); w.Code != 401 {
				t.Fatalf("client's at /token/refresh: %d %s", w.Code, w.Body)
			}
		}},
		{"userinfo with a first-party token", func(t *testing.T, f *oidcFixture) {
			w := f.do(req{method: "GET", path: "/userinfo", as: "ann"})
			if w.Code != 401 || oauthError(w) != "invalid_token" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		}},
	}
	for _, row := range tokenRows {
		t.Run(row.name, func(t *testing.T) { row.run(t, newOIDC(t)) })
	}

	// End-session never redirects anywhere unregistered.
	for _, uri := range []string{"https://evil.example/", rpLogout + "/x", rpLogout + "?a=1", "https://RP.example/bye", "//evil.example", "javascript:alert(1)"} {
		t.Run("end-session open redirect "+uri, func(t *testing.T) {
			f := newOIDC(t)
			q := url.Values{"post_logout_redirect_uri": {uri}, "client_id": {f.web.ID}}
			w := f.do(req{method: "GET", path: "/oauth/end-session?" + q.Encode(), as: "ann", carrier: "cookie"})
			if w.Code != 400 || w.Header().Get("Location") != "" {
				t.Fatalf("%d %q", w.Code, w.Header().Get("Location"))
			}
		})
	}
}

// The OpenID Foundation's "Basic OP" conformance profile, one row per
// module's expectation (https://openid.net/certification/ "Basic OP";
// module names as in the conformance suite).
func TestOIDCBasicOPChecklist(t *testing.T) {
	t.Parallel()
	verifier, challenge := pkcePair("b")
	type fixture = oidcFixture
	flow := func(t *testing.T, f *fixture, q url.Values) map[string]any {
		t.Helper()
		return f.exchange(f.codeFor("ann", q), verifier)
	}
	web := func(f *fixture) url.Values { return authParams(f.web, rpRedirect, challenge) }
	userinfo := func(t *testing.T, f *fixture, r req) map[string]any {
		t.Helper()
		w := f.do(r)
		if w.Code != 200 {
			t.Fatalf("userinfo: %d %s", w.Code, w.Body)
		}
		return decode(t, w)
	}
	rows := []struct {
		module, expectation string
		run                 func(t *testing.T, f *fixture)
	}{
		{"oidcc-server", "the code flow returns an ID token with iss, sub, aud, exp, iat, nonce", func(t *testing.T, f *fixture) {
			c := f.idClaims(t, flow(t, f, web(f))["id_token"].(string), "EdDSA")
			for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "nonce", "auth_time"} {
				if c[k] == nil {
					t.Errorf("no %s", k)
				}
			}
		}},
		{"oidcc-discovery-issuer-not-matching-config", "the discovery issuer is the issuer of tokens", func(t *testing.T, f *fixture) {
			d := decode(t, f.do(req{method: "GET", path: "/.well-known/openid-configuration"}))
			if c := f.idClaims(t, flow(t, f, web(f))["id_token"].(string), "EdDSA"); c["iss"] != d["issuer"] {
				t.Fatalf("%v vs %v", c["iss"], d["issuer"])
			}
		}},
		{"oidcc-response-type-missing", "no response_type: an error redirect", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Del("response_type")
			if got := redirectQuery(t, f.authorize("ann", q), rpRedirect); got.Get("error") != "unsupported_response_type" {
				t.Fatalf("%v", got)
			}
		}},
		{"oidcc-userinfo-get", "userinfo by GET with a Bearer header", func(t *testing.T, f *fixture) {
			at := flow(t, f, web(f))["access_token"].(string)
			if m := userinfo(t, f, req{method: "GET", path: "/userinfo", headers: map[string]string{"Authorization": "Bearer " + at}}); m["sub"] != f.users["ann"].ID {
				t.Fatal(m)
			}
		}},
		{"oidcc-userinfo-post-header", "userinfo by POST with a Bearer header", func(t *testing.T, f *fixture) {
			at := flow(t, f, web(f))["access_token"].(string)
			userinfo(t, f, req{method: "POST", path: "/userinfo", headers: map[string]string{"Authorization": "Bearer " + at}})
		}},
		{"oidcc-userinfo-post-body", "userinfo by POST with access_token in the form body", func(t *testing.T, f *fixture) {
			at := flow(t, f, web(f))["access_token"].(string)
			userinfo(t, f, req{method: "POST", path: "/userinfo", body: "access_token=" + at, contentType: "application/x-www-form-urlencoded"})
		}},
		{"oidcc-ensure-request-without-nonce-succeeds-for-code-flow", "no nonce is fine in the code flow", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Del("nonce")
			if c := f.idClaims(t, flow(t, f, q)["id_token"].(string), "EdDSA"); c["nonce"] != nil {
				t.Fatalf("nonce %v", c["nonce"])
			}
		}},
		{"oidcc-scope-profile", "scope profile: name and preferred_username at userinfo", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Set("scope", "openid profile")
			at := flow(t, f, q)["access_token"].(string)
			m := userinfo(t, f, req{method: "GET", path: "/userinfo", headers: map[string]string{"Authorization": "Bearer " + at}})
			if m["name"] != "Ann" || m["preferred_username"] != "ann" || m["email"] != nil {
				t.Fatal(m)
			}
		}},
		{"oidcc-scope-email", "scope email: email and email_verified at userinfo", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Set("scope", "openid email")
			at := flow(t, f, q)["access_token"].(string)
			m := userinfo(t, f, req{method: "GET", path: "/userinfo", headers: map[string]string{"Authorization": "Bearer " + at}})
			if m["email"] != "ann@example.com" || m["email_verified"] == nil || m["name"] != nil {
				t.Fatal(m)
			}
		}},
		{"oidcc-scope-all", "every scope at once", func(t *testing.T, f *fixture) {
			flow(t, f, web(f))
		}},
		{"oidcc-ensure-other-scope-order-succeeds", "scopes in another order", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Set("scope", "email openid")
			flow(t, f, q)
		}},
		{"oidcc-display-page", "display=page is accepted (ignored)", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Set("display", "page")
			flow(t, f, q)
		}},
		{"oidcc-display-popup", "display=popup is accepted (ignored)", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Set("display", "popup")
			flow(t, f, q)
		}},
		{"oidcc-prompt-login", "prompt=login asks for a login though signed in", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Set("prompt", "login")
			if w := f.authorize("ann", q); !strings.HasPrefix(w.Header().Get("Location"), "/login?") {
				t.Fatalf("%d %q", w.Code, w.Header().Get("Location"))
			}
		}},
		{"oidcc-prompt-none-not-logged-in", "prompt=none without a session: login_required", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Set("prompt", "none")
			if got := redirectQuery(t, f.authorize("", q), rpRedirect); got.Get("error") != "login_required" {
				t.Fatal(got)
			}
		}},
		{"oidcc-prompt-none-logged-in", "prompt=none with a session and consent: a code", func(t *testing.T, f *fixture) {
			flow(t, f, web(f)) // consents
			q := web(f)
			q.Set("prompt", "none")
			if got := redirectQuery(t, f.authorize("ann", q), rpRedirect); got.Get("code") == "" {
				t.Fatal(got)
			}
		}},
		{"oidcc-max-age-1", "max_age=1 after a wait: a new login", func(t *testing.T, f *fixture) {
			f.clock.Advance(2 * time.Second)
			q := web(f)
			q.Set("max_age", "1")
			if w := f.authorize("ann", q); !strings.HasPrefix(w.Header().Get("Location"), "/login?") {
				t.Fatalf("%d %q", w.Code, w.Header().Get("Location"))
			}
		}},
		{"oidcc-max-age-10000", "max_age=10000: a code, and auth_time in the ID token", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Set("max_age", "10000")
			if c := f.idClaims(t, flow(t, f, q)["id_token"].(string), "EdDSA"); c["auth_time"] == nil {
				t.Fatal("no auth_time")
			}
		}},
		{"oidcc-id-token-hint", "prompt=none with an id_token_hint: a code", func(t *testing.T, f *fixture) {
			hint := flow(t, f, web(f))["id_token"].(string)
			q := web(f)
			q.Set("prompt", "none")
			q.Set("id_token_hint", hint)
			if got := redirectQuery(t, f.authorize("ann", q), rpRedirect); got.Get("code") == "" {
				t.Fatal(got)
			}
		}},
		{"oidcc-login-hint", "login_hint fills the login form", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Set("login_hint", "bob@example.com")
			loc, _ := url.Parse(f.authorize("", q).Header().Get("Location"))
			if w := f.do(req{method: "GET", path: loc.RequestURI()}); !strings.Contains(w.Body.String(), `value="bob@example.com"`) {
				t.Fatal("hint not shown")
			}
		}},
		{"oidcc-ui-locales", "ui_locales is accepted (ignored)", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Set("ui_locales", "se")
			flow(t, f, q)
		}},
		{"oidcc-claims-locales", "claims_locales is accepted (ignored)", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Set("claims_locales", "se")
			flow(t, f, q)
		}},
		{"oidcc-ensure-registered-redirect-uri", "an unregistered redirect_uri: an error page, no redirect", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Set("redirect_uri", "https://rp.example/other")
			if w := f.authorize("ann", q); w.Code != 400 || w.Header().Get("Location") != "" {
				t.Fatalf("%d", w.Code)
			}
		}},
		{"oidcc-ensure-redirect-uri-in-authorization-request", "no redirect_uri: an error page", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Del("redirect_uri")
			if w := f.authorize("ann", q); w.Code != 400 || w.Header().Get("Location") != "" {
				t.Fatalf("%d", w.Code)
			}
		}},
		{"oidcc-codereuse", "a code works once", func(t *testing.T, f *fixture) {
			code := f.codeFor("ann", web(f))
			f.exchange(code, verifier)
			if w := f.token(codeForm(code, rpRedirect, verifier), f.webBasic()); oauthError(w) != "invalid_grant" {
				t.Fatal(w.Body)
			}
		}},
		{"oidcc-codereuse-30seconds", "a code reused 30 s later fails and revokes its access token", func(t *testing.T, f *fixture) {
			code := f.codeFor("ann", web(f))
			at := f.exchange(code, verifier)["access_token"].(string)
			f.clock.Advance(30 * time.Second)
			f.token(codeForm(code, rpRedirect, verifier), f.webBasic())
			if w := f.do(req{method: "GET", path: "/userinfo", headers: map[string]string{"Authorization": "Bearer " + at}}); w.Code != 401 {
				t.Fatalf("%d", w.Code)
			}
		}},
		{"oidcc-server-client-secret-post", "client_secret_post works", func(t *testing.T, f *fixture) {
			form := codeForm(f.codeFor("ann", web(f)), rpRedirect, verifier)
			form.Set("client_id", f.web.ID)
			form.Set("client_secret", f.webSecret)
			if w := f.token(form, ""); w.Code != 200 {
				t.Fatal(w.Body)
			}
		}},
		{"oidcc-ensure-post-request-succeeds", "the authorization request as a POST form", func(t *testing.T, f *fixture) {
			flow(t, f, web(f)) // consent first, so the POST answers with the code
			w := f.do(req{method: "POST", path: "/authorize", as: "ann", carrier: "cookie", body: web(f).Encode(),
				contentType: "application/x-www-form-urlencoded"})
			if got := redirectQuery(t, w, rpRedirect); got.Get("code") == "" {
				t.Fatal(got)
			}
		}},
		{"oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported", "request objects: request_not_supported", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Set("request", "eyJhbGciOiJub25lIn0.e30.")
			if got := redirectQuery(t, f.authorize("ann", q), rpRedirect); got.Get("error") != "request_not_supported" {
				t.Fatal(got)
			}
		}},
		{"oidcc-request-uri-unsigned", "request_uri: request_uri_not_supported", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Set("request_uri", "https://rp.example/req")
			if got := redirectQuery(t, f.authorize("ann", q), rpRedirect); got.Get("error") != "request_uri_not_supported" {
				t.Fatal(got)
			}
		}},
		{"oidcc-claims-essential", "the claims parameter is accepted (ignored)", func(t *testing.T, f *fixture) {
			q := web(f)
			q.Set("claims", `{"userinfo":{"name":{"essential":true}}}`)
			flow(t, f, q)
		}},
		{"oidcc-refresh-token", "a refresh token rotates and returns a new ID token", func(t *testing.T, f *fixture) {
			rt := flow(t, f, web(f))["refresh_token"].(string)
			w := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, f.webBasic())
			if w.Code != 200 || decode(t, w)["id_token"] == nil {
				t.Fatal(w.Body)
			}
		}},
		{"oidcc-id-token-signature", "the ID token's alg is advertised and its kid is in the JWKS", func(t *testing.T, f *fixture) {
			f.idClaims(t, flow(t, f, web(f))["id_token"].(string), "EdDSA")
		}},
		{"oidcc-redirect-uri-query-OK", "a registered redirect URI with a query matches exactly", func(t *testing.T, f *fixture) {
			no := false
			c, _, err := f.app.Clients.Add(context.Background(), oidc.ClientInput{Name: "Q", RedirectURIs: []string{rpRedirect + "?foo=bar"}, RequireConsent: &no})
			if err != nil {
				t.Fatal(err)
			}
			got := redirectQuery(t, f.authorize("ann", authParams(c, rpRedirect+"?foo=bar", challenge)), rpRedirect)
			if got.Get("foo") != "bar" || got.Get("code") == "" {
				t.Fatal(got)
			}
		}},
		{"oidcc-redirect-uri-query-mismatch", "another query than registered: the error page", func(t *testing.T, f *fixture) {
			no := false
			c, _, err := f.app.Clients.Add(context.Background(), oidc.ClientInput{Name: "Q", RedirectURIs: []string{rpRedirect + "?foo=bar"}, RequireConsent: &no})
			if err != nil {
				t.Fatal(err)
			}
			if w := f.authorize("ann", authParams(c, rpRedirect+"?foo=baz", challenge)); w.Code != 400 || w.Header().Get("Location") != "" {
				t.Fatalf("%d", w.Code)
			}
		}},
	}
	for _, row := range rows {
		t.Run(row.module, func(t *testing.T) {
			f := newOIDC(t)
			row.run(t, f)
			if t.Failed() {
				t.Logf("expectation: %s", row.expectation)
			}
		})
	}
	_ = http.StatusOK
}
