package httpapi

import (
	"encoding/base64"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// parseBasicAuth reads HTTP Basic credentials (seed 002's login). ok is false
// when the header is not Basic at all; a Basic header that is malformed (bad
// base64, no colon, empty user, not UTF-8, oversized) is an invalid_request.
// The scheme alone ("Basic", as sent with nothing after it) is Basic too.
func parseBasicAuth(header string) (user, pass string, ok bool, err error) {
	scheme, encoded, _ := strings.Cut(strings.TrimSpace(header), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, nil
	}
	bad := auth.Errorf(auth.CodeInvalidRequest, "The Basic credentials are malformed.")
	encoded = strings.TrimSpace(encoded)
	if len(encoded) > base64.StdEncoding.EncodedLen(254+1+password.MaxBytes) {
		return "", "", true, bad
	}
	raw, decErr := base64.StdEncoding.DecodeString(encoded)
	if decErr != nil || !utf8.Valid(raw) {
		return "", "", true, bad
	}
	user, pass, found := strings.Cut(string(raw), ":")
	if !found || user == "" {
		return "", "", true, bad
	}
	return user, pass, true, nil
}

// clientIP is the caller's address: the peer, or when the peer is a trusted
// proxy, the right-most X-Forwarded-For entry that is not itself trusted.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		addr = addr.Unmap()
		if !isTrusted(addr, trusted) {
			return addr.String()
		}
	}
	return peer.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
