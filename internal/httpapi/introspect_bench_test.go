package httpapi_test

import (
	"encoding/base64"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/oidc"
)

// BenchmarkIntrospect is POST /oauth/introspect through the whole handler
// tree on SQLite, by a resource server's client, about a user's access
// token and about an API key. cpu-µs/op is the process's CPU per request.
func BenchmarkIntrospect(b *testing.B) {
	h := newHarness(b)
	rs, secret, err := h.app.Clients.Add(b.Context(), oidc.ClientInput{Name: "rs", RedirectURIs: []string{"https://rs.example/cb"}, Introspect: true})
	if err != nil {
		b.Fatal(err)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(rs.ID+":"+secret))
	key, _ := h.createKey("ann", "me:read")
	for name, token := range map[string]string{"access token": h.tokens["ann"].AccessToken, "API key": key} {
		b.Run(name, func(b *testing.B) {
			body := url.Values{"token": {token}}.Encode()
			b.ReportAllocs()
			start := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := httptest.NewRequest("POST", "/oauth/introspect", strings.NewReader(body))
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					r.Header.Set("Authorization", basic)
					w := httptest.NewRecorder()
					h.app.Handler.ServeHTTP(w, r)
					if w.Code != 200 || !strings.Contains(w.Body.String(), `"active":true`) {
						b.Errorf("status %d: %s", w.Code, w.Body)
						return
					}
				}
			})
			reportCPU(b, start)
		})
	}
}
