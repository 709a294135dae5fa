package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
)

// TestThreeInstances runs three Gatehouse instances on loopback sharing one
// PostgreSQL database and one Redis, as behind a load balancer.
func TestThreeInstances(t *testing.T) {
	// Parallel: its Redis keys and channel are under its own issuer.
	t.Parallel()
	redisURL := os.Getenv("GATEHOUSE_TEST_REDIS")
	if redisURL == "" {
		t.Skip("multi-instance test skipped: set GATEHOUSE_TEST_REDIS (and GATEHOUSE_TEST_POSTGRES) to run it")
	}
	db := storetest.PostgresURL(t) // skips without GATEHOUSE_TEST_POSTGRES
	if out, code := cliRun(t, "", "migrate", "--db", db); code != 0 {
		t.Fatalf("migrate: %s", out)
	}
	flags := []string{"--issuer", "http://multi-" + strings.ToLower(rand.Text()[:8]) + ".test", "--redis", redisURL}
	var servers [3]*server
	var clients [3]*client
	for i := range servers {
		servers[i] = startServer(t, db, flags...)
		clients[i] = newClient(t, servers[i])
	}
	a, b, c := clients[0], clients[1], clients[2]

	// Register on A, log in on B, refresh on C.
	expect(t, a.json("POST", "/register", `{"email":"multi@example.com","password":"one account three servers"}`), 201)
	firstLogin := time.Now() // the login bucket's first token is taken here
	tok := b.json("POST", "/login", `{"email":"multi@example.com","password":"one account three servers"}`)
	expect(t, tok, 200)
	r := c.json("POST", "/token/refresh", `{"refresh_token":"`+tok.json(t)["refresh_token"].(string)+`"}`)
	expect(t, r, 200)
	access, refresh := r.json(t)["access_token"].(string), r.json(t)["refresh_token"].(string)
	for _, cl := range clients {
		expect(t, cl.json("GET", "/me", "", "Authorization", "Bearer "+access), 200)
	}

	// The 20-way refresh race, spread over the three, keeps one lineage.
	successors := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := clients[i%3].json("POST", "/token/refresh", `{"refresh_token":"`+refresh+`"}`)
			if r.status != 200 {
				t.Errorf("racing refresh on instance %d: %d %s", i%3, r.status, r.body)
				return
			}
			var m map[string]any
			json.Unmarshal(r.body, &m)
			mu.Lock()
			successors[m["refresh_token"].(string)] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(successors) != 1 {
		t.Fatalf("20 racing refreshes over three instances made %d successors, want 1", len(successors))
	}

	// Logout on A: B and C refuse the token within a second.
	expect(t, a.json("POST", "/logout", "", "Authorization", "Bearer "+access), 204)
	loggedOut := time.Now()
	for _, cl := range []*client{b, c} {
		for cl.json("GET", "/me", "", "Authorization", "Bearer "+access).status != 401 {
			if time.Since(loggedOut) > time.Second {
				t.Fatalf("an instance still accepts the token %s after the logout", time.Since(loggedOut))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Logf("B and C refused the token %s after the logout on A", time.Since(loggedOut).Round(time.Millisecond))

	// Rate limits count across instances: 20 login attempts a minute per
	// address in all, not 20 per instance (60). One was made above.
	limited := 0
	for i := 0; i < 30 && limited == 0; i++ {
		r := clients[i%3].json("POST", "/login", fmt.Sprintf(`{"email":"nobody%d@example.com","password":"guess guess"}`, i))
		if r.status == 429 {
			limited = i + 1
		}
	}
	// 20 a minute is one token back every 3 s: the bucket's 20, less the
	// login above, plus what refilled meanwhile. Per-instance buckets would
	// allow about 60.
	refilled := int(time.Since(firstLogin) / (3 * time.Second))
	if limited < 20 || limited > 20+refilled+1 {
		t.Fatalf("the shared login limit refused attempt %d, want the 20th plus %d refilled", limited, refilled)
	}
	t.Logf("the shared login limit refused attempt %d (%d tokens refilled meanwhile)", limited, refilled)

	// A key rotated (from the command line, as on A's host) is served and
	// honoured by every instance.
	if out, code := cliRun(t, "", append([]string{"keys", "rotate", "--db", db}, masterKeyFlag(t, db, nil)...)...); code != 0 {
		t.Fatalf("keys rotate: %s", out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, cl := range clients {
		for {
			var set struct{ Keys []any }
			json.Unmarshal(cl.json("GET", "/.well-known/jwks.json", "").body, &set)
			if len(set.Keys) == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the rotated key never appeared in every instance's JWKS")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(time.Second) // the limit above: let the login bucket refill a token
	r = a.json("POST", "/login", `{"email":"multi@example.com","password":"one account three servers"}`)
	expect(t, r, 200)
	fresh := r.json(t)["access_token"].(string)
	for _, cl := range []*client{b, c} {
		expect(t, cl.json("GET", "/me", "", "Authorization", "Bearer "+fresh), 200)
	}
}

func cliRun(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(stdin), &out, &out)
	return out.String(), code
}
