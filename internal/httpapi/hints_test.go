package httpapi_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
)

// serveAt serves one request through h's handler tree with the given Host
// and headers.
func serveAt(h *harness, method, host, path, body string, headers map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Host = host
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.app.Handler.ServeHTTP(w, r)
	return w
}

func logsInto(b *testsupport.Buffer) func(*app.Config) {
	return func(c *app.Config) { c.Log = slog.New(slog.NewTextHandler(b, nil)) }
}

// An OpenID Connect client configured with http://localhost:8080 refuses
// the issuer http://127.0.0.1:8080 by the letter of the specification: the
// server, which sees the discovery request arrive at another host, says so
// in its log, once per host.
func TestDiscoveryAtAnotherHostIsHintedOnce(t *testing.T) {
	t.Parallel()
	var logs testsupport.Buffer
	h := newHarness(t, logsInto(&logs))
	issuerHost := strings.TrimPrefix(testIssuer, "https://")
	for _, host := range []string{issuerHost, "localhost:8080", "LOCALHOST:8080", "localhost:8080", issuerHost} {
		if w := serveAt(h, "GET", host, "/.well-known/openid-configuration", "", nil); w.Code != 200 || !strings.Contains(w.Body.String(), `"issuer":"`+testIssuer+`"`) {
			t.Fatalf("discovery at %s: %d %s", host, w.Code, w.Body)
		}
	}
	const hint = "discovery was asked for at another host than the issuer's"
	if n := strings.Count(logs.String(), hint); n != 1 || !strings.Contains(logs.String(), "host=localhost:8080 issuer="+testIssuer) {
		t.Fatalf("%d hints, want one naming the host and the issuer:\n%s", n, logs.String())
	}
}

// A page on an origin --cors-origins does not list sees only "Failed to
// fetch": the server logs the origin once, naming the flag. Listed origins
// and Gatehouse's own pages are not hinted about.
func TestUnlistedCORSOriginIsHintedOnce(t *testing.T) {
	t.Parallel()
	const hint = "a page on an origin that --cors-origins does not list called the API"
	const unlisted = "http://127.0.0.1:3000"
	login := `{"identifier":"ann@example.com","password":"` + annPassword + `"}`
	t.Run("with origins listed", func(t *testing.T) {
		var logs testsupport.Buffer
		h := newHarness(t, withCORS(spaOrigin), logsInto(&logs))
		for _, origin := range []string{spaOrigin, "https://gatehouse.test", unlisted, unlisted} {
			headers := map[string]string{"Origin": origin, "Content-Type": "application/json"}
			serveAt(h, "POST", "gatehouse.test", "/login", login, headers)
			serveAt(h, "OPTIONS", "gatehouse.test", "/login", "", map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST"})
		}
		if n := strings.Count(logs.String(), hint); n != 1 ||
			!strings.Contains(logs.String(), "origin="+unlisted+" cors_origins="+spaOrigin) {
			t.Fatalf("%d hints, want one naming the origin and the list:\n%s", n, logs.String())
		}
	})
	t.Run("with none listed", func(t *testing.T) {
		var logs testsupport.Buffer
		h := newHarness(t, logsInto(&logs))
		w := serveAt(h, "OPTIONS", "gatehouse.test", "/login", "", map[string]string{"Origin": spaOrigin, "Access-Control-Request-Method": "POST"})
		if w.Code != http.StatusMethodNotAllowed || strings.Count(logs.String(), hint) != 1 || !strings.Contains(logs.String(), "origin="+spaOrigin) {
			t.Fatalf("preflight %d; log:\n%s", w.Code, logs.String())
		}
	})
}
