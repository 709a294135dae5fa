package guard

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
)

// Option changes what a middleware made by Require or Optional demands.
type Option func(*options)

type options struct {
	role     string
	optional bool
}

// Role requires the token's role claim to equal role; others get 403 forbidden.
func Role(role string) Option { return func(o *options) { o.role = role } }

// Require returns middleware that lets a request through only with a valid
// access token, and answers 401 (or 403) in the contract's JSON otherwise.
func (g *Guard) Require(opts ...Option) func(http.Handler) http.Handler {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, err := g.Authenticate(r)
			if err != nil {
				if o.optional && err == errNoToken {
					next.ServeHTTP(w, r)
					return
				}
				WriteError(w, err)
				return
			}
			if o.role != "" && claims.Role != o.role {
				WriteError(w, &Error{"forbidden", "This action needs the " + o.role + " role."})
				return
			}
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), claims)))
		})
	}
}

// Optional returns middleware that verifies a token when one is sent (and
// refuses a bad one) but lets requests without any token through, without
// claims in their context.
func (g *Guard) Optional(opts ...Option) func(http.Handler) http.Handler {
	return g.Require(append(opts, func(o *options) { o.optional = true })...)
}

// Authenticate finds and verifies the token of r. A cookie-carried token on
// an unsafe method must also pass CSRF checks: same origin (Sec-Fetch-Site /
// Origin) and a double-submit token equal to the CSRF cookie.
func (g *Guard) Authenticate(r *http.Request) (*Claims, error) {
	token, carrier := FindToken(r, g.cfg.AccessCookie)
	if carrier == CarrierNone {
		return nil, errNoToken
	}
	if carrier == CarrierCookie && !isSafeMethod(r.Method) {
		if err := g.CheckCSRF(r); err != nil {
			return nil, err
		}
	}
	return g.Verify(token)
}

var (
	errCrossOrigin = &Error{"csrf_failed", "Cross-origin requests are refused."}
	errCSRFToken   = &Error{"csrf_failed", "The CSRF token is missing or wrong."}
)

// crossOrigin refuses requests that browsers mark as coming from another origin.
var crossOrigin = http.NewCrossOriginProtection()

// CheckCSRF refuses a cross-origin request, and one whose X-CSRF-Token header
// (or csrf_token form field) does not equal the CSRF cookie.
func (g *Guard) CheckCSRF(r *http.Request) error {
	if crossOrigin.Check(r) != nil {
		return errCrossOrigin
	}
	cookie, err := r.Cookie(g.cfg.CSRFCookie)
	if err != nil || cookie.Value == "" {
		return errCSRFToken
	}
	sent := r.Header.Get("X-CSRF-Token")
	if sent == "" {
		sent = r.PostFormValue("csrf_token")
	}
	if subtle.ConstantTimeCompare([]byte(sent), []byte(cookie.Value)) != 1 {
		return errCSRFToken
	}
	return nil
}

func isSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// WriteError answers err in the contract's format: {"error", "message"} with
// its status, and for 401 a WWW-Authenticate challenge (RFC 6750).
func WriteError(w http.ResponseWriter, err error) {
	e, ok := err.(*Error)
	if !ok {
		e = errInvalidToken
	}
	status := http.StatusUnauthorized
	switch e.Code {
	case "forbidden", "csrf_failed":
		status = http.StatusForbidden
	case "unauthorized":
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="invalid_token"`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": e.Code, "message": e.Message})
}
