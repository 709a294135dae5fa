package httpapi

import (
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
)

// Webhook endpoints (admins): thin adapters over events.Webhooks.

type webhookJSON struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Description    string   `json:"description"`
	Enabled        bool     `json:"enabled"`
	DisabledAt     *string  `json:"disabled_at,omitempty"`
	DisabledReason string   `json:"disabled_reason,omitempty"`
	FailingSince   *string  `json:"failing_since,omitempty"`
	OldSecretUntil *string  `json:"old_secret_until,omitempty"`
	CreatedAt      string   `json:"created_at"`
	UpdatedAt      string   `json:"updated_at"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// optionalTime is t in RFC 3339, or nil when t is zero (or, with after
// set, not after it).
func optionalTime(t time.Time, after ...time.Time) *string {
	if t.IsZero() || len(after) > 0 && !t.After(after[0]) {
		return nil
	}
	s := rfc3339(t)
	return &s
}

func webhookView(ep events.Endpoint, now time.Time) webhookJSON {
	return webhookJSON{ID: ep.ID, URL: ep.URL, Events: ep.Events, Description: ep.Description, Enabled: ep.Enabled(),
		DisabledAt: optionalTime(ep.DisabledAt), DisabledReason: ep.DisabledReason, FailingSince: optionalTime(ep.FailingSince),
		OldSecretUntil: optionalTime(ep.OldSecretUntil, now), CreatedAt: rfc3339(ep.CreatedAt), UpdatedAt: rfc3339(ep.UpdatedAt)}
}

type deliveryJSON struct {
	ID            string  `json:"id"`
	EventID       string  `json:"event_id"`
	Type          string  `json:"type"`
	State         string  `json:"state"`
	Attempts      int     `json:"attempts"`
	CreatedAt     string  `json:"created_at"`
	NextAttemptAt *string `json:"next_attempt_at,omitempty"`
	LastAttemptAt *string `json:"last_attempt_at,omitempty"`
	Status        int     `json:"status"`
	DurationMS    int64   `json:"duration_ms"`
	Response      string  `json:"response"`
	Error         string  `json:"error"`
}

func deliveryView(r events.DeliveryRecord) deliveryJSON {
	out := deliveryJSON{ID: r.ID, EventID: r.EventID, Type: r.EventType, State: r.State(), Attempts: r.Attempts,
		CreatedAt: rfc3339(r.CreatedAt), LastAttemptAt: optionalTime(r.LastAttemptAt), Status: r.Status,
		DurationMS: r.Duration.Milliseconds(), Response: r.Response, Error: r.Error}
	if out.State == "pending" {
		out.NextAttemptAt = optionalTime(r.NextAttemptAt)
	}
	return out
}

type webhookRequest struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

// handleListWebhooks serves GET /webhooks.
func handleListWebhooks(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := d.Webhooks.List(r.Context())
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		out := make([]webhookJSON, len(list))
		for i, ep := range list {
			out[i] = webhookView(ep, d.Now())
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"webhooks": out})
	})
}

// handleCreateWebhook serves POST /webhooks: 201 with the endpoint and its
// secret, shown this once.
func handleCreateWebhook(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[webhookRequest](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		ep, secret, err := d.Webhooks.Add(r.Context(), events.EndpointInput{URL: deref(in.URL), Events: deref(in.Events),
			Description: deref(in.Description)})
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusCreated, map[string]any{"webhook": webhookView(ep, d.Now()), "secret": secret})
	})
}

// handleGetWebhook serves GET /webhooks/{id}.
func handleGetWebhook(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep, err := d.Webhooks.Get(r.Context(), r.PathValue("id"))
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"webhook": webhookView(ep, d.Now())})
	})
}

// handleUpdateWebhook serves PATCH /webhooks/{id}: url, events,
// description, enabled.
func handleUpdateWebhook(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[webhookRequest](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		u := events.EndpointUpdate{URL: in.URL, Description: in.Description, Enabled: in.Enabled}
		if in.Events != nil {
			u.Events = append([]string{}, *in.Events...)
		}
		ep, err := d.Webhooks.Update(r.Context(), r.PathValue("id"), u)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"webhook": webhookView(ep, d.Now())})
	})
}

// handleDeleteWebhook serves DELETE /webhooks/{id}.
func handleDeleteWebhook(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.Webhooks.Remove(r.Context(), r.PathValue("id")); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// handleRotateWebhookSecret serves POST /webhooks/{id}/secret: the new
// secret, shown this once; the old one signs beside it for a day.
func handleRotateWebhookSecret(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, err := d.Webhooks.RotateSecret(r.Context(), r.PathValue("id"))
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"secret": secret,
			"old_secret_until": rfc3339(d.Now().Add(events.OldSecretGrace))})
	})
}

// handleWebhookDeliveries serves GET /webhooks/{id}/deliveries?limit=.
func handleWebhookDeliveries(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, err := pageLimit(r.URL.Query())
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		list, err := d.Webhooks.Deliveries(r.Context(), r.PathValue("id"), limit)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		out := make([]deliveryJSON, len(list))
		for i, rec := range list {
			out[i] = deliveryView(rec)
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"deliveries": out})
	})
}

// handleRetryDelivery serves POST /webhooks/{id}/deliveries/{d}/retry:
// 202, the delivery is due at once.
func handleRetryDelivery(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.Webhooks.Retry(r.Context(), r.PathValue("id"), r.PathValue("d")); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}
