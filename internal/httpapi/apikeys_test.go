package httpapi_test

import (
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
)

// createKey makes a key for who through the API and returns the key and
// its id.
func (h *harness) createKey(who string, scopes ...string) (string, string) {
	h.t.Helper()
	body := `{"name":"script","scopes":["` + strings.Join(scopes, `","`) + `"]}`
	w := h.do(req{method: "POST", path: "/me/api-keys", as: who, body: body})
	if w.Code != 201 {
		h.t.Fatalf("create key: %d %s", w.Code, w.Body)
	}
	m := decode(h.t, w)
	return m["key"].(string), field(m, "api_key", "id").(string)
}

// withKey is r sent with key as its bearer token.
func withKey(key string, r req) req {
	r.headers = map[string]string{"Authorization": "Bearer " + key}
	return r
}

func TestAPIKeyLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.do(req{method: "POST", path: "/me/api-keys", as: "ann", body: `{"name":" CI deploy ","scopes":["books:read","me:read"],"expires_in":3600}`})
	if w.Code != 201 || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d %v %s", w.Code, w.Header(), w.Body)
	}
	m := decode(t, w)
	key := m["key"].(string)
	if !auth.IsAPIKey(key) || field(m, "api_key", "name") != "CI deploy" || field(m, "api_key", "prefix") != key[:11] ||
		field(m, "api_key", "last_used_at") != nil || field(m, "api_key", "expires_at") == nil {
		t.Fatalf("created key: %s", w.Body)
	}
	if scopes := field(m, "api_key", "scopes").([]any); len(scopes) != 2 || scopes[0] != "me:read" {
		t.Fatalf("scopes are not the known ones in order: %v", scopes)
	}
	id := field(m, "api_key", "id").(string)

	list := h.do(req{method: "GET", path: "/me/api-keys", as: "ann"})
	if list.Code != 200 || strings.Contains(list.Body.String(), key[11:]) || !strings.Contains(list.Body.String(), id) {
		t.Fatalf("list shows the key, or not its id: %s", list.Body)
	}
	if w := h.do(req{method: "GET", path: "/me/api-keys", as: "bob"}); strings.Contains(w.Body.String(), id) {
		t.Fatalf("bob sees ann's key: %s", w.Body)
	}

	me := h.do(withKey(key, req{method: "GET", path: "/me"}))
	if me.Code != 200 || field(decode(t, me), "user", "id") != h.users["ann"].ID {
		t.Fatalf("the key does not act as ann: %d %s", me.Code, me.Body)
	}

	if w := h.do(req{method: "DELETE", path: "/me/api-keys/" + id, as: "bob"}); w.Code != 404 {
		t.Fatalf("bob revoked ann's key: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "DELETE", path: "/me/api-keys/" + id, as: "ann"}); w.Code != 204 {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	if w := h.do(withKey(key, req{method: "GET", path: "/me"})); w.Code != 401 || errorCode(w) != "invalid_token" ||
		!strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("revoked key: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if w := h.do(req{method: "GET", path: "/me/api-keys", as: "ann"}); strings.Contains(w.Body.String(), id) {
		t.Fatalf("a revoked key is still listed: %s", w.Body)
	}
	if w := h.do(req{method: "DELETE", path: "/me/api-keys/" + id, as: "ann"}); w.Code != 404 {
		t.Fatalf("revoking twice: %d", w.Code)
	}
	events, _, err := h.app.Services.Accounts.AuditEvents(t.Context(), auth.AuditFilter{UserID: h.users["ann"].ID, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range events {
		seen[e.Event] = true
		if strings.Contains(e.Detail, key[11:]) {
			t.Fatalf("the audit log holds the key: %+v", e)
		}
	}
	for _, want := range []string{auth.EventAPIKeyCreated, auth.EventAPIKeyRevoked, auth.EventAPIKeyRefused} {
		if !seen[want] {
			t.Fatalf("no %s event in %v", want, seen)
		}
	}
}

func TestExpiredAPIKeyIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.do(req{method: "POST", path: "/me/api-keys", as: "ann", body: `{"name":"short","scopes":["me:read"],"expires_in":60}`})
	key := decode(t, w)["key"].(string)
	if w := h.do(withKey(key, req{method: "GET", path: "/me"})); w.Code != 200 {
		t.Fatalf("fresh key: %d", w.Code)
	}
	h.clock.Advance(61 * time.Second)
	if w := h.do(withKey(key, req{method: "GET", path: "/me"})); w.Code != 401 || errorCode(w) != "invalid_token" {
		t.Fatalf("expired key: %d %s", w.Code, w.Body)
	}
}

func TestAPIKeyWithAWrongChecksumIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key, _ := h.createKey("ann", "me:read")
	last := key[len(key)-1]
	other := byte('A')
	if last == 'A' {
		other = 'B'
	}
	bad := key[:len(key)-1] + string(other)
	for _, k := range []string{bad, "gh_pat_", key + "x", "gh_pat_" + strings.Repeat("!", 38)} {
		if w := h.do(withKey(k, req{method: "GET", path: "/me"})); w.Code != 401 || errorCode(w) != "invalid_token" {
			t.Fatalf("%q: %d %s", k, w.Code, w.Body)
		}
	}
}

func TestAPIKeyCreationRefusesBadInput(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "no scopes", req: req{method: "POST", path: "/me/api-keys", as: "ann", body: `{"name":"x","scopes":[]}`}, status: 400, code: "invalid_request"},
		{name: "unknown scope", req: req{method: "POST", path: "/me/api-keys", as: "ann", body: `{"name":"x","scopes":["admin"]}`}, status: 400, code: "invalid_request"},
		{name: "no name", req: req{method: "POST", path: "/me/api-keys", as: "ann", body: `{"name":"  ","scopes":["me:read"]}`}, status: 400, code: "invalid_request"},
		{name: "expiry in the past", req: req{method: "POST", path: "/me/api-keys", as: "ann", body: `{"name":"x","scopes":["me:read"],"expires_in":-5}`}, status: 400, code: "invalid_request"},
		{name: "expiry too far", req: req{method: "POST", path: "/me/api-keys", as: "ann", body: `{"name":"x","scopes":["me:read"],"expires_in":9999999999999}`}, status: 400, code: "invalid_request"},
		{name: "a user asks for an admin scope", req: req{method: "POST", path: "/me/api-keys", as: "ann", body: `{"name":"x","scopes":["users:read"]}`}, status: 403, code: "forbidden"},
		{name: "an admin may", req: req{method: "POST", path: "/me/api-keys", as: "admin", body: `{"name":"x","scopes":["users:read","users:write"]}`}, status: 201},
		{name: "anonymous", req: req{method: "POST", path: "/me/api-keys", body: `{"name":"x","scopes":["me:read"]}`}, status: 401, code: "unauthorized"},
	})
}

// keyGates are the route table's API routes behind the key gate.
func keyGates(t *testing.T, h *harness) map[string]string {
	t.Helper()
	gates := httpapi.KeyGates(httpapi.Deps{Auth: h.app.Services, Guard: h.app.Guard, OIDC: h.app.OIDC,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	// The walk must not pass by walking nothing.
	for pattern, scope := range map[string]string{"GET /me": "me:read", "POST /me/password": "", "POST /me/api-keys": "",
		"DELETE /me/mfa/totp": "", "POST /me/email": "", "DELETE /me/sessions/{id}": "", "GET /books": "books:read",
		"DELETE /users/{id}": "users:write", "GET /users/{id}/api-keys": ""} {
		if got, ok := gates[pattern]; !ok || got != scope {
			t.Fatalf("%s: gate %v scope %q, want %q", pattern, ok, got, scope)
		}
	}
	return gates
}

// routeRequest is a request for pattern, its path parameters filled in
// (a user's id is bob's).
func routeRequest(pattern string) req {
	method, path, _ := strings.Cut(pattern, " ")
	path = strings.ReplaceAll(path, "/users/{id}", "/users/ID:bob")
	for _, p := range []string{"{id}", "{key_id}", "{client_id}"} {
		path = strings.ReplaceAll(path, p, "0190a0a0-0000-7000-8000-000000000000")
	}
	r := req{method: method, path: path}
	if method != "GET" {
		r.body = "{}"
	}
	return r
}

// Every route that needs a sign-in answers 401 without a token; behind the
// key gate, those that name no scope answer 403 forbidden to a key that
// holds every scope (an administrator's): keys never manage keys, factors,
// the password, the email or sessions.
func TestAPIKeysCannotManageAccounts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	gates := keyGates(t, h)
	key, _ := h.createKey("admin", auth.KeyScopes...)
	var refused int
	for pattern, scope := range gates {
		if scope != "" {
			continue
		}
		refused++
		w := h.do(withKey(key, routeRequest(pattern)))
		if w.Code != 403 || errorCode(w) != "forbidden" {
			t.Errorf("%s with a key: %d %s", pattern, w.Code, w.Body)
		}
	}
	for _, pattern := range []string{"POST /me/api-keys", "GET /me/api-keys", "DELETE /me/api-keys/{id}", "POST /me/password",
		"POST /me/email", "DELETE /me", "POST /me/mfa/totp", "POST /me/mfa/recovery-codes", "DELETE /me/passkeys/{id}",
		"DELETE /me/sessions/{id}", "POST /logout", "DELETE /users/{id}/mfa", "POST /users/{id}/password-reset"} {
		if scope, gated := gates[pattern]; !gated || scope != "" {
			t.Errorf("%s is not behind the gate without a scope", pattern)
		}
	}
	if refused < 20 {
		t.Fatalf("only %d routes refuse keys", refused)
	}
	// A refused key changed nothing: it still works, and the account too.
	if w := h.do(withKey(key, req{method: "GET", path: "/me"})); w.Code != 200 {
		t.Fatalf("key after the walk: %d %s", w.Code, w.Body)
	}
}

// Every protected route of the API is behind the key gate: none can be
// reached by a key some other way.
func TestEveryProtectedRouteIsBehindTheKeyGate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	gates := keyGates(t, h)
	key, _ := h.createKey("admin", auth.KeyScopes...)
	for _, pattern := range httpapi.APIRoutes(httpapi.Deps{Auth: h.app.Services, Guard: h.app.Guard, OIDC: h.app.OIDC,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}) {
		if _, gated := gates[pattern]; gated {
			continue
		}
		// Not gated: it must not take a key as a sign-in.
		w := h.do(withKey(key, routeRequest(pattern)))
		if w.Code == 200 || w.Code == 201 || w.Code == 204 {
			if anon := h.do(routeRequest(pattern)); anon.Code != w.Code {
				t.Errorf("%s: a key got %d where no token gets %d", pattern, w.Code, anon.Code)
			}
		}
	}
}

// Each route that admits keys refuses a key holding every scope but its own.
func TestAPIKeyRoutesNeedTheirScope(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	gates := keyGates(t, h)
	for pattern, scope := range gates {
		if scope == "" {
			continue
		}
		others := slices.DeleteFunc(slices.Clone(auth.KeyScopes), func(s string) bool { return s == scope })
		key, _ := h.createKey("admin", others...)
		w := h.do(withKey(key, routeRequest(pattern)))
		if w.Code != 403 || errorCode(w) != "forbidden" || !strings.Contains(w.Body.String(), scope) {
			t.Errorf("%s without %s: %d %s", pattern, scope, w.Code, w.Body)
		}
		own, _ := h.createKey("admin", scope)
		if w := h.do(withKey(own, routeRequest(pattern))); w.Code == 401 || (w.Code == 403 && strings.Contains(w.Body.String(), "scope")) {
			t.Errorf("%s with %s: %d %s", pattern, scope, w.Code, w.Body)
		}
	}
}

func TestAPIKeyActsWithItsUsersRole(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// An administrator's key with users:read reads users ...
	adminKey, _ := h.createKey("admin", "users:read")
	if w := h.do(withKey(adminKey, req{method: "GET", path: "/users"})); w.Code != 200 {
		t.Fatalf("admin key: %d %s", w.Code, w.Body)
	}
	// ... and stops when its user is no longer an administrator.
	bobKey, _ := h.createKey("bob", "me:read", "books:read")
	if w := h.do(withKey(bobKey, req{method: "GET", path: "/users"})); w.Code != 403 || errorCode(w) != "forbidden" {
		t.Fatalf("user key at an admin route: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "PATCH", path: "/users/ID:bob", as: "admin", body: `{"disabled":true}`}); w.Code != 200 {
		t.Fatalf("disable: %d", w.Code)
	}
	if w := h.do(withKey(bobKey, req{method: "GET", path: "/me"})); w.Code != 401 || errorCode(w) != "invalid_token" {
		t.Fatalf("a disabled user's key: %d %s", w.Code, w.Body)
	}
	// Disabling revoked it for good: enabling the user does not bring it back.
	if w := h.do(req{method: "PATCH", path: "/users/ID:bob", as: "admin", body: `{"disabled":false}`}); w.Code != 200 {
		t.Fatalf("enable: %d", w.Code)
	}
	if w := h.do(withKey(bobKey, req{method: "GET", path: "/me"})); w.Code != 401 {
		t.Fatalf("a re-enabled user's old key: %d %s", w.Code, w.Body)
	}
}

// A leaked users:write key must not make administrators: a key never
// changes a role (it may still disable a user), and an administrator's key
// loses its users:* scopes with the role.
func TestAPIKeyNeverChangesARole(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key, _ := h.createKey("admin", "users:read", "users:write")
	if w := h.do(withKey(key, req{method: "PATCH", path: "/users/ID:bob", body: `{"role":"admin"}`})); w.Code != 403 || errorCode(w) != "forbidden" {
		t.Fatalf("a key granting the admin role: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "GET", path: "/users/ID:bob", as: "admin"}); !strings.Contains(w.Body.String(), `"role":"user"`) {
		t.Fatalf("bob's role changed: %s", w.Body)
	}
	if w := h.do(withKey(key, req{method: "PATCH", path: "/users/ID:bob", body: `{"disabled":true}`})); w.Code != 200 {
		t.Fatalf("a users:write key disabling a user: %d %s", w.Code, w.Body)
	}
}

func TestAdminListsAndRevokesKeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key, id := h.createKey("ann", "me:read")
	w := h.do(req{method: "GET", path: "/users/ID:ann/api-keys", as: "admin"})
	if w.Code != 200 || !strings.Contains(w.Body.String(), id) || strings.Contains(w.Body.String(), key[11:]) {
		t.Fatalf("admin list: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "GET", path: "/users/ID:ann/api-keys", as: "bob"}); w.Code != 403 {
		t.Fatalf("a user lists another's keys: %d", w.Code)
	}
	if w := h.do(req{method: "DELETE", path: "/users/ID:bob/api-keys/" + id, as: "admin"}); w.Code != 404 {
		t.Fatalf("revoking ann's key as bob's: %d", w.Code)
	}
	if w := h.do(req{method: "DELETE", path: "/users/ID:ann/api-keys/" + id, as: "admin"}); w.Code != 204 {
		t.Fatalf("admin revoke: %d %s", w.Code, w.Body)
	}
	if w := h.do(withKey(key, req{method: "GET", path: "/me"})); w.Code != 401 {
		t.Fatalf("key revoked by an admin: %d", w.Code)
	}
	events, _, err := h.app.Services.Accounts.AuditEvents(t.Context(), auth.AuditFilter{UserID: h.users["ann"].ID, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(events, func(e auth.AuditEvent) bool {
		return e.Event == auth.EventAPIKeyRevoked && e.ActorID == h.users["admin"].ID
	}) {
		t.Fatalf("no revocation with the admin as actor: %+v", events)
	}
}

func TestAPIKeyLastUseIsWrittenOffTheRequestPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key, _ := h.createKey("ann", "me:read")
	for range 3 {
		if w := h.do(withKey(key, req{method: "GET", path: "/me"})); w.Code != 200 {
			t.Fatal(w.Code)
		}
	}
	lastUsed := func() any {
		return field(decode(t, h.do(req{method: "GET", path: "/me/api-keys", as: "ann"})), "api_keys").([]any)[0].(map[string]any)["last_used_at"]
	}
	if got := lastUsed(); got != nil {
		t.Fatalf("last use written on the request path: %v", got)
	}
	if err := h.app.Services.APIKeys.FlushLastUsed(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := lastUsed()
	if first == nil {
		t.Fatal("no last use after the flush")
	}
	// Used again within the minute: not written again.
	h.clock.Advance(30 * time.Second)
	h.do(withKey(key, req{method: "GET", path: "/me"}))
	_ = h.app.Services.APIKeys.FlushLastUsed(t.Context())
	if got := lastUsed(); got != first {
		t.Fatalf("written twice within a minute: %v then %v", first, got)
	}
	h.clock.Advance(31 * time.Second)
	h.do(withKey(key, req{method: "GET", path: "/me"}))
	_ = h.app.Services.APIKeys.FlushLastUsed(t.Context())
	if got := lastUsed(); got == first {
		t.Fatalf("not written after a minute: %v", got)
	}
}

func TestAPIKeysPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.do(req{method: "GET", path: "/security/api-keys", as: "ann", carrier: "cookie"})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "No API keys") || strings.Contains(w.Body.String(), "users:read") {
		t.Fatalf("page: %d %s", w.Code, w.Body)
	}
	form := "csrf_token=csrf-ann&name=deploy&scope=books:read&scope=me:read&expires=30"
	w = h.do(req{method: "POST", path: "/security/api-keys", as: "ann", carrier: "cookie", body: form,
		contentType: "application/x-www-form-urlencoded", headers: map[string]string{"Sec-Fetch-Site": "same-origin"}})
	if w.Code != 200 {
		t.Fatalf("create form: %d %s", w.Code, w.Body)
	}
	_, shown, found := strings.Cut(w.Body.String(), `<code class="secret">`)
	if !found || len(shown) < auth.APIKeyLen {
		t.Fatalf("the new key is not shown: %s", w.Body)
	}
	key := shown[:auth.APIKeyLen]
	if !auth.IsAPIKey(key) {
		t.Fatalf("shown key %q", key)
	}
	again := h.do(req{method: "GET", path: "/security/api-keys", as: "ann", carrier: "cookie"})
	if strings.Contains(again.Body.String(), key) || !strings.Contains(again.Body.String(), "deploy") {
		t.Fatalf("the key is shown twice, or not listed: %s", again.Body)
	}
	keys, err := h.app.Services.APIKeys.List(t.Context(), h.users["ann"].ID)
	if err != nil || len(keys) != 1 {
		t.Fatal(keys, err)
	}
	w = h.do(req{method: "POST", path: "/security/api-keys/" + keys[0].ID + "/revoke", as: "ann", carrier: "cookie",
		body: "csrf_token=csrf-ann", contentType: "application/x-www-form-urlencoded", headers: map[string]string{"Sec-Fetch-Site": "same-origin"}})
	if w.Code != 303 {
		t.Fatalf("revoke form: %d %s", w.Code, w.Body)
	}
	if w := h.do(withKey(key, req{method: "GET", path: "/me"})); w.Code != 401 {
		t.Fatalf("key revoked on the page: %d", w.Code)
	}
}
