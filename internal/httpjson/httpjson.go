// Package httpjson is the JSON side of Gatehouse's HTTP contract, shared by
// the API handlers and the books resource: decoding request bodies with the
// contract's limits, encoding responses, and turning errors into
// {"error", "message"} bodies with the right status.
package httpjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// MaxBody is the largest request body accepted: 64 KiB.
const MaxBody = 64 << 10

var statusOf = map[string]int{
	auth.CodeInvalidRequest:       http.StatusBadRequest,
	auth.CodeWeakPassword:         http.StatusBadRequest,
	auth.CodeInvalidCredentials:   http.StatusUnauthorized,
	auth.CodeUnauthorized:         http.StatusUnauthorized,
	auth.CodeInvalidToken:         http.StatusUnauthorized,
	auth.CodeTokenExpired:         http.StatusUnauthorized,
	auth.CodeTokenRevoked:         http.StatusUnauthorized,
	auth.CodeInvalidGrant:         http.StatusUnauthorized,
	auth.CodeCSRFFailed:           http.StatusForbidden,
	auth.CodeForbidden:            http.StatusForbidden,
	auth.CodeNotFound:             http.StatusNotFound,
	auth.CodeMethodNotAllowed:     http.StatusMethodNotAllowed,
	auth.CodeAlreadyExists:        http.StatusConflict,
	auth.CodeRequestTooLarge:      http.StatusRequestEntityTooLarge,
	auth.CodeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	auth.CodeTooManyRequests:      http.StatusTooManyRequests,
	auth.CodeUnavailable:          http.StatusServiceUnavailable,
	auth.CodeInternal:             http.StatusInternalServerError,
	// Since v2.
	auth.CodeInvalidCode:              http.StatusBadRequest,
	auth.CodeMFARequired:              http.StatusUnauthorized,
	auth.CodeReauthenticationRequired: http.StatusForbidden,
	auth.CodeEmailNotVerified:         http.StatusForbidden,
	// Since v3.
	auth.CodeLastOwner:        http.StatusConflict,
	auth.CodeLastSignInMethod: http.StatusConflict,
}

// Status is the HTTP status of a contract error code.
func Status(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

var contentTypeJSON = []string{"application/json; charset=utf-8"}

// Write answers v as JSON with status.
func Write(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // only a programming error: every response type marshals
		http.Error(w, `{"error":"internal","message":"An internal error occurred."}`, http.StatusInternalServerError)
		return
	}
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// Error answers err in the contract's format: every JSON error of Gatehouse,
// guard's refusals included, is written here. Errors that are neither
// *auth.Error nor *guard.Error are logged and answered as a bare 500: their
// text never leaves the server.
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, code, message := Prepare(w, r, log, err)
	Write(w, status, map[string]string{"error": code, "message": message})
}

// Prepare is the part of answering an error that every front end shares (the
// JSON API through Error, the pages with their error template): it maps err's
// code to its status, logs internal errors, and sets the headers the status
// calls for (WWW-Authenticate on 401, Retry-After on 429 and 503). It returns
// the status, the code and the client-safe message to render.
func Prepare(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) (status int, code, message string) {
	code = auth.ErrorCode(err)
	status = Status(code)
	if status == http.StatusInternalServerError {
		if log == nil {
			log = slog.Default()
		}
		log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		challenge := `Bearer realm="gatehouse"`
		if code == auth.CodeInvalidToken || code == auth.CodeTokenExpired || code == auth.CodeTokenRevoked {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	SetRetryAfter(w, err)
	return status, code, auth.ErrorMessage(err)
}

// GuardErrors is the option that makes guard's middleware answer through
// Error, like every other error.
func GuardErrors(log *slog.Logger) guard.Option {
	return guard.OnError(func(w http.ResponseWriter, r *http.Request, err error) { Error(w, r, log, err) })
}

// SetRetryAfter sets Retry-After on answers that ask the client to come back
// (429, 503): the error's own wait, or one second.
func SetRetryAfter(w http.ResponseWriter, err error) {
	switch Status(auth.ErrorCode(err)) {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds(auth.RetryAfter(err))))
	}
}

// RetryAfterSeconds rounds a wait up to whole seconds, at least 1, for the
// Retry-After header.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// ParseForm reads a form body, turning an oversized one into 413, for the
// pages and the API's form posts alike.
func ParseForm(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return TooLarge()
		}
		return auth.Errorf(auth.CodeInvalidRequest, "The form body is malformed.")
	}
	return nil
}

// Credential is a passkey ceremony's credential, as the browser made it
// (a JSON body's field or a page form's): present, and a JSON object.
func Credential(raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, auth.Errorf(auth.CodeInvalidRequest, "Send the credential the browser made, as a JSON object.")
	}
	return raw, nil
}

// IsForm reports whether r's body is an HTML form.
func IsForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

// Decode reads r's JSON body into a new T. An empty body decodes to the zero
// T when allowEmpty is set. It refuses other media types (415), bodies over
// MaxBody (413), malformed JSON, trailing data, wrong types, text that is
// not UTF-8 and an object naming a field twice (400): the last of two
// "email"s, or of "email" and "Email" (the decoder matches names without
// case), would silently win, and HTML forms take the first. Unknown fields
// are ignored.
func Decode[T any](r *http.Request, allowEmpty bool) (T, error) {
	var v T
	if r.ContentLength == 0 && allowEmpty && r.Header.Get("Content-Type") == "" {
		return v, nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return v, auth.Errorf(auth.CodeUnsupportedMediaType, "The request body must be application/json.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
	if err != nil {
		return v, decodeError(err, allowEmpty)
	}
	if !utf8.Valid(body) {
		return v, auth.Errorf(auth.CodeInvalidRequest, "The request body is not valid UTF-8.")
	}
	if name := repeatedName(body); name != "" {
		return v, auth.Errorf(auth.CodeInvalidRequest, "The field %q is given twice.", name)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&v); err != nil {
		return v, decodeError(err, allowEmpty)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return v, auth.Errorf(auth.CodeInvalidRequest, "The request body must hold a single JSON value.")
	}
	return v, nil
}

// repeatedName is the first name an object of body gives twice, compared
// without case as the decoder matches them, or "" (also for malformed JSON,
// which the decoder then refuses).
func repeatedName(body []byte) string {
	if name, ok := repeatedFlatName(body); ok {
		return name
	}
	return repeatedNameOfTokens(body)
}

// repeatedFlatName is repeatedName for the usual body, read without
// allocating: one object of at most 16 members whose names are ASCII
// without escapes and whose values hold no object or array. ok is false
// for any other body, which repeatedNameOfTokens then reads.
func repeatedFlatName(body []byte) (name string, ok bool) {
	var names [16][]byte
	n, i := 0, skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return "", false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return "", skipSpace(body, i+1) == len(body)
	}
	for {
		if i >= len(body) || body[i] != '"' || n == len(names) {
			return "", false
		}
		end := i + 1
		for end < len(body) && body[end] != '"' {
			if c := body[end]; c == '\\' || c >= 0x80 || c < 0x20 {
				return "", false
			}
			end++
		}
		if end >= len(body) {
			return "", false
		}
		key := body[i+1 : end]
		for _, seen := range names[:n] {
			if bytes.EqualFold(seen, key) {
				return string(key), true
			}
		}
		names[n], n = key, n+1
		i = skipSpace(body, end+1)
		if i >= len(body) || body[i] != ':' {
			return "", false
		}
		i = skipSpace(body, i+1)
		if i >= len(body) || body[i] == '{' || body[i] == '[' {
			return "", false
		}
		if body[i] == '"' { // a string value: to its closing quote
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					i++
				}
			}
			i++
		} else { // a number, true, false or null
			for i < len(body) && body[i] != ',' && body[i] != '}' && !isSpace(body[i]) {
				i++
			}
		}
		i = skipSpace(body, i)
		switch {
		case i < len(body) && body[i] == ',':
			i = skipSpace(body, i+1)
		case i < len(body) && body[i] == '}':
			return "", skipSpace(body, i+1) == len(body)
		default:
			return "", false
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// repeatedNameOfTokens is repeatedName for any body, through the decoder's
// tokens (names unescaped, nested objects and arrays followed).
func repeatedNameOfTokens(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	type level struct {
		names map[string]bool // nil: an array
		key   bool            // the next token of an object is a name
	}
	var stack []level
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *level
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if top != nil && top.names != nil && top.key {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].names != nil {
					stack[len(stack)-1].key = true
				}
				continue
			}
			// Folded as the decoder folds (Unicode: "ſ" is "s", "K" is "k").
			name := strings.ToLower(strings.ToUpper(tok.(string)))
			if top.names[name] {
				return tok.(string)
			}
			top.names[name], top.key = true, false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, level{names: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, level{})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: the enclosing object expects a name next.
		if len(stack) > 0 && stack[len(stack)-1].names != nil {
			stack[len(stack)-1].key = true
		}
	}
}

func decodeError(err error, allowEmpty bool) error {
	var tooLarge *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return TooLarge()
	case errors.Is(err, io.EOF) && allowEmpty:
		return nil
	case errors.Is(err, io.EOF):
		return auth.Errorf(auth.CodeInvalidRequest, "The request body is empty.")
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return auth.Errorf(auth.CodeInvalidRequest, "The field %q has the wrong type.", typeErr.Field)
	default:
		return auth.Errorf(auth.CodeInvalidRequest, "The request body is not valid JSON.")
	}
}

// TooLarge is the error for bodies over MaxBody.
func TooLarge() error {
	return auth.Errorf(auth.CodeRequestTooLarge, "The request body must be at most 64 KiB.")
}

// oauthStatus is the status of each error code the OAuth endpoints answer
// (RFC 6749 5.2, RFC 6750 3.1, RFC 7009 2.2.1).
var oauthStatus = map[string]int{
	"invalid_request":        http.StatusBadRequest,
	"invalid_client":         http.StatusUnauthorized,
	"invalid_grant":          http.StatusBadRequest,
	"unauthorized_client":    http.StatusBadRequest,
	"unsupported_grant_type": http.StatusBadRequest,
	"invalid_scope":          http.StatusBadRequest,
	"invalid_target":         http.StatusBadRequest, // RFC 8707 2
	"unsupported_token_type": http.StatusBadRequest,
	"invalid_token":          http.StatusUnauthorized,
	"insufficient_scope":     http.StatusForbidden,
	"too_many_requests":      http.StatusTooManyRequests,
}

// oauthCode turns the contract's codes into RFC 6749's where they differ.
var oauthCode = map[string]string{
	auth.CodeInvalidCredentials:   "invalid_client",
	auth.CodeUnauthorized:         "invalid_token",
	auth.CodeTokenExpired:         "invalid_token",
	auth.CodeTokenRevoked:         "invalid_token",
	auth.CodeUnsupportedMediaType: "invalid_request",
	auth.CodeRequestTooLarge:      "invalid_request",
	auth.CodeInternal:             "server_error",
	auth.CodeUnavailable:          "temporarily_unavailable",
}

// OAuthError answers err in RFC 6749's format, {"error", "error_description"},
// for the OAuth endpoints (token, userinfo, revocation, introspection). 401
// carries WWW-Authenticate: Basic for client authentication (realm
// "gatehouse"), Bearer with error="invalid_token" for a refused access
// token; 429 and 503 carry Retry-After. Internal errors are logged and
// answered as server_error.
func OAuthError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := auth.ErrorCode(err)
	message := auth.ErrorMessage(err)
	if c, ok := oauthCode[code]; ok {
		code = c
	}
	status, ok := oauthStatus[code]
	switch {
	case code == "server_error":
		status = http.StatusInternalServerError
		if log == nil {
			log = slog.Default()
		}
		log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	case code == "temporarily_unavailable":
		status = http.StatusServiceUnavailable
	case !ok:
		code, status = "invalid_request", http.StatusBadRequest
	}
	switch code {
	case "invalid_client":
		w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse"`)
	case "invalid_token", "insufficient_scope":
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="`+code+`"`)
	}
	SetRetryAfter(w, err)
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Pragma", "no-cache")
	Write(w, status, map[string]string{"error": code, "error_description": message})
}
