package guard

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/time/rate"
)

// RemoteConfig configures a Guard for a service other than Gatehouse: it
// verifies tokens with the public keys of Gatehouse's JWKS and learns of
// ended sessions from Gatehouse's revocation log.
type RemoteConfig struct {
	// Issuer is Gatehouse's issuer URL (its --issuer): the JWKS and the
	// revocation log are fetched from under it.
	Issuer   string
	Audience string // default: Issuer
	// Algorithms accepted; default EdDSA, ES256 and RS256. Every key is
	// still bound to the algorithm its JWK names.
	Algorithms []string
	// PollInterval is how often the revocation log is read: a logout
	// reaches this service within it. Default 5 s.
	PollInterval time.Duration
	// KeyRefresh is how often the JWKS is fetched again. Default 5 minutes;
	// an unknown kid also triggers a fetch, at most once every 10 s.
	KeyRefresh time.Duration
	HTTPClient *http.Client     // default: one with a 5 s timeout
	OnError    func(err error)  // reports failed polls; default: ignore
	Now        func() time.Time // default time.Now

	// ClientID and ClientSecret, when set, are a confidential client
	// registered with --introspect: the Guard then accepts API keys,
	// checked at Gatehouse's /oauth/introspect (see Introspection, whose
	// defaults apply).
	ClientID, ClientSecret string
}

// NewRemote returns a Guard that verifies Gatehouse tokens offline. The JWKS
// and the revocation log are fetched once before it returns, then kept
// current in the background until ctx ends.
func NewRemote(ctx context.Context, c RemoteConfig) (*Guard, error) {
	if c.Issuer == "" {
		return nil, errors.New("guard: RemoteConfig.Issuer is required")
	}
	base := strings.TrimSuffix(c.Issuer, "/")
	if c.Audience == "" {
		c.Audience = c.Issuer
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = []string{"EdDSA", "ES256", "RS256"}
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if c.OnError == nil {
		c.OnError = func(error) {}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	keys, err := NewRemoteKeys(ctx, base+"/.well-known/jwks.json", c.KeyRefresh, c.HTTPClient)
	if err != nil {
		return nil, err
	}
	revs := &RemoteRevocations{url: base + "/revocations", client: c.HTTPClient, now: c.Now, until: map[string]time.Time{}}
	if err := revs.Poll(ctx); err != nil {
		return nil, err
	}
	go revs.Follow(ctx, c.PollInterval, c.OnError)
	cfg := Config{Issuer: c.Issuer, Audience: c.Audience, Algorithms: c.Algorithms, Keys: keys, Revocations: revs, Now: c.Now}
	if c.ClientID != "" || c.ClientSecret != "" {
		cfg.Introspection = &Introspection{URL: base + "/oauth/introspect", ClientID: c.ClientID, ClientSecret: c.ClientSecret,
			HTTPClient: c.HTTPClient}
	}
	return New(cfg)
}

// RemoteKeys is a KeySource over a JWKS URL (github.com/MicahParks/keyfunc):
// cached, refreshed periodically, fetched again on an unknown kid.
type RemoteKeys struct {
	ctx     context.Context
	storage jwkset.Storage
}

// NewRemoteKeys fetches the JWKS at jwksURL and keeps it current until ctx
// ends. refresh <= 0 means every 5 minutes.
func NewRemoteKeys(ctx context.Context, jwksURL string, refresh time.Duration, client *http.Client) (*RemoteKeys, error) {
	if refresh <= 0 {
		refresh = 5 * time.Minute
	}
	noErrorOnFirstFetch := false
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{jwksURL}, keyfunc.Override{
		Client:            client,
		HTTPTimeout:       5 * time.Second,
		RefreshInterval:   refresh,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(10*time.Second), 1),
		// Waiting for the unknown-kid limiter fails at once when the wait it
		// would need (seconds) exceeds this, so a flood of made-up kids never
		// makes a request wait; the margin only keeps a busy machine from
		// missing a free token.
		RateLimitWaitMax:          100 * time.Millisecond,
		NoErrorReturnFirstHTTPReq: &noErrorOnFirstFetch,
		RefreshErrorHandlerFunc:   func(string) func(context.Context, error) { return func(context.Context, error) {} },
	})
	if err != nil {
		return nil, fmt.Errorf("guard: fetch JWKS %s: %w", jwksURL, err)
	}
	return &RemoteKeys{ctx: ctx, storage: kf.Storage()}, nil
}

// VerificationKey implements KeySource. A JWK without "alg" is refused:
// without it the key could not be bound to one algorithm.
func (k *RemoteKeys) VerificationKey(kid string) (Key, bool) {
	jwk, err := k.storage.KeyRead(k.ctx, kid)
	if err != nil {
		return Key{}, false
	}
	alg := jwk.Marshal().ALG.String()
	if alg == "" || alg == "HS256" { // a shared secret is never fetched from a URL
		return Key{}, false
	}
	pub := jwk.Key()
	if p, ok := pub.(interface{ Public() crypto.PublicKey }); ok {
		pub = p.Public()
	}
	return Key{Algorithm: alg, Public: pub}, true
}

// RemoteRevocations is a RevocationSource that follows Gatehouse's
// revocation log (GET /revocations?since=). It answers from memory; entries
// leave once the tokens they cover have expired. When Gatehouse cannot be
// reached it keeps what it knows and tries again at the next poll.
type RemoteRevocations struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu     sync.RWMutex
	until  map[string]time.Time // session id → expiry of its last token
	cursor string
}

// Revoked implements RevocationSource.
func (r *RemoteRevocations) Revoked(sessionID string) bool {
	r.mu.RLock()
	_, ok := r.until[sessionID]
	r.mu.RUnlock()
	return ok
}

// Poll reads the revocation log from where the last read ended to its end,
// page after page while Gatehouse answers has_more, so neither a large
// backlog at start nor a burst of logouts leaves the guard behind. A failed
// page keeps what the earlier pages gave; the next poll goes on from there.
func (r *RemoteRevocations) Poll(ctx context.Context) error {
	for {
		r.mu.RLock()
		cursor := r.cursor
		r.mu.RUnlock()
		page, err := r.fetch(ctx, cursor)
		if err != nil {
			return err
		}
		r.apply(page)
		// Stop at the end, and should a server repeat its cursor with
		// has_more, rather than ask for the same page for ever.
		if !page.HasMore || page.Cursor == cursor {
			return nil
		}
	}
}

// revocationPage is one answer of GET /revocations.
type revocationPage struct {
	Revoked []struct {
		SessionID string    `json:"sid"`
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"revoked"`
	Cursor  string `json:"cursor"`
	HasMore bool   `json:"has_more"`
}

func (r *RemoteRevocations) fetch(ctx context.Context, cursor string) (*revocationPage, error) {
	u := r.url
	if cursor != "" {
		u += "?since=" + url.QueryEscape(cursor)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("guard: poll revocations: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("guard: poll revocations: status %d", resp.StatusCode)
	}
	var page revocationPage
	// A page holds at most 10,000 entries (about 1 MB); 16 MiB is ample.
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&page); err != nil {
		return nil, fmt.Errorf("guard: poll revocations: %w", err)
	}
	return &page, nil
}

func (r *RemoteRevocations) apply(page *revocationPage) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rv := range page.Revoked {
		if rv.ExpiresAt.After(r.until[rv.SessionID]) {
			r.until[rv.SessionID] = rv.ExpiresAt
		}
	}
	for sid, until := range r.until {
		if now.After(until) {
			delete(r.until, sid)
		}
	}
	r.cursor = page.Cursor
}

// Follow polls every interval until ctx ends, reporting failures to onError.
func (r *RemoteRevocations) Follow(ctx context.Context, interval time.Duration, onError func(error)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := r.Poll(ctx); err != nil && ctx.Err() == nil {
				onError(err)
			}
		}
	}
}
