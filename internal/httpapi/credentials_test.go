package httpapi

import (
	"encoding/base64"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseBasicAuth(t *testing.T) {
	t.Parallel()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		header         string
		user, pass     string
		isBasic, isErr bool
	}{
		{"", "", "", false, false},
		{"Bearer a.b.c", "", "", false, false},
		{"Basic " + b64("ann:pw"), "ann", "pw", true, false},
		{"basic " + b64("ann:pw:with:colons"), "ann", "pw:with:colons", true, false},
		{"Basic " + b64("ann:"), "ann", "", true, false},
		{"Basic " + b64("ann"), "", "", true, true},
		{"Basic " + b64(":pw"), "", "", true, true},
		{"Basic " + b64("\xff:pw"), "", "", true, true},
		{"Basic !!!", "", "", true, true},
		{"Basic " + strings.Repeat("QUFB", 1000), "", "", true, true},
	}
	for _, tt := range tests {
		user, pass, isBasic, err := parseBasicAuth(tt.header)
		if user != tt.user || pass != tt.pass || isBasic != tt.isBasic || (err != nil) != tt.isErr {
			t.Errorf("parseBasicAuth(%q) = %q, %q, %v, %v", tt.header, user, pass, isBasic, err)
		}
	}
}

func FuzzParseBasicAuth(f *testing.F) {
	for _, s := range []string{"Basic YW5uOnB3", "Basic YW5u", "Basic Og==", "basic  YTpi ", "Basic", "Bearer x", "Basic /w==", "Basic YTpi\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		user, pass, isBasic, err := parseBasicAuth(header)
		if err != nil || !isBasic {
			if user != "" || pass != "" {
				t.Fatalf("credentials returned with err=%v isBasic=%v", err, isBasic)
			}
			return
		}
		if user == "" || strings.Contains(user, ":") || !utf8.ValidString(user+pass) {
			t.Fatalf("accepted bad credentials %q %q", user, pass)
		}
	})
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		want              string
	}{
		{"direct", "203.0.113.7:5000", "", nil, "203.0.113.7"},
		{"forwarded header from untrusted peer ignored", "203.0.113.7:5000", "1.2.3.4", nil, "203.0.113.7"},
		{"trusted proxy", "10.0.0.2:5000", "198.51.100.9", proxies, "198.51.100.9"},
		{"spoofed left-most entry ignored", "10.0.0.2:5000", "1.1.1.1, 198.51.100.9, 10.0.0.3", proxies, "198.51.100.9"},
		{"garbage in chain stops the walk", "10.0.0.2:5000", "bogus", proxies, "10.0.0.2"},
		{"ipv6", "[2001:db8::1]:443", "", nil, "2001:db8::1"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := clientIP(r, tt.trusted); got != tt.want {
			t.Errorf("%s: clientIP = %q, want %q", tt.name, got, tt.want)
		}
	}
}
