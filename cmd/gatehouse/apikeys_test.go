package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
)

var clientLine = regexp.MustCompile(`client_id: (\S+)\nclient_secret: (\S+)`)

// An API key used at another service, whose guard checks it by
// introspection and follows the revocation feed: revoking the key at
// Gatehouse ends it there too, without the service asking again.
func TestAPIKeyRevocationReachesARemoteGuard(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newClient(t, s)
	bearer, key, id := annWithKey(t, c, `{"name":"books job","scopes":["books:read"]}`)

	code, out, errs := runCmd(t, nil, "client", "add", "--db", s.db, "--name", "Books API",
		"--redirect-uri", "https://books.example/cb", "--introspect")
	m := clientLine.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("client add: %d %s %s", code, out, errs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	g, err := guard.NewRemote(ctx, guard.RemoteConfig{Issuer: s.base, ClientID: m[1], ClientSecret: m[2], PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	svc := httptest.NewServer(g.Require(guard.Scope("books:read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := guard.ClaimsFrom(r.Context())
		_, _ = w.Write([]byte(claims.Subject))
	})))
	t.Cleanup(svc.Close)
	call := func(token string) int {
		req, _ := http.NewRequest("GET", svc.URL, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := call(key); got != 200 {
		t.Fatalf("key at the service: %d", got)
	}
	expect(t, c.json("DELETE", "/me/api-keys/"+id, "", "Authorization", bearer), 204)
	deadline := time.Now().Add(10 * time.Second)
	for call(key) != 401 {
		if time.Now().After(deadline) {
			t.Fatal("the revocation never reached the service's guard")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A key with the wrong scope for the service's route: 403.
	r := c.json("POST", "/me/api-keys", `{"name":"me only","scopes":["me:read"]}`, "Authorization", bearer)
	expect(t, r, 201)
	if got := call(r.json(t)["key"].(string)); got != 403 {
		t.Fatalf("key without the route's scope: %d", got)
	}
}

func TestClientUpdateSetsIntrospect(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "gatehouse.db")
	code, out, errs := runCmd(t, nil, "client", "add", "--db", db, "--name", "API", "--redirect-uri", "https://api.example/cb")
	m := clientLine.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("client add: %d %s %s", code, out, errs)
	}
	if code, out, errs := runCmd(t, nil, "client", "update", "--db", db, "--introspect", m[1]); code != 0 || !strings.Contains(out, "introspect true") {
		t.Fatalf("client update: %d %s %s", code, out, errs)
	}
	if code, _, errs := runCmd(t, nil, "client", "update", "--db", db, m[1]); code != 2 || !strings.Contains(errs, "--introspect") {
		t.Fatalf("client update without a change: %d %s", code, errs)
	}
}

// annWithKey registers ann at c's server, signs her in and makes her an API
// key as body says: her bearer authorization, the key and its id.
func annWithKey(t *testing.T, c *client, body string) (bearer, key, id string) {
	t.Helper()
	expect(t, c.json("POST", "/register", `{"username":"ann","password":"ann's long passphrase"}`), 201)
	r := c.json("POST", "/login", `{"username":"ann","password":"ann's long passphrase"}`)
	expect(t, r, 200)
	bearer = "Bearer " + r.json(t)["access_token"].(string)
	r = c.json("POST", "/me/api-keys", body, "Authorization", bearer)
	expect(t, r, 201)
	created := r.json(t)
	return bearer, created["key"].(string), created["api_key"].(map[string]any)["id"].(string)
}

// A key's use just before the server stops is still written: the last
// flush of last-used times runs before the database closes.
func TestStopWritesTheLastAPIKeyUse(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newClient(t, s)
	_, key, _ := annWithKey(t, c, `{"name":"cron","scopes":["me:read"]}`)
	expect(t, c.json("GET", "/me", "", "Authorization", "Bearer "+key), 200)
	s.stop()
	if strings.Contains(s.stderr.String(), "api key last use failed") {
		t.Fatalf("the last key use was lost at the stop: %s", s.stderr)
	}
	s2 := startServer(t, s.db)
	c2 := newClient(t, s2)
	r := c2.json("POST", "/login", `{"username":"ann","password":"ann's long passphrase"}`)
	expect(t, r, 200)
	keys := c2.json("GET", "/me/api-keys", "", "Authorization", "Bearer "+r.json(t)["access_token"].(string))
	expect(t, keys, 200)
	if !strings.Contains(string(keys.body), `"last_used_at":"`) {
		t.Fatalf("the key's use before the stop is not recorded: %s", keys.body)
	}
}
