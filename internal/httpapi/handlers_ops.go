package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
)

// handleJWKS serves the public signing keys; caches may keep them briefly.
func handleJWKS(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(d.Keys.JWKS())
	})
}

// handleOpenIDConfiguration serves the OpenID Provider metadata: exactly
// the endpoints, grants and methods that exist (discovery in handlers_oidc.go).
func handleOpenIDConfiguration(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		httpjson.Write(w, http.StatusOK, discovery(d, r.Context()))
	})
}

type revocationJSON struct {
	SessionID string    `json:"sid"`
	ExpiresAt time.Time `json:"expires_at"`
}

// handleRevocations serves GET /revocations?since=<cursor>&limit=: a page
// of the sessions ended while their access tokens may still be live, oldest
// first, for services that verify tokens offline; they follow cursor while
// has_more. Public: a session id is no secret. The cursor is opaque to
// clients and follows commit order (auth.Feed.RevocationsSince).
func handleRevocations(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit := 0 // the service's default
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				httpjson.Error(w, r, d.Log, auth.Errorf(auth.CodeInvalidRequest, "The limit must be a whole number from 1 to %d.", auth.MaxRevocationPage))
				return
			}
			limit = n
		}
		page, err := d.Auth.Feed.RevocationsSince(r.Context(), q.Get("since"), limit)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		out := make([]revocationJSON, len(page.Revoked))
		for i, rv := range page.Revoked {
			out[i] = revocationJSON{SessionID: rv.SessionID, ExpiresAt: rv.ExpiresAt}
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"revoked": out, "cursor": page.Cursor, "has_more": page.HasMore})
	})
}

// handleOpenAPI serves the contract as OpenAPI 3.1.
func handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(gatehouse.OpenAPI)
	})
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz answers 200 while the database answers within two seconds.
func handleReadyz(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := d.Ready(ctx); err != nil {
			d.Log.WarnContext(r.Context(), "not ready", "err", err)
			httpjson.Error(w, r, d.Log, auth.Errorf(auth.CodeUnavailable, "The database is not answering."))
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}
