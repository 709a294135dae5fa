package httpapi

import (
	"github.com/gatehouse-auth/gatehouse/internal/web"

	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/rs/cors"
)

// CORS (API.md "Browser apps on other origins"): the routes routes.go
// opens to browserApps answer the origins of --cors-origins, with
// credentials; those open to anyOrigin answer every origin, without. Every other route
// (pages, /authorize, administration) sends no CORS header at all.
//
// CORS only lets a listed origin read answers. It does not loosen the
// cross-origin protection: a cookie-authenticated unsafe request or a form
// post from another origin is still refused with 403 csrf_failed (guard's
// CheckCSRF, the pages' checkFormPost). A browser app on another origin authenticates
// with the Authorization header and keeps the refresh token itself (the
// refresh cookie is __Host- and SameSite=Lax: it never leaves Gatehouse's own
// host, and is not sent cross-site at all).

// corsMaxAge is how long (seconds) a browser may cache a preflight's answer.
const corsMaxAge = 600

// corsHeaders are the request headers a browser app may send.
var corsHeaders = []string{"Authorization", "Content-Type", "X-CSRF-Token"}

// corsExposed are the response headers a browser app may read beyond the
// CORS-safelisted ones.
var corsExposed = []string{"Retry-After", "WWW-Authenticate", "X-Request-Id"}

// ParseOrigins reads --cors-origins: comma-separated exact origins,
// scheme://host[:port] with no path. Wildcards are refused: an origin that
// may send credentials must be named. It is the one check of the flag, used
// by the gatehouse command and by NewServer.
func ParseOrigins(list string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		o, err := parseOrigin(s)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func parseOrigin(s string) (string, error) {
	if strings.Contains(s, "*") {
		return "", fmt.Errorf("%q: wildcards are refused; list each origin exactly, like https://app.example.com", s)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("%q is not an origin like https://app.example.com or http://localhost:3000", s)
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#") {
		return "", fmt.Errorf("%q is not an origin: an origin is scheme://host[:port], with no path (not even /), query or user", s)
	}
	port := u.Port()
	if strings.HasSuffix(u.Host, ":") || (port != "" && strings.TrimLeft(port, "0123456789") != "") {
		return "", fmt.Errorf("%q has a malformed port", s)
	}
	// Browsers send an origin serialized: no default port, no leading
	// zeros, an ASCII host. Anything else would never match.
	if n, err := strconv.Atoi(port); port != "" && (err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port) {
		return "", fmt.Errorf("%q has a malformed port", s)
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return "", fmt.Errorf("%q: browsers send this origin without its default port; list it as %s://%s", s, scheme, strings.ToLower(strings.TrimSuffix(u.Host, ":"+port)))
	}
	for _, r := range u.Host {
		if r >= 0x80 {
			return "", fmt.Errorf("%q: write the host in its ASCII (punycode) form, as browsers send it", s)
		}
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// corsPolicy builds the middleware of one path's CORS routes.
type corsPolicy struct {
	origins []string // nil: the browser API is not open to any other origin
}

// api is the policy of the browserApps routes on one path, which serves methods:
// listed origins only, with credentials. nil when no origin is listed.
func (p corsPolicy) api(methods []string) *cors.Cors {
	if len(p.origins) == 0 {
		return nil // cors.Options with no origins would allow them all
	}
	return cors.New(cors.Options{
		AllowedOrigins: p.origins, AllowedMethods: methods, AllowedHeaders: corsHeaders,
		ExposedHeaders: corsExposed, AllowCredentials: true, MaxAge: corsMaxAge,
	})
}

// public is the policy of the anyOrigin routes: any origin, no credentials.
func (p corsPolicy) public(methods []string) *cors.Cors {
	return cors.New(cors.Options{
		AllowedOrigins: []string{"*"}, AllowedMethods: methods, AllowedHeaders: []string{"Content-Type"},
		AllowCredentials: false, MaxAge: corsMaxAge,
	})
}

// withCORS adds c's headers to the answers of next. Requests that get a
// page (an HTML navigation, a form post: web.WantsPage) get none: pages are
// never readable by other origins.
func withCORS(c *cors.Cors, next http.Handler) http.Handler {
	withHeaders := c.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if web.WantsPage(r) {
			next.ServeHTTP(w, r)
			return
		}
		withHeaders.ServeHTTP(w, r)
	})
}
