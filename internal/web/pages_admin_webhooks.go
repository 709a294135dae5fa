package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
)

// AdminWebhooks is the webhooks page's content.
type AdminWebhooks struct {
	Endpoints []AdminWebhook
}

// AdminWebhook is an endpoint and its recent deliveries.
type AdminWebhook struct {
	ID, URL, Events, Description, Created string
	Enabled                               bool
	DisabledReason, FailingSince          string
	Deliveries                            []AdminDelivery
}

// AdminDelivery is a row of an endpoint's recent deliveries.
type AdminDelivery struct {
	ID, Type, State, When, Duration, Response, Error string
	Status, Attempts                                 int
}

// recentDeliveries is how many deliveries the page shows per endpoint.
const recentDeliveries = 10

// WebhooksPage serves GET /admin/webhooks: every endpoint with its
// recent deliveries (time, status, duration, an excerpt of the answer).
func (site *AdminPages) WebhooksPage(w http.ResponseWriter, r *http.Request, s *Session) {
	list, err := site.Webhooks.List(r.Context())
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	var data AdminWebhooks
	for _, ep := range list {
		row := AdminWebhook{ID: ep.ID, URL: ep.URL, Description: ep.Description, Created: when(ep.CreatedAt), Enabled: ep.Enabled(),
			DisabledReason: ep.DisabledReason}
		for i, t := range ep.Events {
			if i > 0 {
				row.Events += ", "
			}
			row.Events += t
		}
		if !ep.FailingSince.IsZero() {
			row.FailingSince = when(ep.FailingSince)
		}
		recs, err := site.Webhooks.Deliveries(r.Context(), ep.ID, recentDeliveries)
		if err != nil {
			site.renderError(w, r, err)
			return
		}
		for _, d := range recs {
			at := d.LastAttemptAt
			if at.IsZero() {
				at = d.CreatedAt
			}
			row.Deliveries = append(row.Deliveries, AdminDelivery{ID: d.ID, Type: d.EventType, State: d.State(), When: when(at),
				Duration: d.Duration.Round(time.Millisecond).String(), Response: d.Response, Error: d.Error, Status: d.Status, Attempts: d.Attempts})
		}
		data.Endpoints = append(data.Endpoints, row)
	}
	p := s.page("Webhooks")
	switch r.URL.Query().Get("done") {
	case "retry":
		p.Notice = "The delivery is due again; it goes out within seconds."
	case "1":
		p.Notice = "Saved."
	}
	p.Data = data
	site.Pages.Render(w, http.StatusOK, "admin_webhooks", p)
}

// WebhookForm serves POST /admin/webhooks/{id}: enabled true or
// false, as PATCH /webhooks/{id} does, through events.Webhooks.Update.
func (site *AdminPages) WebhookForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := httpjson.ParseForm(r); err != nil {
		site.renderError(w, r, err)
		return
	}
	enabled, err := strconv.ParseBool(r.PostFormValue("enabled"))
	if err != nil {
		site.renderError(w, r, auth.Errorf(auth.CodeInvalidRequest, "The enabled field must be true or false."))
		return
	}
	if _, err := site.Webhooks.Update(r.Context(), r.PathValue("id"), events.EndpointUpdate{Enabled: &enabled}); err != nil {
		site.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/webhooks?done=1", http.StatusSeeOther)
}

// RetryDeliveryForm serves POST /admin/webhooks/{id}/deliveries/{d}/retry,
// as the API route of the same path does.
func (site *AdminPages) RetryDeliveryForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := site.Webhooks.Retry(r.Context(), r.PathValue("id"), r.PathValue("d")); err != nil {
		site.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/webhooks?done=retry", http.StatusSeeOther)
}
