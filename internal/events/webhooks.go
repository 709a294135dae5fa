package events

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events/outbound"
	"github.com/google/uuid"
)

// Sealer seals secrets at rest with the master key (internal/seal.Key).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// OldSecretGrace is how long a rotated-out secret still signs deliveries,
// beside the new one, so receivers can switch without losing any.
const OldSecretGrace = 24 * time.Hour

// Audit events of the endpoints' management.
const (
	EventWebhookAdded    = "webhook_added"
	EventWebhookUpdated  = "webhook_updated"
	EventWebhookRemoved  = "webhook_removed"
	EventWebhookRotated  = "webhook_secret_rotated"
	EventWebhookRetried  = "webhook_delivery_retried"
	EventWebhookDisabled = "webhook_disabled"
)

// WebhooksConfig is what Webhooks needs.
type WebhooksConfig struct {
	Store  Store
	Sealer Sealer
	// AllowPrivate lets endpoints be on loopback and private networks
	// (--webhook-allow-private).
	AllowPrivate bool
	Now          func() time.Time
	// Audit records an administrator's action (auth.Accounts.Audit); nil: none.
	Audit func(ctx context.Context, event, userID, detail string)
	// Wake, if set, tells the delivery worker that something is due now.
	Wake func()
}

// Webhooks is the management of webhook endpoints: the one place of its
// rules, used by the command line, the admin API and the admin page.
type Webhooks struct{ cfg WebhooksConfig }

// NewWebhooks returns the service.
func NewWebhooks(c WebhooksConfig) *Webhooks {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Audit == nil {
		c.Audit = func(context.Context, string, string, string) {}
	}
	if c.Wake == nil {
		c.Wake = func() {}
	}
	return &Webhooks{cfg: c}
}

// EndpointInput is a new endpoint.
type EndpointInput struct {
	URL         string
	Events      []string
	Description string
}

func invalid(format string, args ...any) error {
	return auth.Errorf(auth.CodeInvalidRequest, format, args...)
}

// checkURL refuses what cannot be a receiver: anything but an absolute
// http(s) URL without credentials or fragment, and, without AllowPrivate, a
// host that is a non-public address or localhost. (Names are checked again
// at every connection, after resolution: internal/events/outbound.)
func (w *Webhooks) checkURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Hostname() == "" || u.User != nil ||
		u.Fragment != "" || len(raw) > 2000 {
		return "", invalid("The webhook URL must be an absolute http(s) URL without credentials or fragment.")
	}
	if err := outbound.CheckTarget(u.Hostname(), w.cfg.AllowPrivate); err != nil {
		return "", invalid("The webhook URL's host is a loopback, private or otherwise non-public address (--webhook-allow-private allows them).")
	}
	return raw, nil
}

func checkDescription(d string) (string, error) {
	d = strings.TrimSpace(d)
	if utf8.RuneCountInString(d) > 200 || strings.ContainsAny(d, "\r\n") {
		return "", invalid("The description is one line of at most 200 characters.")
	}
	return d, nil
}

func (w *Webhooks) seal(id, secret string) ([]byte, error) {
	return w.cfg.Sealer.Seal([]byte(secret), secretAAD(id))
}

func secretAAD(id string) []byte { return []byte("webhook:" + id) }

// Add registers an endpoint and returns it with its whsec_ secret, which
// is shown this once: only its sealed form is kept.
func (w *Webhooks) Add(ctx context.Context, in EndpointInput) (Endpoint, string, error) {
	target, err := w.checkURL(in.URL)
	if err != nil {
		return Endpoint{}, "", err
	}
	types, err := ParseTypes(in.Events)
	if err != nil {
		return Endpoint{}, "", invalid("%s.", upper(err.Error()))
	}
	desc, err := checkDescription(in.Description)
	if err != nil {
		return Endpoint{}, "", err
	}
	now := w.cfg.Now().UTC()
	ep := Endpoint{ID: "wh_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", ""), URL: target, Events: types,
		Description: desc, CreatedAt: now, UpdatedAt: now}
	secret := NewSecret()
	if ep.Secret, err = w.seal(ep.ID, secret); err != nil {
		return Endpoint{}, "", fmt.Errorf("seal webhook secret: %w", err)
	}
	if err := w.cfg.Store.CreateWebhook(ctx, ep); err != nil {
		return Endpoint{}, "", err
	}
	w.cfg.Audit(ctx, EventWebhookAdded, "", ep.ID+" "+ep.URL)
	return ep, secret, nil
}

// List returns every endpoint.
func (w *Webhooks) List(ctx context.Context) ([]Endpoint, error) { return w.cfg.Store.Webhooks(ctx) }

// Get returns one endpoint.
func (w *Webhooks) Get(ctx context.Context, id string) (Endpoint, error) {
	return w.cfg.Store.Webhook(ctx, id)
}

// Update changes an endpoint's URL, events, description or enabled state.
// Enabling a disabled endpoint clears its failure streak; its given-up
// deliveries stay given up until retried.
func (w *Webhooks) Update(ctx context.Context, id string, u EndpointUpdate) (Endpoint, error) {
	if u.URL != nil {
		target, err := w.checkURL(*u.URL)
		if err != nil {
			return Endpoint{}, err
		}
		u.URL = &target
	}
	if u.Events != nil {
		types, err := ParseTypes(u.Events)
		if err != nil {
			return Endpoint{}, invalid("%s.", upper(err.Error()))
		}
		u.Events = types
	}
	if u.Description != nil {
		d, err := checkDescription(*u.Description)
		if err != nil {
			return Endpoint{}, err
		}
		u.Description = &d
	}
	ep, err := w.cfg.Store.UpdateWebhook(ctx, id, u, w.cfg.Now().UTC())
	if err != nil {
		return ep, err
	}
	w.cfg.Audit(ctx, EventWebhookUpdated, "", id)
	if u.Enabled != nil && *u.Enabled {
		w.cfg.Wake()
	}
	return ep, nil
}

// Remove deletes an endpoint and its deliveries.
func (w *Webhooks) Remove(ctx context.Context, id string) error {
	if err := w.cfg.Store.DeleteWebhook(ctx, id); err != nil {
		return err
	}
	w.cfg.Audit(ctx, EventWebhookRemoved, "", id)
	return nil
}

// RotateSecret gives an endpoint a new secret, returned this once; the old
// one keeps signing deliveries beside it for OldSecretGrace.
func (w *Webhooks) RotateSecret(ctx context.Context, id string) (string, error) {
	if _, err := w.cfg.Store.Webhook(ctx, id); err != nil {
		return "", err
	}
	secret := NewSecret()
	sealed, err := w.seal(id, secret)
	if err != nil {
		return "", fmt.Errorf("seal webhook secret: %w", err)
	}
	now := w.cfg.Now().UTC()
	if err := w.cfg.Store.SetWebhookSecret(ctx, id, sealed, now.Add(OldSecretGrace), now); err != nil {
		return "", err
	}
	w.cfg.Audit(ctx, EventWebhookRotated, "", id)
	return secret, nil
}

// Deliveries lists an endpoint's recent deliveries, newest first: limit 1
// to 200, 0 meaning 50.
func (w *Webhooks) Deliveries(ctx context.Context, id string, limit int) ([]DeliveryRecord, error) {
	if limit == 0 {
		limit = 50
	}
	if limit < 1 || limit > 200 {
		return nil, invalid("The limit must be a whole number from 1 to 200.")
	}
	if _, err := w.cfg.Store.Webhook(ctx, id); err != nil {
		return nil, err
	}
	return w.cfg.Store.Deliveries(ctx, id, limit)
}

// Retry makes a delivery of the endpoint due at once, whatever its state.
func (w *Webhooks) Retry(ctx context.Context, id, deliveryID string) error {
	if err := w.cfg.Store.RetryDelivery(ctx, id, deliveryID, w.cfg.Now().UTC()); err != nil {
		return err
	}
	w.cfg.Audit(ctx, EventWebhookRetried, "", id+" delivery "+deliveryID)
	w.cfg.Wake()
	return nil
}

// openSecret opens an endpoint's sealed secret.
func openSecret(s Sealer, id string, sealed []byte) ([]byte, error) {
	plain, err := s.Open(sealed, secretAAD(id))
	if err != nil {
		return nil, err
	}
	return SecretKey(string(plain))
}

func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
