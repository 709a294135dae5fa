package guard

import (
	"net/http"
	"strings"
)

// Carrier tells where a request's token was found. Cookie-carried tokens are
// sent by browsers automatically, so they need CSRF checks; the others do not.
type Carrier int

const (
	CarrierNone   Carrier = iota
	CarrierBearer         // Authorization: Bearer <jwt>
	CarrierBare           // Authorization: <jwt>
	CarrierHeader         // x-access-tokens: <jwt>
	CarrierCookie         // the access cookie
)

// FindToken returns the access token of r and where it was found, looking in
// the contract's order: Authorization Bearer, bare Authorization,
// x-access-tokens, then the cookie named cookieName. Query strings are never
// read. An Authorization header with another scheme (Basic) holds no token.
func FindToken(r *http.Request, cookieName string) (string, Carrier) {
	if auth := strings.TrimSpace(r.Header.Get("Authorization")); auth != "" {
		scheme, rest, found := strings.Cut(auth, " ")
		switch {
		case found && strings.EqualFold(scheme, "Bearer"):
			if tok := strings.TrimSpace(rest); tok != "" {
				return tok, CarrierBearer
			}
		case !found && strings.Count(auth, ".") == 2:
			return auth, CarrierBare
		}
	}
	if tok := strings.TrimSpace(r.Header.Get("X-Access-Tokens")); tok != "" {
		return tok, CarrierHeader
	}
	if c, err := r.Cookie(cookieName); err == nil && c.Value != "" {
		return c.Value, CarrierCookie
	}
	return "", CarrierNone
}
