package httpjson

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// TestOneErrorWriter: guard's refusals, auth's errors and internal errors all
// come out of Error with the contract's status, body and headers, and guard's
// own default writer agrees with it on every guard code.
func TestOneErrorWriter(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := []struct {
		err       error
		status    int
		code      string
		challenge string
		retry     string
	}{
		{&guard.Error{Code: guard.CodeUnauthorized, Message: "m"}, 401, "unauthorized", `Bearer realm="gatehouse"`, ""},
		{&guard.Error{Code: guard.CodeInvalidToken, Message: "m"}, 401, "invalid_token", `Bearer realm="gatehouse", error="invalid_token"`, ""},
		{&guard.Error{Code: guard.CodeTokenExpired, Message: "m"}, 401, "token_expired", `Bearer realm="gatehouse", error="invalid_token"`, ""},
		{&guard.Error{Code: guard.CodeTokenRevoked, Message: "m"}, 401, "token_revoked", `Bearer realm="gatehouse", error="invalid_token"`, ""},
		{&guard.Error{Code: guard.CodeForbidden, Message: "m"}, 403, "forbidden", "", ""},
		{fmt.Errorf("wrapped: %w", &guard.Error{Code: guard.CodeCSRFFailed, Message: "m"}), 403, "csrf_failed", "", ""},
		{auth.Errorf(auth.CodeNotFound, "m"), 404, "not_found", "", ""},
		{&auth.Error{Code: auth.CodeTooManyRequests, Message: "m", RetryAfter: 1500 * time.Millisecond}, 429, "too_many_requests", "", "2"},
		{fmt.Errorf("disk on fire"), 500, "internal", "", ""},
		{auth.Errorf(auth.CodeInvalidCode, "m"), 400, "invalid_code", "", ""},
		{auth.Errorf(auth.CodeMFARequired, "m"), 401, "mfa_required", `Bearer realm="gatehouse"`, ""},
		{&guard.Error{Code: guard.CodeReauthenticationRequired, Message: "m"}, 403, "reauthentication_required", "", ""},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			w := httptest.NewRecorder()
			Error(w, httptest.NewRequest("GET", "/", nil), quiet, c.err)
			var body map[string]string
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != c.status || body["error"] != c.code || body["message"] == "" || len(body) != 2 {
				t.Fatalf("Error(%v) = %d %s, want %d %s", c.err, w.Code, w.Body, c.status, c.code)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != c.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, c.challenge)
			}
			if got := w.Header().Get("Retry-After"); got != c.retry {
				t.Fatalf("Retry-After %q, want %q", got, c.retry)
			}
			var ge *guard.Error
			if e, ok := c.err.(*guard.Error); ok {
				ge = e
			}
			if ge == nil {
				return
			}
			gw := httptest.NewRecorder()
			guard.WriteError(gw, ge)
			if gw.Code != w.Code || gw.Body.String() != w.Body.String() || gw.Header().Get("WWW-Authenticate") != c.challenge {
				t.Fatalf("guard's own writer answers %d %s %q; Gatehouse's %d %s", gw.Code, gw.Body, gw.Header().Get("WWW-Authenticate"), w.Code, w.Body)
			}
		})
	}
}
