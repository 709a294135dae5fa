package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
)

// Webhook endpoints through the admin API: admins only, the secret shown
// once, bad URLs refused with the contract's error, deliveries listed and
// retried, every answer as openapi.yaml says.
func TestWebhooksAdminAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *app.Config) { c.WebhookAllowPrivate = true })
	var mu sync.Mutex
	hits := 0
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		hits++
		mu.Unlock()
	}))
	defer rc.Close()
	body := `{"url":"` + rc.URL + `/in","events":["user.updated","session.ended"],"description":"profiles"}`
	if w := h.do(req{method: "POST", path: "/webhooks", as: "ann", body: body}); w.Code != 403 {
		t.Fatalf("non-admin: %d", w.Code)
	}
	for _, bad := range []string{`{"url":"ftp://x.example/","events":["user.updated"]}`, `{"url":"` + rc.URL + `","events":["user.exploded"]}`,
		`{"url":"` + rc.URL + `","events":[]}`, `{"url":"` + rc.URL + `","events":["*","user.updated"]}`} {
		if w := h.do(req{method: "POST", path: "/webhooks", as: "admin", body: bad}); w.Code != 400 {
			t.Errorf("%s: %d %s", bad, w.Code, w.Body)
		}
	}
	w := h.do(req{method: "POST", path: "/webhooks", as: "admin", body: body})
	created := decode(t, w)
	if w.Code != 201 || !strings.HasPrefix(created["secret"].(string), "whsec_") {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	id := field(created, "webhook", "id").(string)
	if list := decode(t, h.do(req{method: "GET", path: "/webhooks", as: "admin"}))["webhooks"].([]any); len(list) != 1 ||
		strings.Contains(h.do(req{method: "GET", path: "/webhooks", as: "admin"}).Body.String(), created["secret"].(string)) {
		t.Fatalf("list: %v", list)
	}
	if w := h.do(req{method: "PATCH", path: "/webhooks/" + id, as: "admin", body: `{"events":["*"],"enabled":false}`}); w.Code != 200 ||
		field(decode(t, w), "webhook", "enabled") != false {
		t.Fatalf("patch: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "PATCH", path: "/webhooks/" + id, as: "admin", body: `{"enabled":true}`}); w.Code != 200 {
		t.Fatalf("enable: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "PATCH", path: "/me", as: "ann", body: `{"name":"Ann"}`}); w.Code != 200 { // user.updated
		t.Fatalf("patch me: %d", w.Code)
	}
	if n, err := h.app.Deliveries.Deliver(context.Background()); err != nil || n != 1 {
		t.Fatalf("delivered %d, %v", n, err)
	}
	w = h.do(req{method: "GET", path: "/webhooks/" + id + "/deliveries", as: "admin"})
	list := decode(t, w)["deliveries"].([]any)
	if w.Code != 200 || len(list) != 1 || list[0].(map[string]any)["state"] != "delivered" {
		t.Fatalf("deliveries: %d %s", w.Code, w.Body)
	}
	did := list[0].(map[string]any)["id"].(string)
	if w := h.do(req{method: "POST", path: "/webhooks/" + id + "/deliveries/" + did + "/retry", as: "admin"}); w.Code != 202 {
		t.Fatalf("retry: %d %s", w.Code, w.Body)
	}
	if n, err := h.app.Deliveries.Deliver(context.Background()); err != nil || n != 1 {
		t.Fatalf("redelivered %d, %v", n, err)
	}
	mu.Lock()
	if hits != 2 {
		t.Errorf("the receiver got %d requests, want 2", hits)
	}
	mu.Unlock()
	if w := h.do(req{method: "POST", path: "/webhooks/" + id + "/deliveries/nope/retry", as: "admin"}); w.Code != 404 {
		t.Fatalf("retry of an unknown delivery: %d", w.Code)
	}
	w = h.do(req{method: "POST", path: "/webhooks/" + id + "/secret", as: "admin"})
	if w.Code != 200 || !strings.HasPrefix(decode(t, w)["secret"].(string), "whsec_") {
		t.Fatalf("rotate: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "GET", path: "/webhooks/" + id, as: "admin"}); w.Code != 200 || field(decode(t, w), "webhook", "old_secret_until") == nil {
		t.Fatalf("get after rotation: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "DELETE", path: "/webhooks/" + id, as: "admin"}); w.Code != 204 {
		t.Fatalf("delete: %d", w.Code)
	}
	if w := h.do(req{method: "GET", path: "/webhooks/" + id + "/deliveries", as: "admin"}); w.Code != 404 {
		t.Fatalf("deliveries of a deleted endpoint: %d", w.Code)
	}
}

// The admin page lists each endpoint with its recent deliveries (time,
// status, duration, the answer) and retries one.
func TestWebhooksAdminPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *app.Config) { c.WebhookAllowPrivate = true })
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		http.Error(w, "receiver says <no>", http.StatusTeapot)
	}))
	defer rc.Close()
	w := h.do(req{method: "POST", path: "/webhooks", as: "admin", body: `{"url":"` + rc.URL + `/in","events":["user.updated"]}`})
	id := field(decode(t, w), "webhook", "id").(string)
	if w := h.do(req{method: "PATCH", path: "/me", as: "ann", body: `{"name":"Ann"}`}); w.Code != 200 {
		t.Fatalf("patch me: %d", w.Code)
	}
	if _, err := h.app.Deliveries.Deliver(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w := page(h, "ann", "/admin/webhooks"); w.Code != 403 {
		t.Fatalf("non-admin: %d", w.Code)
	}
	w = page(h, "admin", "/admin/webhooks")
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, rc.URL+"/in") || !strings.Contains(body, "418") ||
		!strings.Contains(body, "receiver says &lt;no&gt;") || !strings.Contains(body, "user.updated") {
		t.Fatalf("page: %d %s", w.Code, body)
	}
	list := decode(t, h.do(req{method: "GET", path: "/webhooks/" + id + "/deliveries", as: "admin"}))["deliveries"].([]any)
	did := list[0].(map[string]any)["id"].(string)
	if w := form(h, "admin", "/admin/webhooks/"+id+"/deliveries/"+did+"/retry", url.Values{}); w.Code != 303 {
		t.Fatalf("retry form: %d %s", w.Code, w.Body)
	}
	if n, err := h.app.Deliveries.Deliver(context.Background()); err != nil || n != 1 {
		t.Fatalf("the retried delivery was not due: %d, %v", n, err)
	}
}

// The token hook is asked for an OpenID Connect client's tokens too, code
// and refresh grants, and told the client.
func TestTokenHookClaimsInOpenIDClientTokens(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	clients := []string{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Data struct {
				Client *struct {
					ID string `json:"id"`
				} `json:"client"`
			} `json:"data"`
		}
		json.NewDecoder(r.Body).Decode(&in)
		mu.Lock()
		if in.Data.Client != nil {
			clients = append(clients, in.Data.Client.ID)
		}
		mu.Unlock()
		io.WriteString(w, `{"claims": {"tenant": "t1", "client_id": "forged"}}`)
	}))
	defer hook.Close()
	f := newOIDC(t, func(c *app.Config) {
		c.WebhookAllowPrivate = true
		c.TokenHook = events.HookConfig{URL: hook.URL + "/claims", Secret: events.NewSecret()}
	})
	verifier, challenge := pkcePair("h")
	tok := f.exchange(f.codeFor("ann", authParams(f.web, rpRedirect, challenge)), verifier)
	claims := jwtPayload(t, tok["access_token"].(string))
	if claims["tenant"] != "t1" || claims["client_id"] != f.web.ID {
		t.Fatalf("code grant's access token: %v", claims)
	}
	w := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, f.webBasic())
	if w.Code != 200 || jwtPayload(t, decode(t, w)["access_token"].(string))["tenant"] != "t1" {
		t.Fatalf("refresh grant: %d %s", w.Code, w.Body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(clients) != 2 || clients[0] != f.web.ID || clients[1] != f.web.ID {
		t.Fatalf("the hook was told clients %v, want the web client twice", clients)
	}
}

// An OpenID client's code exchange the token hook refuses starts no
// session (nothing for the webhooks) and spends no code: once the hook
// answers again, the same code works.
func TestCodeExchangeTheTokenHookRefusesStartsNoSessionAndSpendsNoCode(t *testing.T) {
	t.Parallel()
	var refuse atomic.Bool
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() {
			http.Error(w, "not now", http.StatusForbidden)
			return
		}
		io.WriteString(w, `{"claims": {}}`)
	}))
	defer hook.Close()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer receiver.Close()
	f := newOIDC(t, func(c *app.Config) {
		c.WebhookAllowPrivate = true
		c.TokenHook = events.HookConfig{URL: hook.URL + "/claims", Secret: events.NewSecret()}
	})
	ctx := context.Background()
	ep, _, err := f.app.Webhooks.Add(auth.WithActor(ctx, "test"), events.EndpointInput{URL: receiver.URL,
		Events: []string{events.SessionCreated, events.SessionEnded}})
	if err != nil {
		t.Fatal(err)
	}
	queued := func() []string {
		list, err := f.app.Webhooks.Deliveries(ctx, ep.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, d := range list {
			types = append(types, d.EventType)
		}
		return types
	}
	verifier, challenge := pkcePair("refused")
	code := f.codeFor("ann", authParams(f.web, rpRedirect, challenge))
	refuse.Store(true)
	if w := f.token(codeForm(code, rpRedirect, verifier), f.webBasic()); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("exchange the hook refuses: %d %s, want 503", w.Code, w.Body)
	}
	if got := queued(); len(got) != 0 {
		t.Fatalf("the refused exchange queued %v", got)
	}
	refuse.Store(false)
	tok := f.exchange(code, verifier)
	if got := queued(); len(got) != 1 || got[0] != events.SessionCreated {
		t.Fatalf("queued %v, want the session.created of the exchange that succeeded", got)
	}
	if tok["access_token"] == nil {
		t.Fatalf("no access token: %v", tok)
	}
}

func jwtPayload(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
