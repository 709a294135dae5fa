// Package auth is Gatehouse's domain: users, sessions, the errors every layer
// speaks, and the use-case services (Accounts, Sessions, Recovery, Factors,
// Passkeys, Feed, Checks) that New wires over one shared core. It owns the
// interfaces it needs (the Store's ports in ports.go, Hasher, Signer); other
// packages implement them.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
)

// Error codes of the HTTP contract. Each maps to exactly one status code in
// internal/httpjson. Those guard answers with are guard's own constants, so
// the two cannot drift apart.
const (
	CodeInvalidRequest       = guard.CodeInvalidRequest
	CodeWeakPassword         = "weak_password"
	CodeInvalidCredentials   = "invalid_credentials"
	CodeUnauthorized         = guard.CodeUnauthorized
	CodeInvalidToken         = guard.CodeInvalidToken
	CodeTokenExpired         = guard.CodeTokenExpired
	CodeTokenRevoked         = guard.CodeTokenRevoked
	CodeInvalidGrant         = "invalid_grant"
	CodeCSRFFailed           = guard.CodeCSRFFailed
	CodeForbidden            = guard.CodeForbidden
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeAlreadyExists        = "already_exists"
	CodeRequestTooLarge      = "request_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeTooManyRequests      = "too_many_requests"
	CodeUnavailable          = "unavailable"
	CodeInternal             = "internal"
	// Since v2.
	CodeInvalidCode              = "invalid_code"                     // 400: a one-time code or link wrong, used or expired
	CodeMFARequired              = "mfa_required"                     // 401: password right, second factor needed
	CodeReauthenticationRequired = guard.CodeReauthenticationRequired // 403: the action needs a recent login
	CodeEmailNotVerified         = "email_not_verified"               // 403: --require-verified-email and the address is not verified
	// Since v3.
	CodeLastOwner        = "last_owner"          // 409: the change would leave an organization without an owner
	CodeLastSignInMethod = "last_sign_in_method" // 409: removing it would leave the account no way in
)

// Error is an error a client may see: a contract code and one human sentence.
// Anything that is not an *Error is internal and its text is never sent.
type Error struct {
	Code       string
	Message    string
	RetryAfter time.Duration // for too_many_requests and unavailable: when to try again
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// asError finds the client-facing error in err: an *Error, or a refusal of
// guard (*guard.Error), whose codes are the contract's too.
func asError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	var ge *guard.Error
	if errors.As(err, &ge) {
		return &Error{Code: ge.Code, Message: ge.Message}, true
	}
	return nil, false
}

// ErrorCode returns the contract code of err: "" for nil, CodeInternal when
// err is not (and does not wrap) an *Error or a *guard.Error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := asError(err); ok {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the client-safe message of err.
func ErrorMessage(err error) string {
	if e, ok := asError(err); ok {
		return e.Message
	}
	return "An internal error occurred."
}

// errInvalidCredentials is the one answer for unknown user, wrong password and
// disabled account, so the response tells an attacker nothing.
var errInvalidCredentials = Errorf(CodeInvalidCredentials, "The credentials are not valid.")

// RetryAfter returns how long err asks the client to wait (0 when it does not).
func RetryAfter(err error) time.Duration {
	if e, ok := asError(err); ok {
		return e.RetryAfter
	}
	return 0
}
