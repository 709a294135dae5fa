package events_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/events/outbound"
	"github.com/gatehouse-auth/gatehouse/internal/events/queue"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
)

// verifyStandardWebhook checks a request the way a receiver following the
// Standard Webhooks specification does, written here from the
// specification and not with the package's signer: the signed content is
// "<webhook-id>.<webhook-timestamp>.<body>", the key the base64 after
// "whsec_", and webhook-signature a space-separated list of "v1,<base64
// HMAC-SHA256>", any one of which may match.
func verifyStandardWebhook(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if id == "" || ts == "" {
		return false
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, id+"."+ts+".")
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		version, b64, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// received is one request a receiver verified.
type received struct {
	ID   string
	Type string
	Data map[string]string
	Body []byte
	Sigs int // signatures sent
}

// receiver is a webhook endpoint in the test: it verifies each request
// against its secrets and answers with answer (200 when nil).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	secrets []string
	got     []received
	arrived chan struct{}                                     // one send per verified request (buffered; extra ones dropped)
	bad     int                                               // requests whose signature did not verify
	answer  func(w http.ResponseWriter, r *http.Request) bool // true: answered (not delivered)
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{arrived: make(chan struct{}, 1000)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		answer := rc.answer
		rc.mu.Unlock()
		if answer != nil && answer(w, r) {
			return
		}
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		ok := false
		for _, s := range rc.secrets {
			ok = ok || verifyStandardWebhook(s, r.Header, body)
		}
		if !ok {
			rc.bad++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev struct {
			Type      string            `json:"type"`
			Timestamp string            `json:"timestamp"`
			Data      map[string]string `json:"data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if _, err := time.Parse(time.RFC3339, ev.Timestamp); err != nil {
			http.Error(w, "bad timestamp", http.StatusBadRequest)
			return
		}
		rc.got = append(rc.got, received{ID: r.Header.Get("webhook-id"), Type: ev.Type, Data: ev.Data, Body: body,
			Sigs: len(strings.Fields(r.Header.Get("webhook-signature")))})
		select {
		case rc.arrived <- struct{}{}:
		default:
		}
		w.Write([]byte("thanks"))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) setAnswer(f func(w http.ResponseWriter, r *http.Request) bool) {
	rc.mu.Lock()
	rc.answer = f
	rc.mu.Unlock()
}

// hooks is a store, the endpoint service and a deliverer on a manual clock.
type hooks struct {
	st       *store.Store
	key      *seal.Key
	clock    *testsupport.Clock
	webhooks *events.Webhooks
	deliver  *events.Deliverer
	logs     *testsupport.Buffer
}

type hookOpt func(*events.DelivererConfig, *events.WebhooksConfig)

func newHooks(t *testing.T, st *store.Store, opts ...hookOpt) *hooks {
	t.Helper()
	if st == nil {
		st = storetest.New(t)
	}
	key, _ := seal.Generate()
	h := &hooks{st: st, key: key, clock: testsupport.NewClock(time.Now().UTC().Truncate(time.Millisecond)), logs: &testsupport.Buffer{}}
	wc := events.WebhooksConfig{Store: st, Sealer: key, AllowPrivate: true, Now: h.clock.Now}
	tmpl, err := mail.NewTemplates("", "http://gatehouse.test")
	if err != nil {
		t.Fatal(err)
	}
	dc := events.DelivererConfig{Store: st, Sealer: key, Now: h.clock.Now, Timeout: 2 * time.Second, Mailer: tmpl,
		Retry: queue.Retry{First: time.Minute, Max: time.Hour, MaxAge: 72 * time.Hour},
		Log:   slog.New(slog.NewTextHandler(h.logs, nil))}
	for _, o := range opts {
		o(&dc, &wc)
	}
	if dc.Client == nil {
		dc.Client = outbound.NewClient(outbound.Options{AllowPrivate: wc.AllowPrivate, Timeout: dc.Timeout})
	}
	h.webhooks = events.NewWebhooks(wc)
	h.deliver = events.NewDeliverer(dc)
	return h
}

// add registers rc for types and lets rc verify with its secret.
func (h *hooks) add(t *testing.T, rc *receiver, types ...string) events.Endpoint {
	t.Helper()
	ep, secret, err := h.webhooks.Add(auth.WithActor(context.Background(), "test"), events.EndpointInput{URL: rc.URL, Events: types})
	if err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	rc.secrets = append(rc.secrets, secret)
	rc.mu.Unlock()
	return ep
}

// drain runs delivery rounds until one claims nothing.
func (h *hooks) drain(t *testing.T) {
	t.Helper()
	for range 1000 {
		n, err := h.deliver.Deliver(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("the queue did not drain")
}
