package guard

import (
	"encoding/json"
	"net/http"
)

// The error codes guard answers with: the Gatehouse contract's codes for a
// refused request. Compare an *Error's Code with these, never with strings.
const (
	// CodeInvalidRequest: the request breaks a rule of the service behind
	// guard, such as a book without a title (400). guard's middleware never
	// answers it; a service returns it as an *Error to be written with the
	// others, by WriteError or the application's own writer.
	CodeInvalidRequest = "invalid_request"

	CodeUnauthorized = "unauthorized"  // no token was sent (401)
	CodeInvalidToken = "invalid_token" // a token was sent and refused (401)
	CodeTokenExpired = "token_expired" // the token's exp has passed (401)
	CodeTokenRevoked = "token_revoked" // the token's session has ended (401)
	CodeForbidden    = "forbidden"     // the token lacks what the route needs (403)
	CodeCSRFFailed   = "csrf_failed"   // a cookie-carried request failed the CSRF checks (403)
	// CodeReauthenticationRequired: the route needs a recent sign-in or a
	// second factor (MaxAuthAge, RequireMFA) that the token does not show (403).
	CodeReauthenticationRequired = "reauthentication_required"
	// CodeUnavailable: an API key could not be checked, Gatehouse being
	// unreachable (503); the client may retry.
	CodeUnavailable = "unavailable"
)

// Status is the HTTP status of one of guard's codes.
func Status(code string) int {
	switch code {
	case CodeInvalidRequest:
		return http.StatusBadRequest
	case CodeForbidden, CodeCSRFFailed, CodeReauthenticationRequired:
		return http.StatusForbidden
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusUnauthorized
	}
}

// ErrorWriter answers a request that guard refused; err is an *Error.
// WriteError is the default; an application with its own error format
// passes its writer to Require with OnError.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)

// WriteError answers err in the contract's format: {"error", "message"} with
// its status, and for 401 a WWW-Authenticate challenge (RFC 6750).
func WriteError(w http.ResponseWriter, err error) {
	e, ok := err.(*Error)
	if !ok {
		e = errInvalidToken
	}
	status := Status(e.Code)
	switch {
	case e.Code == CodeUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
	case status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="invalid_token"`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": e.Code, "message": e.Message})
}
