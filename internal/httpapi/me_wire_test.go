package httpapi_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
)

// requestLogLines returns the request log lines in logs so far, raw.
func requestLogLines(logs *testsupport.Buffer) []string {
	var out []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			out = append(out, l)
		}
	}
	return out
}

// jsonKeys returns the keys of a flat JSON object, in their order.
func jsonKeys(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("log line %q is not a JSON object", line)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

var requestIDPattern = regexp.MustCompile(`^[A-Z2-7]{8}-[0-9a-z]+$`)

// TestMeOnTheWire pins what a client and the operator see of GET /me, byte
// for byte: status, every header, the body, the one request log line and
// its fields, and the metrics.
func TestMeOnTheWire(t *testing.T) {
	t.Parallel()
	logs := &testsupport.Buffer{}
	h := newHarness(t, func(c *app.Config) { c.Log = slog.New(slog.NewJSONHandler(logs, nil)) })
	ann := h.users["ann"]
	created, _ := json.Marshal(ann.CreatedAt)
	wantBody := fmt.Sprintf(`{"user":{"id":%q,"email":"ann@example.com","username":"ann","name":"Ann","role":"user","created_at":%s,"email_verified":%t,"mfa":{"totp":false,"passkeys":0}}}`+"\n",
		ann.ID, created, ann.EmailVerified)

	serve := func(r *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.app.Handler.ServeHTTP(w, r)
		return w
	}
	get := func(tlsOn bool, authorization string) *http.Request {
		r := httptest.NewRequest("GET", "/me", nil)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		if tlsOn {
			r.TLS = &tls.ConnectionState{}
		}
		return r
	}
	common := map[string][]string{
		"Cache-Control":          {"no-store"},
		"Content-Type":           {"application/json; charset=utf-8"},
		"X-Content-Type-Options": {"nosniff"},
		"X-Frame-Options":        {"DENY"},
	}
	withHSTS := func(m map[string][]string) map[string][]string {
		out := map[string][]string{"Strict-Transport-Security": {"max-age=63072000; includeSubDomains"}}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	unauthorized := map[string][]string{"Www-Authenticate": {`Bearer realm="gatehouse"`}}
	for k, v := range common {
		unauthorized[k] = v
	}
	rows := []struct {
		name    string
		r       *http.Request
		status  int
		headers map[string][]string
		body    string
	}{
		{"bearer", get(false, "Bearer "+h.tokens["ann"].AccessToken), 200, common, wantBody},
		{"bearer over TLS", get(true, "Bearer "+h.tokens["ann"].AccessToken), 200, withHSTS(common), wantBody},
		{"no token", get(false, ""), 401, unauthorized,
			`{"error":"unauthorized","message":"An access token is required."}` + "\n"},
	}
	for i, row := range rows {
		w := serve(row.r)
		if w.Code != row.status {
			t.Fatalf("%s: status %d, want %d", row.name, w.Code, row.status)
		}
		if got := w.Body.String(); got != row.body {
			t.Fatalf("%s: body\n%s\nwant\n%s", row.name, got, row.body)
		}
		got := w.Header().Clone()
		id := got.Get("X-Request-Id")
		if len(got["X-Request-Id"]) != 1 || !requestIDPattern.MatchString(id) {
			t.Fatalf("%s: X-Request-Id %q", row.name, got["X-Request-Id"])
		}
		delete(got, "X-Request-Id")
		if fmt.Sprint(got) != fmt.Sprint(http.Header(row.headers)) {
			t.Fatalf("%s: headers\n%v\nwant\n%v", row.name, got, row.headers)
		}

		lines := requestLogLines(logs)
		if len(lines) != i+1 {
			t.Fatalf("%s: %d request log lines after %d requests", row.name, len(lines), i+1)
		}
		line := lines[i]
		if keys := jsonKeys(t, line); !slices.Equal(keys, []string{"time", "level", "msg", "method", "route", "path", "status", "duration", "request_id"}) {
			t.Fatalf("%s: log line keys %v: %s", row.name, keys, line)
		}
		var rec struct {
			Level, Msg, Method, Route, Path string
			Status                          int
			Duration                        json.Number
			RequestID                       string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Level != "INFO" || rec.Msg != "request" || rec.Method != "GET" || rec.Route != "GET /me" || rec.Path != "/me" ||
			rec.Status != row.status || rec.RequestID != id {
			t.Fatalf("%s: log line %s (request id %s)", row.name, line, id)
		}
		if n, err := rec.Duration.Int64(); err != nil || n <= 0 {
			t.Fatalf("%s: duration %q is not a positive number of nanoseconds", row.name, rec.Duration)
		}
	}

	w := serve(httptest.NewRequest("GET", "/metrics", nil))
	metrics := w.Body.String()
	for _, want := range []string{
		`gatehouse_http_requests_total{method="GET",route="GET /me",status="200"} 2` + "\n",
		`gatehouse_http_requests_total{method="GET",route="GET /me",status="401"} 1` + "\n",
		`gatehouse_http_request_duration_seconds_count{route="GET /me"} 3` + "\n",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
