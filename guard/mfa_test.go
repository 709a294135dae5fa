package guard_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/golang-jwt/jwt/v5"
)

// TestRequireMFAAndMaxAuthAge: the options read amr and auth_time, refuse
// with 403 reauthentication_required, and combine with Role.
func TestRequireMFAAndMaxAuthAge(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	token := func(amr []string, authAgo time.Duration, role string) string {
		c := f.claims()
		c.AMR, c.Role = amr, role
		if authAgo >= 0 {
			c.AuthTime = jwt.NewNumericDate(f.now.Add(-authAgo))
		}
		return sign(t, jwt.SigningMethodEdDSA, f.priv, c, map[string]any{"kid": "ed"})
	}
	mfa := []string{"pwd", "otp", "mfa"}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, tc := range []struct {
		name string
		opts []guard.Option
		tok  string
		want int
		code string
	}{
		{"mfa token, RequireMFA", []guard.Option{guard.RequireMFA()}, token(mfa, 0, "user"), 200, ""},
		{"password token, RequireMFA", []guard.Option{guard.RequireMFA()}, token([]string{"pwd"}, 0, "user"), 403, guard.CodeReauthenticationRequired},
		{"otp alone is not mfa", []guard.Option{guard.RequireMFA()}, token([]string{"otp"}, 0, "user"), 403, guard.CodeReauthenticationRequired},
		{"no amr, RequireMFA", []guard.Option{guard.RequireMFA()}, token(nil, 0, "user"), 403, guard.CodeReauthenticationRequired},
		{"recent, MaxAuthAge", []guard.Option{guard.MaxAuthAge(10 * time.Minute)}, token([]string{"pwd"}, 10*time.Minute, "user"), 200, ""},
		{"within leeway, MaxAuthAge", []guard.Option{guard.MaxAuthAge(10 * time.Minute)}, token([]string{"pwd"}, 10*time.Minute+4*time.Second, "user"), 200, ""},
		{"old, MaxAuthAge", []guard.Option{guard.MaxAuthAge(10 * time.Minute)}, token([]string{"pwd"}, 11*time.Minute, "user"), 403, guard.CodeReauthenticationRequired},
		{"no auth_time, MaxAuthAge", []guard.Option{guard.MaxAuthAge(10 * time.Minute)}, token([]string{"pwd"}, -1, "user"), 403, guard.CodeReauthenticationRequired},
		{"both, both met", []guard.Option{guard.RequireMFA(), guard.MaxAuthAge(time.Minute)}, token(mfa, 30*time.Second, "user"), 200, ""},
		{"both, old mfa", []guard.Option{guard.RequireMFA(), guard.MaxAuthAge(time.Minute)}, token(mfa, time.Hour, "user"), 403, guard.CodeReauthenticationRequired},
		{"role checked first", []guard.Option{guard.Role("admin"), guard.RequireMFA()}, token([]string{"pwd"}, 0, "user"), 403, guard.CodeForbidden},
		{"role and mfa met", []guard.Option{guard.Role("admin"), guard.RequireMFA()}, token(mfa, 0, "admin"), 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+tc.tok)
			w := httptest.NewRecorder()
			f.guard.Require(tc.opts...)(ok).ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.code != "" {
				var body map[string]string
				_ = json.Unmarshal(w.Body.Bytes(), &body)
				if body["error"] != tc.code || body["message"] == "" {
					t.Fatalf("body %s, want %s", w.Body, tc.code)
				}
			}
		})
	}
	if guard.Status(guard.CodeReauthenticationRequired) != 403 {
		t.Fatal("reauthentication_required is not 403")
	}
}
