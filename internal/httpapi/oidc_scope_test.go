package httpapi_test

import (
	"net/url"
	"testing"
	"time"
)

// A refresh asking for a narrower scope (RFC 6749 6) gets tokens of that
// scope alone: the access token (as introspection and userinfo see it), the
// ID token and the response's scope. The session keeps the granted scope:
// a later refresh without scope gets all of it again, and one wider than
// the grant is invalid_scope.
func TestNarrowedRefreshLimitsTheToken(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	verifier, challenge := pkcePair("w")
	tok := f.exchange(f.codeFor("ann", authParams(f.web, rpRedirect, challenge)), verifier)
	rt := tok["refresh_token"].(string)
	refresh := func(scope string) map[string]any {
		t.Helper()
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		if scope != "" {
			form.Set("scope", scope)
		}
		w := f.token(form, f.webBasic())
		if w.Code != 200 {
			t.Fatalf("refresh with scope %q: %d %s", scope, w.Code, w.Body)
		}
		out := decode(t, w)
		rt = out["refresh_token"].(string)
		return out
	}
	introspected := func(token string) string {
		t.Helper()
		form := url.Values{"token": {token}, "client_id": {f.web.ID}, "client_secret": {f.webSecret}}
		w := f.do(req{method: "POST", path: "/oauth/introspect", body: form.Encode(), contentType: "application/x-www-form-urlencoded"})
		s, _ := decode(t, w)["scope"].(string)
		return s
	}
	userinfo := func(token string) map[string]any {
		t.Helper()
		w := f.do(req{method: "GET", path: "/userinfo", headers: bearer(token)})
		if w.Code != 200 {
			t.Fatalf("userinfo: %d %s", w.Code, w.Body)
		}
		return decode(t, w)
	}

	narrow := refresh("openid")
	if narrow["scope"] != "openid" {
		t.Fatalf("response scope %v, want openid", narrow["scope"])
	}
	if s := introspected(narrow["access_token"].(string)); s != "openid" {
		t.Fatalf("the narrowed access token carries %q", s)
	}
	if u := userinfo(narrow["access_token"].(string)); u["email"] != nil || u["name"] != nil || u["sub"] != f.users["ann"].ID {
		t.Fatalf("userinfo of the narrowed token: %v", u)
	}
	if idc := f.idClaims(t, narrow["id_token"].(string), "EdDSA"); idc["email"] != nil || idc["name"] != nil {
		t.Fatalf("ID token of the narrowed refresh: %v", idc)
	}
	if s := introspected(rt); s != "openid profile email offline_access" {
		t.Fatalf("the refresh token's scope after a narrowed refresh: %q", s)
	}

	full := refresh("")
	if full["scope"] != "openid profile email offline_access" || introspected(full["access_token"].(string)) != full["scope"] {
		t.Fatalf("a refresh without scope after a narrowed one: %v", full["scope"])
	}
	if u := userinfo(full["access_token"].(string)); u["email"] != "ann@example.com" {
		t.Fatalf("userinfo after the full refresh: %v", u)
	}
	if narrow := refresh("email openid"); narrow["scope"] != "email openid" || narrow["id_token"] == nil {
		t.Fatalf("a second narrowed refresh: %v", narrow["scope"])
	}

	for _, wider := range []string{"openid admin", "openid email profile offline_access books"} {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {wider}}
		if w := f.token(form, f.webBasic()); w.Code != 400 || oauthError(w) != "invalid_scope" {
			t.Fatalf("scope %q: %d %s", wider, w.Code, w.Body)
		}
	}
}

// Regression: a refresh asking for a wider scope than granted was refused
// (invalid_scope) only after the refresh token had been rotated: the client
// kept its old token, and presenting it after the grace window counted as
// reuse and ended the whole session.
func TestRefreshWiderScopeSpendsNothing(t *testing.T) {
	t.Parallel()
	f := newOIDC(t)
	verifier, challenge := pkcePair("s")
	q := authParams(f.web, rpRedirect, challenge)
	q.Set("scope", "openid offline_access")
	tok := f.exchange(f.codeFor("ann", q), verifier)
	rt := tok["refresh_token"].(string)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"openid email offline_access"}}
	if w := f.token(form, f.webBasic()); w.Code != 400 || oauthError(w) != "invalid_scope" {
		t.Fatalf("wider scope: %d %s", w.Code, w.Body)
	}
	f.clock.Advance(time.Minute) // past the reuse grace
	form.Del("scope")
	if w := f.token(form, f.webBasic()); w.Code != 200 {
		t.Fatalf("the refresh token after a refused wider scope: %d %s", w.Code, w.Body)
	}
}
