package httpapi_test

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
)

// Review (issue 14): --cors-origins took origins that no browser ever sends
// (a browser serializes an origin without its scheme's default port, without
// leading zeros in the port, and with an ASCII host), so the start succeeded
// and the app's every request then failed CORS with nothing said.
func TestReviewParseOriginsRefusesOriginsNoBrowserSends(t *testing.T) {
	for _, bad := range []string{"https://app.example.com:443", "http://localhost:80", "http://localhost:03000",
		"http://localhost:99999", "https://bücher.example"} {
		if got, err := httpapi.ParseOrigins(bad); err == nil {
			t.Errorf("%q accepted as %q: no browser sends that Origin", bad, got)
		}
	}
	if got, err := httpapi.ParseOrigins("https://app.example.com:8443,http://[::1]:3000"); err != nil || len(got) != 2 {
		t.Errorf("non-default ports: %v, %v", got, err)
	}
}
