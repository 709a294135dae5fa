package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/app/apptest"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

func call(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// startBookstore runs the example on 127.0.0.1:0 against issuer until t ends.
func startBookstore(t *testing.T, issuer string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, append([]string{"--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "books.db"),
			"--gatehouse", issuer}, args...), stdout, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-exited; code != 0 {
			t.Errorf("bookstore exited %d: %s", code, stderr)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m := regexp.MustCompile(`serving on (http://\S+)`).FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("bookstore did not start: %s", stderr)
		}
	}
}

func TestBookstoreRefusesTokensOfEndedSessions(t *testing.T) {
	issuer, _ := apptest.Start(t, "127.0.0.1")
	const poll = 500 * time.Millisecond
	bookstore := startBookstore(t, issuer, "--poll", poll.String())

	if code, m := call(t, "POST", issuer+"/register", "", `{"username":"reader","password":"books all the way down"}`); code != 201 {
		t.Fatalf("register: %d %v", code, m)
	}
	_, tokens := call(t, "POST", issuer+"/login", "", `{"username":"reader","password":"books all the way down"}`)
	tok := tokens["access_token"].(string)
	if code, m := call(t, "POST", bookstore+"/books", tok, `{"title":"Dune","price":12}`); code != 201 {
		t.Fatalf("create book: %d %v", code, m)
	}
	if code, m := call(t, "GET", bookstore+"/books", tok, ""); code != 200 || len(m["books"].([]any)) != 1 {
		t.Fatalf("list books: %d %v", code, m)
	}
	if code, _ := call(t, "GET", bookstore+"/books", "", ""); code != 401 {
		t.Fatalf("anonymous list: %d", code)
	}

	if code, _ := call(t, "POST", issuer+"/logout", tok, ""); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	loggedOut := time.Now()
	for {
		code, m := call(t, "GET", bookstore+"/books", tok, "")
		if code == 401 && m["error"] == guard.CodeTokenRevoked {
			break
		}
		if code != 200 {
			t.Fatalf("unexpected answer while waiting: %d %v", code, m)
		}
		if time.Since(loggedOut) > 3*poll {
			t.Fatalf("bookstore still accepts the token %s after logout (poll interval %s)", time.Since(loggedOut), poll)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("bookstore refused the logged-out token %s after logout (poll interval %s)", time.Since(loggedOut).Round(time.Millisecond), poll)
}

// TestDeletingABookNeedsASecondFactor: guard.RequireMFA and MaxAuthAge on
// the bookstore's DELETE: a password-only token may add books but not
// delete them; a token from a two-step login may.
func TestDeletingABookNeedsASecondFactor(t *testing.T) {
	issuer, _ := apptest.Start(t, "127.0.0.1")
	bookstore := startBookstore(t, issuer)

	if code, m := call(t, "POST", issuer+"/register", "", `{"username":"reader","password":"books all the way down"}`); code != 201 {
		t.Fatalf("register: %d %v", code, m)
	}
	_, tokens := call(t, "POST", issuer+"/login", "", `{"username":"reader","password":"books all the way down"}`)
	pwdOnly := tokens["access_token"].(string)
	code, book := call(t, "POST", bookstore+"/books", pwdOnly, `{"title":"Dune","price":12}`)
	if code != 201 {
		t.Fatalf("create book: %d %v", code, book)
	}
	path := bookstore + "/books/" + book["book"].(map[string]any)["id"].(string)
	if code, m := call(t, "DELETE", path, pwdOnly, ""); code != 403 || m["error"] != guard.CodeReauthenticationRequired {
		t.Fatalf("delete with a password-only token: %d %v", code, m)
	}

	_, en := call(t, "POST", issuer+"/me/mfa/totp", pwdOnly, "")
	secret := en["secret"].(string)
	now := mfa.Step(time.Now())
	first, _ := mfa.CodeAt(secret, now)
	if code, m := call(t, "POST", issuer+"/me/mfa/totp/confirm", pwdOnly, `{"code":"`+first+`"}`); code != 200 {
		t.Fatalf("confirm: %d %v", code, m)
	}
	_, m := call(t, "POST", issuer+"/login", "", `{"username":"reader","password":"books all the way down"}`)
	next, _ := mfa.CodeAt(secret, now+1)
	code, tokens = call(t, "POST", issuer+"/login/mfa", "", `{"mfa_token":"`+m["mfa_token"].(string)+`","code":"`+next+`"}`)
	if code != 200 {
		t.Fatalf("two-step login: %d %v", code, tokens)
	}
	if code, m := call(t, "DELETE", path, tokens["access_token"].(string), ""); code != 204 {
		t.Fatalf("delete with a two-factor token: %d %v", code, m)
	}
}
