package httpapi_test

import (
	"encoding/json"
	"testing"
)

// A code whose exchange is refused because of what happened since it was
// issued (its grant revoked, its browser session logged out, its user
// disabled) is refused as an authorization code, not as a refresh token.
func TestRefusedCodeExchangeNamesTheAuthorizationCode(t *testing.T) {
	t.Parallel()
	for name, since := range map[string]req{
		"grant revoked":         {method: "DELETE", path: "/me/grants/WEB", as: "ann"},
		"browser session ended": {method: "POST", path: "/logout", as: "ann"},
		"user disabled":         {method: "PATCH", path: "/users/ID:ann", as: "admin", body: `{"disabled":true}`},
	} {
		t.Run(name, func(t *testing.T) {
			f := newOIDC(t)
			verifier, challenge := pkcePair("r")
			code := f.codeFor("ann", authParams(f.web, rpRedirect, challenge))
			if since.path == "/me/grants/WEB" {
				since.path = "/me/grants/" + f.web.ID
			}
			if w := f.do(since); w.Code >= 300 {
				t.Fatalf("%s: %d %s", name, w.Code, w.Body)
			}
			w := f.token(codeForm(code, rpRedirect, verifier), f.webBasic())
			var e struct {
				Error            string `json:"error"`
				ErrorDescription string `json:"error_description"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != 400 || e.Error != "invalid_grant" || e.ErrorDescription != "The authorization code is not valid." {
				t.Fatalf("exchange after %s: %d %s", name, w.Code, w.Body)
			}
		})
	}
}
