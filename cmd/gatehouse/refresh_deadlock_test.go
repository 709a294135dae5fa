package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
)

// Regression, in the token layout before migration 00012: on
// PostgreSQL the four group-commit lanes were picked by the refresh token's
// hash, so two tokens of one session (a spent one and its
// successor) rotate in two transactions at once. A rotation locks its token
// row (FOR UPDATE OF r) and then the session row; a reuse revocation locks
// the session row (UPDATE sessions) and then the session's token rows (DELETE
// FROM refresh_tokens). Replaying a spent token outside the grace window
// while its successor is refreshed deadlocks the two lanes: PostgreSQL
// breaks it after deadlock_timeout (1 s), every job of both batches waits,
// and one caller gets 500 "deadlock detected (SQLSTATE 40P01)".
func TestPostgresReplayBesideRefreshDoesNotDeadlock(t *testing.T) {
	pg := storetest.PostgresURL(t) // skips without GATEHOUSE_TEST_POSTGRES
	s := startServer(t, pg, "--refresh-reuse-grace", "100ms", "--limit-refresh", "1000000/1s",
		"--limit-login", "1000000/1s", "--limit-register", "1000000/1s", "--max-sessions-per-user", "1000")
	post := func(path, body string) (int, map[string]any) {
		res, err := http.Post(s.base+path, "application/json", strings.NewReader(body))
		if err != nil {
			return 0, nil
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return res.StatusCode, m
	}
	creds := `{"email":"tabs@example.com","password":"two tabs and a thief"}`
	if c, m := post("/register", creds); c != 201 {
		t.Fatalf("register: %d %v", c, m)
	}
	const sessions = 32
	for round := 0; round < 3; round++ {
		spent, current := make([]string, sessions), make([]string, sessions)
		for i := range sessions {
			c, m := post("/login", creds)
			if c != 200 {
				t.Fatalf("login: %d %v", c, m)
			}
			spent[i] = m["refresh_token"].(string)
			c, m = post("/token/refresh", `{"refresh_token":"`+spent[i]+`"}`)
			if c != 200 {
				t.Fatalf("refresh: %d %v", c, m)
			}
			current[i] = m["refresh_token"].(string)
		}
		time.Sleep(300 * time.Millisecond) // past the grace window
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		gate := make(chan struct{})
		for i := range sessions {
			for _, tok := range []string{spent[i], current[i]} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-gate
					start := time.Now()
					c, m := post("/token/refresh", `{"refresh_token":"`+tok+`"}`)
					if c >= 500 || c == 0 {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%d after %s: %v", c, time.Since(start).Round(time.Millisecond), m))
						mu.Unlock()
					}
				}()
			}
		}
		close(gate)
		wg.Wait()
		if len(failures) > 0 {
			t.Fatalf("round %d: a replay beside a refresh of the same session failed %d times: %v",
				round, len(failures), failures)
		}
	}
}

// Regression, in the layout before migration 00012: the same lock-order
// inversion between a logout (its own
// transaction: UPDATE sessions, then DELETE FROM refresh_tokens) and a
// refresh of the session's token in a group-commit lane (token row, then
// session row): one tab logging out while another refreshes gets 500 on
// PostgreSQL after a 1 s stall, and when the logout is the victim the
// session stays signed in.
func TestPostgresLogoutBesideRefreshDoesNotDeadlock(t *testing.T) {
	pg := storetest.PostgresURL(t) // skips without GATEHOUSE_TEST_POSTGRES
	s := startServer(t, pg, "--limit-refresh", "1000000/1s",
		"--limit-login", "1000000/1s", "--limit-register", "1000000/1s", "--max-sessions-per-user", "1000")
	send := func(path, body, access string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", s.base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if access != "" {
			req.Header.Set("Authorization", "Bearer "+access)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return res.StatusCode, m
	}
	creds := `{"email":"leaving@example.com","password":"one tab logs out"}`
	if c, m := send("/register", creds, ""); c != 201 {
		t.Fatalf("register: %d %v", c, m)
	}
	const sessions = 32
	for round := 0; round < 3; round++ {
		access, refresh := make([]string, sessions), make([]string, sessions)
		for i := range sessions {
			c, m := send("/login", creds, "")
			if c != 200 {
				t.Fatalf("login: %d %v", c, m)
			}
			c, m = send("/token/refresh", `{"refresh_token":"`+m["refresh_token"].(string)+`"}`, "")
			if c != 200 {
				t.Fatalf("refresh: %d %v", c, m)
			}
			access[i], refresh[i] = m["access_token"].(string), m["refresh_token"].(string)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		gate := make(chan struct{})
		for i := range sessions {
			for k := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-gate
					start := time.Now()
					var c int
					var m map[string]any
					if k == 0 {
						c, m = send("/logout", "", access[i])
					} else {
						c, m = send("/token/refresh", `{"refresh_token":"`+refresh[i]+`"}`, "")
					}
					if c >= 500 || c == 0 {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%d after %s: %v", c, time.Since(start).Round(time.Millisecond), m))
						mu.Unlock()
					}
				}()
			}
		}
		close(gate)
		wg.Wait()
		if len(failures) > 0 {
			t.Fatalf("round %d: a logout beside a refresh of the same session failed %d times: %v", round, len(failures), failures)
		}
	}
}
