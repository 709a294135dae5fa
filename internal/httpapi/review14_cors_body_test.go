package httpapi_test

import (
	"strings"
	"testing"
)

// Review (issue 14): a body over 64 KiB announced by Content-Length is
// refused (413) before the routes, so the answer of a browser API route to a
// listed origin carried no CORS and no Vary: Origin: the app's fetch failed
// with a network error instead of reading the 413.
func TestReviewCORSOnTooLargeBody(t *testing.T) {
	h := newHarness(t, withCORS(spaOrigin))
	w := h.do(req{method: "POST", path: "/login", headers: map[string]string{"Origin": spaOrigin},
		body: `{"email":"` + strings.Repeat("a", 70<<10) + `"}`})
	if w.Code != 413 {
		t.Fatalf("status %d, want 413", w.Code)
	}
	if got := w.Header().Get("Access-Control-Allow-Origin"); got != spaOrigin {
		t.Errorf("413 to a listed origin: Access-Control-Allow-Origin %q, want %q", got, spaOrigin)
	}
	if !varyOrigin(w) {
		t.Errorf("413: no Vary: Origin")
	}
}
