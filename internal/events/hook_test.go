package events_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/events/outbound"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
)

// hookEnv is the auth services with a token hook served by handler (and
// more options, if any).
func hookEnv(t *testing.T, handler http.HandlerFunc, timeout time.Duration, allow bool, more ...authtest.Option) (*authtest.Env, *testsupport.Buffer) {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	logs := &testsupport.Buffer{}
	hook, err := events.NewTokenHook(events.HookConfig{URL: srv.URL + "/claims", Secret: hookSecret, Timeout: timeout,
		AllowOnFailure: allow, Client: outbound.NewClient(outbound.Options{AllowPrivate: true}),
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return authtest.New(t, append(more, authtest.WithDeps(func(d *auth.Deps) { d.TokenHook = hook }))...), logs
}

const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// payload decodes a JWT's claims (the signature is the key ring's concern).
func payload(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func register(t *testing.T, env *authtest.Env) auth.User {
	t.Helper()
	u, err := env.Accounts.Register(context.Background(), auth.RegisterInput{Email: "ann@example.com", Password: "correct horse battery staple"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func login(env *authtest.Env) (*auth.Tokens, error) {
	return env.Sessions.Login(context.Background(), auth.LoginInput{Identifier: "ann@example.com", Password: "correct horse battery staple"})
}

func TestTokenHookClaimsJoinTheTokenButNotReservedOnes(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var asked []map[string]any
	env, logs := hookEnv(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !verifyStandardWebhook(hookSecret, r.Header, body) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var req map[string]any
		json.Unmarshal(body, &req)
		mu.Lock()
		asked = append(asked, req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		// Reserved names, exact and folded: to a JSON decoder "ſub" and
		// "ORG_ID" are "sub" and "org_id".
		io.WriteString(w, `{"claims": {"plan": "pro", "tenant": {"id": 7}, "role": "admin", "sub": "someone-else",
			"ſub": "someone-else", "ORG_ID": "org-x", "Org_Role": "owner", "PERMISSIONS": ["books:write"]}}`)
	}, time.Second, false)
	u := register(t, env)
	tok, err := login(env)
	if err != nil {
		t.Fatal(err)
	}
	claims := payload(t, tok.AccessToken)
	if claims["plan"] != "pro" || claims["tenant"].(map[string]any)["id"] != float64(7) {
		t.Errorf("the hook's claims are missing: %v", claims)
	}
	if claims["role"] != auth.RoleUser || claims["sub"] != u.ID {
		t.Errorf("a reserved claim was replaced: role %v, sub %v", claims["role"], claims["sub"])
	}
	for name := range claims {
		if events.IsReservedClaim(name) && !slices.Contains(events.ReservedClaims, name) {
			t.Errorf("the hook smuggled %q (a reserved claim up to case)", name)
		}
	}
	if !strings.Contains(logs.String(), "reserved claim") {
		t.Error("the dropped reserved claim was not logged")
	}
	// A refresh asks again.
	next, err := env.Sessions.Refresh(context.Background(), tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if payload(t, next.AccessToken)["plan"] != "pro" {
		t.Error("the refreshed token lacks the hook's claims")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 2 {
		t.Fatalf("the hook was asked %d times, want 2", len(asked))
	}
	data := asked[0]["data"].(map[string]any)
	if data["user"].(map[string]any)["id"] != u.ID || data["session"].(map[string]any)["id"] != tok.SessionID {
		t.Errorf("the hook was not told the user and session: %v", data)
	}
}

func slowHook(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
}

func TestSlowTokenHookDeniesByDefault(t *testing.T) {
	t.Parallel()
	env, _ := hookEnv(t, slowHook, 50*time.Millisecond, false)
	u := register(t, env)
	tok, err := login(env)
	if auth.ErrorCode(err) != auth.CodeUnavailable || tok != nil {
		t.Fatalf("login with a late hook: %v, %v; want unavailable and nothing issued", tok, err)
	}
	live, _, err := env.Sessions.Sessions(context.Background(), u.ID, auth.SessionPage{})
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 0 {
		t.Fatalf("%d sessions stayed behind a refused login", len(live))
	}
}

func TestSlowTokenHookAllowsWhenToldTo(t *testing.T) {
	t.Parallel()
	env, logs := hookEnv(t, slowHook, 50*time.Millisecond, true)
	register(t, env)
	tok, err := login(env)
	if err != nil {
		t.Fatalf("login with a late hook and allow: %v", err)
	}
	if _, has := payload(t, tok.AccessToken)["plan"]; has {
		t.Error("claims from nowhere")
	}
	if !strings.Contains(logs.String(), "issuing the token without its claims") {
		t.Error("the failure was not logged")
	}
}

func TestFailingTokenHookDeniesRefreshAndSpendsNothing(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	env, _ := hookEnv(t, func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, `{"claims": {}}`)
	}, time.Second, false)
	register(t, env)
	tok, err := login(env)
	if err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	if next, err := env.Sessions.Refresh(context.Background(), tok.RefreshToken); auth.ErrorCode(err) != auth.CodeUnavailable || next != nil {
		t.Fatalf("refresh with a failing hook: %v, %v; want unavailable", next, err)
	}
	// The refused refresh spent nothing: once the hook is back, well past
	// the reuse grace, the same refresh token works.
	env.Clock.Advance(time.Minute)
	fail.Store(false)
	if _, err := env.Sessions.Refresh(context.Background(), tok.RefreshToken); err != nil {
		t.Fatalf("the refresh token did not survive the hook's outage: %v", err)
	}
}

// A login the token hook refuses gets no tokens, and leaves nothing of a
// session behind: no row, no session.created nor session.ended for the
// webhooks. The refusal is audited as a failed login.
func TestLoginTheTokenHookRefusesLeavesNoSessionNorItsEvents(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var told []string // the session ids the hook was told
	env, _ := hookEnv(t, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Data struct {
				Session struct {
					ID string `json:"id"`
				} `json:"session"`
			} `json:"data"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		told = append(told, req.Data.Session.ID)
		mu.Unlock()
		http.Error(w, "not this user", http.StatusForbidden)
	}, time.Second, false)
	h := newHooks(t, env.Store)
	rc := newReceiver(t)
	ep := h.add(t, rc, events.SessionCreated, events.SessionEnded)
	u := register(t, env)

	tok, err := login(env)
	if auth.ErrorCode(err) != auth.CodeUnavailable || tok != nil {
		t.Fatalf("login the hook refuses: %v, %v; want unavailable and nothing issued", tok, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 1 || told[0] == "" {
		t.Fatalf("the hook was told sessions %q, want one", told)
	}
	h.drain(t)
	for _, r := range rc.received() {
		t.Errorf("the refused login was reported: %s %v", r.Type, r.Data)
	}
	if list, err := h.webhooks.Deliveries(context.Background(), ep.ID, 0); err != nil || len(list) != 0 {
		t.Errorf("%d deliveries (%v): want none queued", len(list), err)
	}
	if live, _, err := env.Sessions.Sessions(context.Background(), u.ID, auth.SessionPage{}); err != nil || len(live) != 0 {
		t.Errorf("live sessions %+v, %v: want none", live, err)
	}
	if strings.Contains(storetest.Dump(t, env.Store), told[0]) {
		t.Errorf("session %s the hook refused is in the database", told[0])
	}
	failed, err := env.Store.AuditEvents(context.Background(), auth.AuditFilter{UserID: u.ID, Event: auth.EventLoginFailed, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || !strings.Contains(failed[0].Detail, "token hook") {
		t.Errorf("audit %+v: want the refused login recorded as failed, naming the token hook", failed)
	}
}

// A login that starts in an organization asks the hook before its session
// exists, and still tells it the membership the token will carry.
func TestLoginInAnOrganizationTellsTheTokenHookTheMembership(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var told []map[string]any // the organizations the hook was told
	st := storetest.New(t)
	env, _ := hookEnv(t, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Data struct {
				Organization map[string]any `json:"organization"`
			} `json:"data"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		told = append(told, req.Data.Organization)
		mu.Unlock()
		io.WriteString(w, `{"claims": {"plan": "pro"}}`)
	}, time.Second, false, authtest.WithStore(st), authtest.WithDeps(func(d *auth.Deps) { d.Orgs = orgs.NewSessions(st) }))
	u := register(t, env)
	shop, err := orgs.New(orgs.Deps{Store: st, Users: st}).AdminCreate(context.Background(), u.ID, orgs.CreateInput{Name: "Shop", Slug: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := env.Sessions.Login(context.Background(), auth.LoginInput{Identifier: "ann@example.com",
		Password: "correct horse battery staple", OrgID: shop.ID})
	if err != nil {
		t.Fatal(err)
	}
	claims := payload(t, tok.AccessToken)
	if claims["org_id"] != shop.ID || claims["plan"] != "pro" {
		t.Errorf("token claims %v: want the organization and the hook's claims", claims)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 1 || told[0]["id"] != shop.ID || told[0]["role"] != "owner" {
		t.Fatalf("the hook was told organizations %v, want %s as owner", told, shop.ID)
	}
}

// A re-authentication the token hook refuses changes nothing: the session
// is not marked recently authenticated (sensitive actions read that mark),
// and its refresh token is not replaced.
func TestReauthenticationTheTokenHookRefusesChangesNothing(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	env, _ := hookEnv(t, func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, `{"claims": {}}`)
	}, time.Second, false)
	u := register(t, env)
	tok, err := login(env)
	if err != nil {
		t.Fatal(err)
	}
	before, err := env.Store.Session(context.Background(), tok.SessionID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Hour)
	fail.Store(true)
	_, err = env.Sessions.Reauthenticate(context.Background(), auth.ReauthInput{SessionID: tok.SessionID, UserID: u.ID,
		Password: "correct horse battery staple"})
	if auth.ErrorCode(err) != auth.CodeUnavailable {
		t.Fatalf("re-authentication with a refusing hook: %v, want unavailable", err)
	}
	after, err := env.Store.Session(context.Background(), tok.SessionID, u.ID)
	if err != nil || !after.AuthTime.Equal(before.AuthTime) || len(after.AMR) != len(before.AMR) {
		t.Fatalf("session after the refused re-authentication: %+v (before %+v), %v", after, before, err)
	}
	fail.Store(false)
	if _, err := env.Sessions.Refresh(context.Background(), tok.RefreshToken); err != nil {
		t.Fatalf("the refresh token was replaced by the refused re-authentication: %v", err)
	}
}
