package httpapi

import (
	"github.com/gatehouse-auth/gatehouse/internal/web"

	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Exact-match failures (API.md: the issuer, the CORS origins) are right,
// and their victims see little: an OpenID Connect library configured with
// http://localhost:8080 refuses the issuer http://127.0.0.1:8080; a page on
// an origin --cors-origins does not list sees "Failed to fetch". The server
// sees the mismatch, so it says once in its log what the likely cause is.
// docs/troubleshooting.md has the rest.

// maxHintsPerKind bounds the values hinted about per kind, so that made-up
// Host and Origin headers fill neither the log nor the memory.
const maxHintsPerKind = 32

// hints logs each configuration hint once per kind and value.
type hints struct {
	log  *slog.Logger
	mu   sync.Mutex
	seen map[string]map[string]bool // by kind, value
}

func newHints(log *slog.Logger) *hints {
	if log == nil {
		log = slog.Default()
	}
	return &hints{log: log, seen: map[string]map[string]bool{}}
}

// once logs msg with args the first time kind is seen with value.
func (h *hints) once(kind, value, msg string, args ...any) {
	h.mu.Lock()
	seen := h.seen[kind]
	if seen == nil {
		seen = map[string]bool{}
		h.seen[kind] = seen
	}
	first := !seen[value] && len(seen) < maxHintsPerKind
	if first {
		seen[value] = true
	}
	h.mu.Unlock()
	if first {
		h.log.Warn(msg, args...)
	}
}

// hintIssuerHost wraps the discovery document's handler: a request for it
// at another host than the issuer's comes from a relying party configured
// with another issuer URL, which its library will refuse.
func (h *hints) hintIssuerHost(issuer string, next http.Handler) http.Handler {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Host, u.Host) {
			h.once("issuer-host", strings.ToLower(r.Host),
				"discovery was asked for at another host than the issuer's: an OpenID Connect client configured with that host "+
					"refuses the issuer, which must match exactly; configure it with the issuer, or start Gatehouse with --issuer "+
					"(harmless when a proxy in front rewrites Host; see docs/troubleshooting.md)",
				"host", r.Host, "issuer", issuer)
		}
		next.ServeHTTP(w, r)
	})
}

// hintUnlistedOrigin wraps a browser API route: a call from a page on an
// origin that --cors-origins does not list gets no CORS header, and its
// page sees only a network error.
func (h *hints) hintUnlistedOrigin(origins []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && !slices.Contains(origins, strings.ToLower(o)) && !sameHost(r, o) && !web.WantsPage(r) {
			h.once("cors-origin", strings.ToLower(o),
				"a page on an origin that --cors-origins does not list called the API: its browser refuses the answer "+
					"(the page sees only \"Failed to fetch\"); to allow it, list the origin exactly, scheme://host[:port] "+
					"(see docs/troubleshooting.md)",
				"origin", o, "cors_origins", strings.Join(origins, ","))
		}
		next.ServeHTTP(w, r)
	})
}

// sameHost reports whether origin names the host the request was sent to:
// a page of Gatehouse's own, which needs no CORS.
func sameHost(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}
