package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// An event is queued in the transaction of its change: the process is
// killed (SIGKILL) after the change was answered and before the receiver
// took the event; after a restart on the same database the event arrives,
// as the change was acknowledged, once.
func TestKilledBeforeDeliveryStillDeliversTheEvent(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and kills the gatehouse binary; skipped with -short")
	}
	var mu sync.Mutex
	up := false
	type delivery struct {
		id   string
		body []byte
		ok   bool
	}
	var got []delivery
	var secret string
	attempted := make(chan struct{}, 100)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if !up {
			attempted <- struct{}{}
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		got = append(got, delivery{id: r.Header.Get("webhook-id"), body: body, ok: signedBy(secret, r.Header, body)})
	}))
	defer rc.Close()

	bin, db := gatehouseBinary(t), filepath.Join(t.TempDir(), "gatehouse.db")
	var out, errOut bytes.Buffer
	noEnv := func(string) string { return "" }
	if code := run(context.Background(), []string{"webhook", "add", "--db", db, "--url", rc.URL + "/hook",
		"--events", "user.created", "--webhook-allow-private"}, noEnv, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("webhook add: %d %s", code, errOut.String())
	}
	m := regexp.MustCompile(`secret: (whsec_\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no secret printed: %s", out.String())
	}
	mu.Lock()
	secret = m[1]
	mu.Unlock()

	p := startProcess(t, bin, db, "--webhook-allow-private")
	resp, err := http.Post(p.base+"/register", "application/json", strings.NewReader(`{"username":"durable","password":"a durable password"}`))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d", resp.StatusCode)
	}
	// The change is acknowledged; the receiver has taken nothing (it
	// refused the first attempt). The process dies once that attempt is
	// recorded: a kill in the middle of one would leave its lease to run
	// out first (minutes), which this test does not wait for.
	select {
	case <-attempted:
		time.Sleep(time.Second)
	case <-time.After(10 * time.Second):
	}
	p.kill()

	mu.Lock()
	up = true
	mu.Unlock()
	startProcess(t, bin, db, "--webhook-allow-private")
	// The retry of the refused attempt comes after its backoff (5 s).
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a second copy would come at once
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("%d deliveries after the restart, want 1", len(got))
	}
	var ev struct {
		Type string            `json:"type"`
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(got[0].body, &ev); err != nil || !got[0].ok {
		t.Fatalf("delivery %s (signature ok: %t): %v", got[0].body, got[0].ok, err)
	}
	if ev.Type != "user.created" || ev.Data["user_id"] != reg.User.ID || !strings.HasPrefix(got[0].id, "msg_") {
		t.Fatalf("delivered %s %v (id %s), want user.created of %s", ev.Type, ev.Data, got[0].id, reg.User.ID)
	}
}

// signedBy verifies a Standard Webhooks signature, as a receiver would.
func signedBy(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, h.Get("webhook-id")+"."+h.Get("webhook-timestamp")+".")
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}
