package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// The contract says "a crash between the answer and the
// delivery loses no mail". A forgot-password answer (202) followed at once
// by a SIGKILL of the process must leave the reset mail in the outbox, so a
// restart delivers it. The lookup and the outbox write happen in a
// background job 20-40 ms after the answer, so a kill in that window lost
// the mail: nothing was made durable before the 202. Now the request is
// stored before the answer (the same write for every account), and the
// restart's sweep writes the mail.
func TestForgotAnswerThenSIGKILLLosesNoMail(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and kills the gatehouse binary; skipped with -short")
	}
	bin, db := gatehouseBinary(t), filepath.Join(t.TempDir(), "gatehouse.db")
	p := startProcess(t, bin, db)
	post := func(path, body string) int {
		resp, err := http.Post(p.base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/register", `{"email":"bob@example.com","password":"bob's first password"}`); code != 201 {
		t.Fatalf("register: %d", code)
	}
	if code := post("/password/forgot", `{"email":"bob@example.com"}`); code != 202 {
		t.Fatalf("forgot: %d", code)
	}
	p.kill() // SIGKILL right after the answer

	// What the answer made durable: the request, or already its mail.
	if !resetMailed(t, db) {
		st, err := store.Open(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		n, err := st.LinkRequestCount(context.Background())
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("after a SIGKILL right after the 202: neither the reset mail nor its request is stored (%d requests)", n)
		}
	}
	// A restart on the same database finishes it: the mail reaches the
	// outbox (the sweep runs at start and every few seconds).
	startProcess(t, bin, db)
	deadline := time.Now().Add(time.Minute)
	for !resetMailed(t, db) {
		if time.Now().After(deadline) {
			t.Fatal("the reset mail answered with 202 is not in the outbox a minute after the restart that followed a SIGKILL")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// resetMailed says whether the outbox of the SQLite database db holds bob's
// reset mail.
func resetMailed(t *testing.T, db string) bool {
	t.Helper()
	for _, r := range outboxOf(t, db) {
		if r.To == "bob@example.com" && strings.Contains(r.Subject, "Reset") {
			return true
		}
	}
	return false
}
