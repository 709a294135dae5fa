package httpapi_test

import "testing"

// Review (issue 14): the OAuth endpoints of the browser API take form bodies
// (RFC 6749 requires application/x-www-form-urlencoded at /oauth/token, and
// /oauth/token refuses JSON), so a browser app on a listed origin posts a
// form. Those answers must carry CORS like any other answer of the browser
// API, or the app can never read its tokens.
func TestReviewCORSOnOAuthFormEndpoints(t *testing.T) {
	h := newHarness(t, withCORS(spaOrigin))
	form := "application/x-www-form-urlencoded"
	hdr := map[string]string{"Origin": spaOrigin, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
	for _, r := range []req{
		{method: "POST", path: "/oauth/token", contentType: form, headers: hdr,
			body: "grant_type=authorization_code&code=x&client_id=spa&code_verifier=v&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcb"},
		{method: "POST", path: "/oauth/revoke", contentType: form, headers: hdr, body: "token=abc&client_id=spa"},
		{method: "POST", path: "/userinfo", contentType: form, headers: hdr, body: "access_token=abc"},
	} {
		w := h.do(r)
		what := r.method + " " + r.path + " (form)"
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != spaOrigin {
			t.Errorf("%s: %d, Access-Control-Allow-Origin %q, want %q", what, w.Code, got, spaOrigin)
		}
		if !varyOrigin(w) {
			t.Errorf("%s: no Vary: Origin", what)
		}
	}
}
