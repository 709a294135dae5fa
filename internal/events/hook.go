package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/google/uuid"
)

// ReservedClaims are the claims a token hook may not set: Gatehouse's own
// values stand, and the hook's are dropped with a logged error.
var ReservedClaims = []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "typ", "scope", "client_id",
	"org_id", "org_role", "permissions", "amr", "acr", "auth_time", "idp", "role", "email", "email_verified"}

// DefaultHookTimeout is the token hook's time budget (--hook-token-timeout).
const DefaultHookTimeout = 500 * time.Millisecond

// HookConfig configures the token hook.
type HookConfig struct {
	URL    string
	Secret string // whsec_ secret the requests are signed with (--hook-token-secret-file)
	// Timeout is the budget of one call, answer included; default 500 ms.
	Timeout time.Duration
	// AllowOnFailure issues tokens without the hook's claims when it fails
	// or is late (--hook-token-failure allow); by default nothing is issued.
	AllowOnFailure bool
	// Client sends the calls: internal/events/outbound's client.
	Client *http.Client
	Log    *slog.Logger
	Now    func() time.Time
}

// TokenHook calls --hook-token-url before an access token is minted
// (auth.TokenHook): a Standard Webhooks-signed POST of the user, session,
// client and organization, answered {"claims": {...}}.
type TokenHook struct {
	cfg HookConfig
	key []byte
}

// NewTokenHook checks c and returns the hook.
func NewTokenHook(c HookConfig) (*TokenHook, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, errors.New("the token hook URL must be an absolute http(s) URL without credentials")
	}
	key, err := SecretKey(c.Secret)
	if err != nil {
		return nil, err
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultHookTimeout
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &TokenHook{cfg: c, key: key}, nil
}

// hookRequest is the body the hook receives.
type hookRequest struct {
	Type      string   `json:"type"`
	Timestamp string   `json:"timestamp"`
	Data      hookData `json:"data"`
}

type hookData struct {
	// User is null for a service client's token (client_credentials).
	User *struct {
		ID            string  `json:"id"`
		Email         *string `json:"email"`
		Username      *string `json:"username"`
		Role          string  `json:"role"`
		EmailVerified bool    `json:"email_verified"`
	} `json:"user"`
	Session struct {
		ID  string   `json:"id"`
		AMR []string `json:"amr"`
	} `json:"session"`
	Client *struct {
		ID    string `json:"id"`
		Scope string `json:"scope"`
	} `json:"client"`
	Organization *struct {
		ID   string `json:"id"`
		Role string `json:"role"`
	} `json:"organization"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// errHookUnavailable is the answer when the hook fails and failures deny.
var errHookUnavailable = &auth.Error{Code: auth.CodeUnavailable, Message: "Tokens cannot be issued right now; try again shortly.", RetryAfter: time.Second}

// Claims asks the hook for the claims of the token described by in.
func (h *TokenHook) Claims(ctx context.Context, in auth.TokenHookInput) (map[string]any, error) {
	claims, err := h.call(ctx, in)
	if err == nil {
		return h.allowed(claims, in), nil
	}
	if h.cfg.AllowOnFailure {
		h.cfg.Log.Warn("token hook failed; issuing the token without its claims (--hook-token-failure allow)", "err", err, "user", in.User.ID)
		return nil, nil
	}
	h.cfg.Log.Error("token hook failed; no token issued (--hook-token-failure deny)", "err", err, "user", in.User.ID)
	return nil, errHookUnavailable
}

// allowed drops the reserved claims of the hook's answer. Names are
// compared as JSON decoding compares them, case-insensitively with Unicode
// folding ("SUB", "ſub" and "sub" are one claim to a verifier): an exact
// comparison would let a hook set "ſub" and be read as the subject.
func (h *TokenHook) allowed(claims map[string]any, in auth.TokenHookInput) map[string]any {
	for name := range claims {
		if IsReservedClaim(name) {
			h.cfg.Log.Error("token hook answered a reserved claim; dropped, the token keeps Gatehouse's value", "claim", name, "user", in.User.ID)
			delete(claims, name)
		}
	}
	if len(claims) == 0 {
		return nil
	}
	return claims
}

// IsReservedClaim reports whether name is, or folds to, a reserved claim.
func IsReservedClaim(name string) bool {
	return slices.ContainsFunc(ReservedClaims, func(r string) bool { return strings.EqualFold(name, r) })
}

// call posts the request and reads the answer's claims.
func (h *TokenHook) call(ctx context.Context, in auth.TokenHookInput) (map[string]any, error) {
	now := h.cfg.Now().UTC()
	var d hookData
	if in.User.ID != "" {
		d.User = &struct {
			ID            string  `json:"id"`
			Email         *string `json:"email"`
			Username      *string `json:"username"`
			Role          string  `json:"role"`
			EmailVerified bool    `json:"email_verified"`
		}{in.User.ID, optional(in.User.Email), optional(in.User.Username), in.User.Role, in.User.EmailVerified}
	}
	d.Session.ID, d.Session.AMR = in.Session.ID, in.Session.AMR
	if in.ClientID != "" {
		d.Client = &struct {
			ID    string `json:"id"`
			Scope string `json:"scope"`
		}{in.ClientID, in.Scope}
	}
	if in.OrgID != "" {
		d.Organization = &struct {
			ID   string `json:"id"`
			Role string `json:"role"`
		}{in.OrgID, in.OrgRole}
	}
	body, err := json.Marshal(hookRequest{Type: "token.minting", Timestamp: now.Format(time.RFC3339), Data: d})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	SetHeaders(req.Header, [][]byte{h.key}, "hook_"+strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", ""), now, body)
	req.Header.Set("User-Agent", "Gatehouse-Hooks/1")
	resp, err := h.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the hook answered %d", resp.StatusCode)
	}
	var answer struct {
		Claims map[string]any `json:"claims"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return nil, fmt.Errorf("the hook's answer is not {\"claims\": {...}}: %w", err)
	}
	return answer.Claims, nil
}
