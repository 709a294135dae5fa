// Package outbound is the one HTTP client Gatehouse uses to call other
// systems: upstream identity providers, a client's JWKS URI, webhook
// receivers, the token hook. Whatever the caller, a request
//
//   - connects only to public addresses unless AllowPrivate is set: the
//     address is checked after DNS resolution, at connect time, so a name
//     that resolves to a public address once and to 127.0.0.1 the next time
//     (DNS rebinding) is refused too;
//   - follows no redirect (the 3xx answer is returned as it is, so a
//     receiver cannot bounce a request to an internal address);
//   - has a time budget for the whole exchange, body included;
//   - reads at most MaxBody bytes of the answer: a longer body is an error
//     (ErrBodyTooLarge), never a silent truncation;
//   - ignores HTTP_PROXY and friends, which would move the connection
//     checks to the proxy.
package outbound

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Defaults for the zero fields of Options.
const (
	DefaultTimeout = 10 * time.Second
	DefaultMaxBody = 1 << 20 // 1 MiB
)

// ErrBlockedAddress is matched (errors.Is) by the error of a request whose
// destination is a loopback, private, link-local, metadata or otherwise
// non-public address while private addresses are not allowed.
var ErrBlockedAddress = errors.New("outbound: destination address is not public")

// ErrBodyTooLarge is returned by a response body's Read once the answer
// passes Options.MaxBody.
var ErrBodyTooLarge = errors.New("outbound: response body too large")

// Options shape a Client. The zero value is the safe one: public addresses
// only, DefaultTimeout, DefaultMaxBody.
type Options struct {
	// AllowPrivate lets requests reach loopback and private networks
	// (--webhook-allow-private; tests and single-machine set-ups).
	AllowPrivate bool
	// AllowLoopback lets requests reach loopback addresses (127.0.0.0/8,
	// ::1) besides public ones, and no other private network: for a peer
	// configured on this machine (an upstream provider on a loopback host),
	// whose discovery document must not be able to point it anywhere else.
	AllowLoopback bool
	// Timeout bounds one whole request: connect, send, and reading the body.
	Timeout time.Duration
	// MaxBody caps the bytes read from one response body.
	MaxBody int64
	// IdleConnsPerHost is how many idle connections to one host are kept
	// for reuse (default 8); a client called on every request, such as the
	// token hook's, keeps as many as requests run at once.
	IdleConnsPerHost int
}

// NewClient returns an *http.Client that enforces opts on every request
// (see the package documentation). It is safe for concurrent use; keep one
// per purpose and reuse it, so connections are pooled.
func NewClient(opts Options) *http.Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.IdleConnsPerHost <= 0 {
		opts.IdleConnsPerHost = 8
	}
	dialer := &net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}
	switch {
	case opts.AllowPrivate:
	case opts.AllowLoopback:
		dialer.Control = refuseAllButLoopback
	default:
		dialer.Control = refusePrivate
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          max(64, opts.IdleConnsPerHost),
		MaxIdleConnsPerHost:   opts.IdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
	}
	return &http.Client{
		Transport: &capBody{next: transport, max: opts.MaxBody},
		Timeout:   opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// refusePrivate runs after name resolution, just before connect, with the
// address the socket is about to reach.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrBlockedAddress, address)
	}
	if !IsPublic(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, ap.Addr())
	}
	return nil
}

// refuseAllButLoopback is refusePrivate that lets loopback addresses pass.
func refuseAllButLoopback(network, address string, c syscall.RawConn) error {
	if ap, err := netip.ParseAddrPort(address); err == nil && ap.Addr().Unmap().IsLoopback() {
		return nil
	}
	return refusePrivate(network, address, c)
}

// nonPublic lists the ranges that netip's predicates do not already cover.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: embeds any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds any IPv4 address
	netip.MustParsePrefix("2001::/32"),       // Teredo: embeds an IPv4 address
}

// IsPublic reports whether addr is a globally reachable unicast address:
// not loopback, private (RFC 1918, fc00::/7, which holds cloud metadata
// addresses such as fd00:ec2::254), link-local (169.254.0.0/16 holds the
// 169.254.169.254 metadata service), multicast, unspecified, or one of the
// special-purpose ranges. IPv4-mapped IPv6 addresses are judged as the IPv4
// address they carry.
func IsPublic(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() || addr.IsLoopback() || addr.IsPrivate() || addr.IsUnspecified() ||
		addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() ||
		addr.IsMulticast() || addr.Zone() != "" {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// capBody wraps every response body in a reader that fails past max bytes.
type capBody struct {
	next http.RoundTripper
	max  int64
}

func (c *capBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > c.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %d bytes announced, at most %d read", ErrBodyTooLarge, resp.ContentLength, c.max)
	}
	resp.Body = &cappedReader{rc: resp.Body, left: c.max}
	return resp, nil
}

type cappedReader struct {
	rc   io.ReadCloser
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, ErrBodyTooLarge
	}
	// Read one byte beyond the cap so a body of exactly max bytes passes
	// and a longer one is noticed.
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n + int(c.left), ErrBodyTooLarge
	}
	return n, err
}

func (c *cappedReader) Close() error { return c.rc.Close() }

// CheckTarget refuses, before any request, a URL whose host is a literal
// non-public address (or "localhost") while private addresses are not
// allowed, so a misconfigured endpoint is refused when it is registered and
// not only when it is first called. Names are still checked at connect time.
func CheckTarget(host string, allowPrivate bool) error {
	if allowPrivate {
		return nil
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if !IsPublic(addr) {
			return fmt.Errorf("%w: %s", ErrBlockedAddress, addr)
		}
		return nil
	}
	if name := strings.ToLower(strings.TrimSuffix(host, ".")); name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, host)
	}
	// An address in a form some resolvers and browsers still read
	// (2130706433, 0x7f000001, 017700000001, 127.1) is no name: refused
	// here rather than left to whatever parses it later.
	if numericHost.MatchString(host) {
		return fmt.Errorf("%w: %s (an address in a non-standard form)", ErrBlockedAddress, host)
	}
	return nil
}

// numericHost is a host made of numbers alone (decimal, octal or hex, with
// or without dots): no domain name looks so, as top-level domains are not
// numeric.
var numericHost = regexp.MustCompile(`(?i)^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+))*\.?$`)
