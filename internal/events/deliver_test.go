package events_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/events/outbound"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
	"github.com/google/uuid"
)

// newUser creates a user through the store (which queues user.created).
func newUser(t *testing.T, st *store.Store, now time.Time, email string) auth.User {
	t.Helper()
	u := auth.User{ID: uuid.Must(uuid.NewV7()).String(), Email: email, Role: auth.RoleUser, CreatedAt: now}
	if err := st.CreateUser(context.Background(), u, "hash"); err != nil {
		t.Fatal(err)
	}
	return u
}

func rename(t *testing.T, st *store.Store, now time.Time, id, name string) {
	t.Helper()
	if _, _, err := st.UpdateUser(context.Background(), id, auth.UserUpdate{Name: &name}, now); err != nil {
		t.Fatal(err)
	}
}

func TestFailingReceiverGetsEveryEventInOrderPerUser(t *testing.T) {
	t.Parallel()
	h := newHooks(t, nil, func(dc *events.DelivererConfig, _ *events.WebhooksConfig) { dc.Timeout = 300 * time.Millisecond })
	rc := newReceiver(t)
	h.add(t, rc, events.AllTypes)
	now := h.clock.Now
	ann := newUser(t, h.st, now(), "ann@example.com")
	rename(t, h.st, now(), ann.ID, "Ann")
	bob := newUser(t, h.st, now(), "bob@example.com")
	rename(t, h.st, now(), ann.ID, "Ann B")
	rename(t, h.st, now(), bob.ID, "Bob")
	want := map[string][]string{
		ann.ID: {events.UserCreated, events.UserUpdated, events.UserUpdated},
		bob.ID: {events.UserCreated, events.UserUpdated},
	}

	// First the receiver fails...
	var calls sync.Map
	rc.setAnswer(func(w http.ResponseWriter, r *http.Request) bool {
		calls.Store(r.Header.Get("webhook-id"), true)
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
		return true
	})
	h.drain(t)
	// ...then it hangs past the time budget...
	h.clock.Advance(2 * time.Hour)
	rc.setAnswer(func(w http.ResponseWriter, r *http.Request) bool {
		io.Copy(io.Discard, r.Body) // so the server notices the client giving up
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return true
	})
	h.drain(t)
	if got := rc.received(); len(got) != 0 {
		t.Fatalf("delivered while failing: %v", got)
	}
	// ...then it recovers, and everything arrives, each user's in order.
	rc.setAnswer(nil)
	for range 20 {
		h.clock.Advance(2 * time.Hour)
		h.drain(t)
	}
	got := rc.received()
	perUser := map[string][]string{}
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r.ID] {
			t.Errorf("event %s delivered twice", r.ID)
		}
		seen[r.ID] = true
		perUser[r.Data["user_id"]] = append(perUser[r.Data["user_id"]], r.Type)
	}
	for user, types := range want {
		if !slices.Equal(perUser[user], types) {
			t.Errorf("user %s got %v, want %v in this order", user, perUser[user], types)
		}
	}
	if rc.bad != 0 {
		t.Errorf("%d requests carried a bad signature", rc.bad)
	}
	// The failed attempts are on record: status, error, the answer's excerpt.
	ep := h.webhooksList(t)[0]
	list, err := h.webhooks.Deliveries(context.Background(), ep.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 5 {
		t.Fatalf("%d deliveries, want 5", len(list))
	}
	for _, d := range list {
		if d.State() != "delivered" || d.Status != 200 || d.Response != "thanks" {
			t.Errorf("delivery %+v: want delivered with 200 and the answer", d)
		}
		if first := d.EventType == events.UserCreated; first && d.Attempts < 3 {
			t.Errorf("a first event took %d attempts, want at least 3 (500, timeout, success)", d.Attempts)
		}
	}
}

// A receiver (or a proxy before it) may echo the request, or a secret of
// its own: the excerpt administrators see keeps the status and the gist of
// the answer, never a credential, not even cut in part at the excerpt's end.
func TestReceiverEchoingCredentialsLeavesNoneInTheExcerpt(t *testing.T) {
	t.Parallel()
	h := newHooks(t, nil)
	rc := newReceiver(t)
	ep := h.add(t, rc, events.UserCreated)
	const (
		jwt     = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwMTkzYWJjZCIsImV4cCI6MTgwMDAwMDAwMH0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1zaWduZWQ"
		refresh = "q7Zk2vX9pL4mN8rT1wY6cB3dF5gH0jKsAeUiOoPa7Q2" // a refresh token's secret part
	)
	var sig string
	rc.setAnswer(func(w http.ResponseWriter, r *http.Request) bool {
		body, _ := io.ReadAll(r.Body)
		sig = r.Header.Get("webhook-signature")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "rejected; you sent\nAuthorization: Bearer %s\nwebhook-signature: %s\nbody: %s\nour secret is %s\nsee below ..........\n",
			jwt, sig, body, rc.secrets[0])
		for range 100 { // a refresh token on every line: one is cut where the excerpt ends
			fmt.Fprintf(w, "%s\n", refresh)
		}
		return true
	})
	newUser(t, h.st, h.clock.Now(), "ann@example.com")
	h.drain(t)
	list, err := h.webhooks.Deliveries(context.Background(), ep.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Status != http.StatusBadRequest {
		t.Fatalf("deliveries %+v: want one attempt answered 400", list)
	}
	got := list[0].Response
	if !strings.Contains(got, "rejected; you sent") || !strings.Contains(got, events.UserCreated) {
		t.Errorf("excerpt %q lost the gist of the answer", got)
	}
	secret := strings.TrimPrefix(rc.secrets[0], "whsec_")
	mac := strings.TrimPrefix(sig, "v1,")
	for name, credential := range map[string]string{"JWT": jwt, "signature": mac, "endpoint secret": secret,
		"refresh token": refresh, "email": "ann@example"} {
		for i := 0; i+8 <= len(credential); i++ {
			if strings.Contains(got, credential[i:i+8]) {
				t.Errorf("the excerpt shows part of the %s (%q):\n%s", name, credential[i:i+8], got)
				break
			}
		}
	}
}

func (h *hooks) webhooksList(t *testing.T) []events.Endpoint {
	t.Helper()
	list, err := h.webhooks.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// The targets a webhook must never reach unless --webhook-allow-private.
func nonPublicTargets(rc *receiver) map[string]string {
	u, _ := url.Parse(rc.URL)
	port := u.Port()
	return map[string]string{
		"loopback":              "http://127.0.0.1:" + port + "/hook",
		"10/8":                  "http://10.0.0.1:" + port + "/hook",
		"metadata":              "http://169.254.169.254/latest/meta-data/",
		"IPv6 loopback":         "http://[::1]:" + port + "/hook",
		"IPv4-mapped loopback":  "http://[::ffff:127.0.0.1]:" + port + "/hook",
		"IPv4-mapped metadata":  "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
		"name of loopback":      "http://localhost:" + port + "/hook",
		"name under localhost":  "http://hooks.localhost:" + port + "/hook",
		"unspecified":           "http://0.0.0.0:" + port + "/hook",
		"private 192.168/16":    "http://192.168.1.1/hook",
		"IPv6 unique local":     "http://[fd00:ec2::254]/latest/meta-data/",
		"NAT64 of the metadata": "http://[64:ff9b::a9fe:a9fe]/",
	}
}

func TestRegistrationRefusesNonPublicTargets(t *testing.T) {
	t.Parallel()
	h := newHooks(t, nil, func(_ *events.DelivererConfig, wc *events.WebhooksConfig) { wc.AllowPrivate = false })
	rc := newReceiver(t)
	for name, target := range nonPublicTargets(rc) {
		_, _, err := h.webhooks.Add(context.Background(), events.EndpointInput{URL: target, Events: []string{events.UserCreated}})
		if auth.ErrorCode(err) != auth.CodeInvalidRequest {
			t.Errorf("%s (%s): registered, err %v", name, target, err)
		}
	}
	for _, bad := range []string{"ftp://example.com/", "/relative", "http://user:pw@example.com/", "http://example.com/#frag", "http://"} {
		if _, _, err := h.webhooks.Add(context.Background(), events.EndpointInput{URL: bad, Events: []string{events.UserCreated}}); auth.ErrorCode(err) != auth.CodeInvalidRequest {
			t.Errorf("%q registered, err %v", bad, err)
		}
	}
	if _, _, err := h.webhooks.Add(context.Background(), events.EndpointInput{URL: "https://hooks.example.com/in", Events: []string{"user.exploded"}}); auth.ErrorCode(err) != auth.CodeInvalidRequest {
		t.Errorf("an unknown event type registered, err %v", err)
	}
}

// Registered while allowed (or a name that resolved elsewhere then), a
// non-public target is still refused by the delivery itself.
func TestDeliveryRefusesNonPublicTargets(t *testing.T) {
	t.Parallel()
	for name, target := range nonPublicTargets(newReceiver(t)) {
		if name == "name under localhost" { // resolves nowhere here: refused by the resolver, not the check
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHooks(t, nil, func(dc *events.DelivererConfig, wc *events.WebhooksConfig) {
				wc.AllowPrivate = true // registered anyway
				dc.Client = outbound.NewClient(outbound.Options{Timeout: 2 * time.Second})
			})
			rc := newReceiver(t)
			ep := h.add(t, rc, events.UserCreated)
			rc.setAnswer(func(w http.ResponseWriter, r *http.Request) bool {
				t.Errorf("%s reached the receiver", name)
				return false
			})
			if _, err := h.webhooks.Update(context.Background(), ep.ID, events.EndpointUpdate{URL: &target}); err != nil {
				t.Fatal(err)
			}
			newUser(t, h.st, h.clock.Now(), "ann@example.com")
			h.drain(t)
			list, err := h.webhooks.Deliveries(context.Background(), ep.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].State() != "pending" || list[0].Attempts != 1 || !strings.Contains(list[0].Error, "not public") {
				t.Fatalf("deliveries %+v: want one attempt refused as not public, to retry", list)
			}
		})
	}
}

func TestDeliveryFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	h := newHooks(t, nil)
	inner := newReceiver(t)
	inner.setAnswer(func(w http.ResponseWriter, r *http.Request) bool {
		t.Errorf("the redirect was followed to %s", r.URL)
		return false
	})
	rc := newReceiver(t)
	ep := h.add(t, rc, events.UserCreated)
	rc.setAnswer(func(w http.ResponseWriter, r *http.Request) bool {
		http.Redirect(w, r, inner.URL+"/internal", http.StatusTemporaryRedirect)
		return true
	})
	newUser(t, h.st, h.clock.Now(), "ann@example.com")
	h.drain(t)
	list, err := h.webhooks.Deliveries(context.Background(), ep.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].State() != "pending" || list[0].Status != http.StatusTemporaryRedirect {
		t.Fatalf("deliveries %+v: want a failed attempt answered 307", list)
	}
}

func TestEndpointFailingForThreeDaysIsDisabledAndAdministratorsMailed(t *testing.T) {
	t.Parallel()
	h := newHooks(t, nil)
	admin := auth.User{ID: uuid.Must(uuid.NewV7()).String(), Email: "root@example.com", Role: auth.RoleAdmin, CreatedAt: h.clock.Now()}
	if err := h.st.CreateUser(context.Background(), admin, "hash"); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t)
	rc.setAnswer(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "broken", http.StatusBadGateway)
		return true
	})
	ep := h.add(t, rc, events.UserCreated, events.UserUpdated)
	ann := newUser(t, h.st, h.clock.Now(), "ann@example.com")
	for i := range 3 {
		rename(t, h.st, h.clock.Now(), ann.ID, fmt.Sprint("Ann ", i))
	}
	start := h.clock.Now()
	for h.clock.Now().Sub(start) < 80*time.Hour {
		h.drain(t)
		got, err := h.webhooks.Get(context.Background(), ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Enabled() {
			if elapsed := got.DisabledAt.Sub(start); elapsed < 72*time.Hour {
				t.Fatalf("disabled after %s, before three days of failures", elapsed)
			}
			if !strings.Contains(got.DisabledReason, "502") {
				t.Errorf("reason %q does not give the last error", got.DisabledReason)
			}
			mails, err := h.st.OutboxEntries(context.Background(), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(mails) != 1 || mails[0].To != "root@example.com" || !strings.Contains(mails[0].Subject, "disabled a webhook") {
				t.Fatalf("mails %+v: want one notice to the administrator", mails)
			}
			// Disabled, it is not called any more.
			h.clock.Advance(time.Hour)
			if n, err := h.deliver.Deliver(context.Background()); err != nil || n != 0 {
				t.Fatalf("a disabled endpoint's delivery was claimed: %d, %v", n, err)
			}
			return
		}
		h.clock.Advance(30 * time.Minute)
	}
	t.Fatal("an endpoint failing for over three days is still enabled")
}

func TestRotatedSecretSignsBesideTheNewOneForADay(t *testing.T) {
	t.Parallel()
	h := newHooks(t, nil)
	rc := newReceiver(t)
	ep := h.add(t, rc, events.UserCreated)
	newSecret, err := h.webhooks.RotateSecret(context.Background(), ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	newUser(t, h.st, h.clock.Now(), "ann@example.com") // the receiver still knows only the old secret
	h.drain(t)
	if got := rc.received(); len(got) != 1 || got[0].Sigs != 2 {
		t.Fatalf("received %+v: want one event with two signatures", got)
	}
	rc.mu.Lock()
	rc.secrets = []string{newSecret} // and now only the new one
	rc.mu.Unlock()
	h.clock.Advance(events.OldSecretGrace + time.Minute)
	newUser(t, h.st, h.clock.Now(), "bob@example.com")
	h.drain(t)
	if got := rc.received(); len(got) != 2 || got[1].Sigs != 1 || rc.bad != 0 {
		t.Fatalf("received %+v (%d bad): want the second signed by the new secret alone", got, rc.bad)
	}
}

func TestSecretIsSealedAtRest(t *testing.T) {
	t.Parallel()
	h := newHooks(t, nil)
	rc := newReceiver(t)
	h.add(t, rc, events.UserCreated)
	dump := storetest.Dump(t, h.st)
	secret := strings.TrimPrefix(rc.secrets[0], "whsec_")
	if strings.Contains(dump, secret) {
		t.Fatal("the webhook secret is readable in the database")
	}
}

// Two instances share one PostgreSQL database: each event is delivered once.
func TestTwoInstancesOnPostgresDeliverEachEventOnce(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresURL(t) // skips without GATEHOUSE_TEST_POSTGRES
	ctx := context.Background()
	open := func() *store.Store {
		st, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if _, err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return st
	}
	one, two := open(), open()
	key, _ := seal.Generate()
	a := newHooks(t, one, func(dc *events.DelivererConfig, wc *events.WebhooksConfig) {
		dc.Sealer, wc.Sealer, dc.Owner, dc.Batch = key, key, "one", 3
	})
	b := newHooks(t, two, func(dc *events.DelivererConfig, wc *events.WebhooksConfig) {
		dc.Sealer, wc.Sealer, dc.Owner, dc.Batch = key, key, "two", 3
	})
	rc := newReceiver(t)
	a.add(t, rc, events.UserCreated)
	const n = 30
	for i := range n {
		newUser(t, one, a.clock.Now(), fmt.Sprintf("user%d@example.com", i))
	}
	var wg sync.WaitGroup
	for _, h := range []*hooks{a, b} {
		wg.Go(func() {
			for {
				n, err := h.deliver.Deliver(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	got := rc.received()
	ids := map[string]int{}
	for _, r := range got {
		ids[r.ID]++
	}
	if len(got) != n || len(ids) != n {
		t.Fatalf("%d requests for %d distinct events, want each of %d once", len(got), len(ids), n)
	}
}

// One endpoint hangs on every request; the other gets every event, each
// user's in order, while the first is still hanging: the worker claims
// more as deliveries end, and one endpoint holds at most two of its slots.
func TestHangingEndpointDoesNotHoldUpTheOthers(t *testing.T) {
	t.Parallel()
	h := newHooks(t, nil, func(dc *events.DelivererConfig, _ *events.WebhooksConfig) {
		dc.Batch, dc.Timeout, dc.Poll = 4, time.Minute, time.Hour
	})
	release := make(chan struct{})
	var mu sync.Mutex
	hanging, mostHanging := 0, 0
	bad, good := newReceiver(t), newReceiver(t)
	bad.setAnswer(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		hanging++
		mostHanging = max(mostHanging, hanging)
		mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		mu.Lock()
		hanging--
		mu.Unlock()
		http.Error(w, "too late", http.StatusServiceUnavailable)
		return true
	})
	h.add(t, bad, events.UserCreated, events.UserUpdated)
	h.add(t, good, events.UserCreated, events.UserUpdated)
	var users []auth.User
	for i := range 6 {
		users = append(users, newUser(t, h.st, h.clock.Now(), fmt.Sprintf("user%d@example.com", i)))
	}
	for i := range 3 {
		rename(t, h.st, h.clock.Now(), users[0].ID, fmt.Sprint("Ann ", i))
	}

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { h.deliver.Run(ctx); close(stopped) }()
	var stop sync.Once
	shutDown := func() { // before the receivers close (cleanups run last first)
		stop.Do(func() {
			close(release)
			cancel()
			<-stopped
		})
	}
	t.Cleanup(shutDown)
	guard := time.After(30 * time.Second) // a hang guard, shorter than the bad endpoint's timeout
	for range 9 {
		select {
		case <-good.arrived:
		case <-guard:
			t.Fatalf("the healthy endpoint got %d of 9 events while the other hung", len(good.received()))
		}
	}
	mu.Lock()
	most := mostHanging
	mu.Unlock()
	shutDown()
	var first []string
	for _, r := range good.received() {
		if r.Data["user_id"] == users[0].ID {
			first = append(first, r.Type)
		}
	}
	if want := []string{events.UserCreated, events.UserUpdated, events.UserUpdated, events.UserUpdated}; !slices.Equal(first, want) {
		t.Errorf("the first user's events arrived as %v, want %v", first, want)
	}
	if most > 2 {
		t.Errorf("%d requests to the hanging endpoint at once, want at most 2", most)
	}
	if got := bad.received(); len(got) != 0 {
		t.Errorf("the hanging endpoint got %d events", len(got))
	}
}

// A failing endpoint is called no more often than its backoff says: when
// its deliveries fail, its other due ones wait with it instead of each
// calling it at once, and the wait doubles while it keeps failing. Once it
// answers again, everything goes out.
func TestFailingEndpointIsCalledNoMoreOftenThanItsBackoff(t *testing.T) {
	t.Parallel()
	h := newHooks(t, nil) // retries from 1 minute
	rc := newReceiver(t)
	var mu sync.Mutex
	calls := 0
	rc.setAnswer(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		calls++
		mu.Unlock()
		http.Error(w, "broken", http.StatusInternalServerError)
		return true
	})
	called := func() int {
		mu.Lock()
		defer mu.Unlock()
		return calls
	}
	h.add(t, rc, events.UserCreated)
	for i := range 6 {
		newUser(t, h.st, h.clock.Now(), fmt.Sprintf("user%d@example.com", i))
	}
	// Each step: how long after the previous one, how many calls by then.
	steps := []struct {
		after time.Duration
		calls int
	}{
		{0, 2},               // two of the six at once, both fail
		{0, 2},               // the four others wait for the endpoint's backoff
		{time.Minute, 4},     // a minute later (failing for 0 s: the first retry, 1 min)
		{time.Minute, 6},     // failing for 1 min: the next a minute later
		{time.Minute, 6},     // failing for 2 min: the next 2 min later...
		{time.Minute, 8},     // ...here
		{3 * time.Minute, 8}, // failing for 4 min: 4 min later
		{time.Minute, 10},
	}
	for i, s := range steps {
		h.clock.Advance(s.after)
		if _, err := h.deliver.Deliver(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := called(); got != s.calls {
			t.Fatalf("step %d (+%s): the endpoint was called %d times, want %d", i, s.after, got, s.calls)
		}
	}
	rc.setAnswer(nil)
	h.clock.Advance(8 * time.Minute)
	h.drain(t)
	if got := rc.received(); len(got) != 6 {
		t.Fatalf("after recovering the endpoint got %d of 6 events", len(got))
	}
}

// A failed name lookup is recorded without the resolver's address.
func TestAttemptErrorHidesTheResolver(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("post: %w", &net.DNSError{Err: "no such host", Name: "hooks.internal", Server: "10.255.0.2:53", IsNotFound: true})
	if got := events.AttemptError(err); got != "could not resolve hooks.internal: no such host" {
		t.Fatalf("recorded %q", got)
	}
}
