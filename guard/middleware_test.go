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

// TestSafeMethods: one answer to "can this method change state?", used by
// guard's CSRF check and Gatehouse's pages alike. OPTIONS is safe, as it is
// for http.CrossOriginProtection.
func TestSafeMethods(t *testing.T) {
	t.Parallel()
	for m, safe := range map[string]bool{
		"GET": true, "HEAD": true, "OPTIONS": true,
		"POST": false, "PUT": false, "PATCH": false, "DELETE": false, "TRACE": false, "CONNECT": false,
	} {
		if guard.IsSafeMethod(m) != safe {
			t.Errorf("IsSafeMethod(%s) = %t, want %t", m, !safe, safe)
		}
	}
	// Through the middleware: a cookie-carried OPTIONS needs no CSRF token,
	// a cookie-carried DELETE does.
	f := newFixture(t)
	tok := sign(t, jwt.SigningMethodEdDSA, f.priv, f.claims(), map[string]any{"kid": "ed"})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for m, want := range map[string]int{"OPTIONS": 200, "DELETE": 403} {
		r := httptest.NewRequest(m, "/", nil)
		r.AddCookie(&http.Cookie{Name: "__Host-access", Value: tok})
		r.AddCookie(&http.Cookie{Name: "__Host-csrf", Value: "c1"})
		w := httptest.NewRecorder()
		f.guard.Require()(ok).ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("cookie %s without CSRF token: %d, want %d", m, w.Code, want)
		}
	}
}

// TestErrorCodes: guard's refusals carry its exported codes, WriteError
// gives each its status, and OnError hands every refusal (role included) to
// the application's own writer instead.
func TestErrorCodes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := sign(t, jwt.SigningMethodEdDSA, f.priv, f.claims(), map[string]any{"kid": "ed"})
	f.revoked["sess-2"] = true
	revokedClaims := f.claims()
	revokedClaims.SessionID = "sess-2"
	revokedTok := sign(t, jwt.SigningMethodEdDSA, f.priv, revokedClaims, map[string]any{"kid": "ed"})
	expiredClaims := f.claims()
	expiredClaims.ExpiresAt = jwt.NewNumericDate(f.now.Add(-10 * time.Minute))
	expiredClaims.IssuedAt = jwt.NewNumericDate(f.now.Add(-2 * 10 * time.Minute))
	expiredClaims.NotBefore = expiredClaims.IssuedAt
	expiredTok := sign(t, jwt.SigningMethodEdDSA, f.priv, expiredClaims, map[string]any{"kid": "ed"})
	cases := []struct {
		name   string
		setup  func(r *http.Request)
		opts   []guard.Option
		code   string
		status int
	}{
		{"no token", func(r *http.Request) {}, nil, guard.CodeUnauthorized, 401},
		{"bad token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer x.y.z") }, nil, guard.CodeInvalidToken, 401},
		{"expired", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+expiredTok) }, nil, guard.CodeTokenExpired, 401},
		{"revoked", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+revokedTok) }, nil, guard.CodeTokenRevoked, 401},
		{"role", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }, []guard.Option{guard.Role("admin")}, guard.CodeForbidden, 403},
		{"csrf", func(r *http.Request) {
			r.Method = "POST"
			r.AddCookie(&http.Cookie{Name: "__Host-access", Value: tok})
		}, nil, guard.CodeCSRFFailed, 403},
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			c.setup(r)
			w := httptest.NewRecorder()
			f.guard.Require(c.opts...)(ok).ServeHTTP(w, r)
			var body struct{ Error string }
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != c.status || body.Error != c.code || guard.Status(c.code) != c.status {
				t.Fatalf("default writer: %d %q, want %d %q", w.Code, body.Error, c.status, c.code)
			}
			var got *guard.Error
			own := guard.OnError(func(w http.ResponseWriter, r *http.Request, err error) {
				got, _ = err.(*guard.Error)
				w.WriteHeader(599)
			})
			w = httptest.NewRecorder()
			f.guard.Require(append(c.opts, own)...)(ok).ServeHTTP(w, r)
			if w.Code != 599 || got == nil || got.Code != c.code {
				t.Fatalf("OnError writer: %d %v, want it called with %q", w.Code, got, c.code)
			}
		})
	}
}

// TestWriteErrorAnswersAServicesOwnRefusal: a service behind guard refuses
// a request that breaks its own rules (a book without a title) with
// CodeInvalidRequest, and WriteError answers it as the contract does: 400,
// without a token challenge.
func TestWriteErrorAnswersAServicesOwnRefusal(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	guard.WriteError(w, &guard.Error{Code: guard.CodeInvalidRequest, Message: "The title must be 1 to 200 characters."})
	var body struct{ Error, Message string }
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	if w.Code != 400 || guard.Status(guard.CodeInvalidRequest) != 400 || body.Error != "invalid_request" ||
		body.Message != "The title must be 1 to 200 characters." || w.Header().Get("WWW-Authenticate") != "" {
		t.Fatalf("got %d %s %q", w.Code, w.Body, w.Header().Get("WWW-Authenticate"))
	}
}
