package events

import (
	"context"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
)

// Endpoint is a webhook receiver and what it subscribes to. Secret and
// OldSecret are sealed with the master key (Webhooks seals and opens them).
type Endpoint struct {
	ID             string
	URL            string
	Events         []string
	Description    string
	Secret         []byte // sealed
	OldSecret      []byte // sealed; honoured until OldSecretUntil
	OldSecretUntil time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	DisabledAt     time.Time // zero while enabled
	DisabledReason string
	FailingSince   time.Time // first failure of the current streak; zero when the last attempt succeeded
}

// Enabled reports whether deliveries to e go out.
func (e Endpoint) Enabled() bool { return e.DisabledAt.IsZero() }

// EndpointUpdate changes an endpoint; nil fields stay as they are.
// Enabling clears the failure streak.
type EndpointUpdate struct {
	URL         *string
	Events      []string // nil: unchanged
	Description *string
	Enabled     *bool
}

// Delivery is one event's delivery to one endpoint, as claimed by a worker:
// what to send, where, and under which secrets.
type Delivery struct {
	ID             string
	EndpointID     string
	URL            string
	Secret         []byte // sealed
	OldSecret      []byte // sealed, while OldSecretUntil is ahead
	OldSecretUntil time.Time
	FailingSince   time.Time
	EventID        string
	EventType      string
	Body           []byte
	Attempts       int // including the one this claim is for
	CreatedAt      time.Time
}

// Attempt is the outcome of one delivery attempt, recorded under the
// claimer's lease.
type Attempt struct {
	DeliveryID, EndpointID, Owner string
	At                            time.Time
	Status                        int // the receiver's HTTP status; 0 when none came
	Duration                      time.Duration
	Response                      string // an excerpt of the answer
	Err                           string // why it failed; "" on success
	Delivered                     bool
	RetryAt                       time.Time // with !Delivered: due again then; zero: given up
	// EndpointRetryAt, with !Delivered, is the endpoint's backoff: none of
	// its deliveries is claimed before then (the later one wins when two
	// attempts fail at once). A success clears it.
	EndpointRetryAt time.Time
	// Disable, with !Delivered, disables the endpoint (failing for too
	// long) with this reason, and Notice is mailed to the administrators
	// in the same transaction.
	Disable string
	Notice  []outbox.Message
}

// DeliveryRecord is a delivery as the admin page and API list it.
type DeliveryRecord struct {
	ID            string
	EndpointID    string
	EventID       string
	EventType     string
	CreatedAt     time.Time
	Attempts      int
	NextAttemptAt time.Time
	LastAttemptAt time.Time // zero before the first attempt
	Status        int
	Duration      time.Duration
	Response      string
	Error         string
	DeliveredAt   time.Time
	FailedAt      time.Time
}

// State is "pending", "delivered" or "failed" (given up).
func (d DeliveryRecord) State() string {
	switch {
	case !d.DeliveredAt.IsZero():
		return "delivered"
	case !d.FailedAt.IsZero():
		return "failed"
	}
	return "pending"
}

// InFlightPerEndpoint is how many of one endpoint's deliveries may be in
// flight at once (leased, across instances): one endpoint, hanging or
// flooded, cannot take every slot of a worker, and a receiver gets a
// little parallelism, not a burst.
const InFlightPerEndpoint = 2

// Store keeps endpoints and the delivery queue (internal/store). Not found
// is an *auth.Error with CodeNotFound.
type Store interface {
	CreateWebhook(ctx context.Context, e Endpoint) error
	Webhook(ctx context.Context, id string) (Endpoint, error)
	Webhooks(ctx context.Context) ([]Endpoint, error)
	UpdateWebhook(ctx context.Context, id string, u EndpointUpdate, now time.Time) (Endpoint, error)
	DeleteWebhook(ctx context.Context, id string) error
	// SetWebhookSecret replaces the secret by secret, keeping the one it
	// replaces as the old secret until oldUntil.
	SetWebhookSecret(ctx context.Context, id string, secret []byte, oldUntil, now time.Time) error
	// ClaimDeliveries leases to owner up to limit due deliveries of enabled
	// endpoints not backing off (Attempt.EndpointRetryAt), none of which
	// waits for an earlier delivery of the same endpoint and order key (see
	// Event.OrderKey), and at most InFlightPerEndpoint leased per endpoint
	// with those still in flight; it counts the attempt.
	ClaimDeliveries(ctx context.Context, owner string, now time.Time, leaseFor time.Duration, limit int) ([]Delivery, error)
	// RecordAttempt records a's outcome; outbox.ErrLeaseLost when a.Owner
	// no longer holds the lease.
	RecordAttempt(ctx context.Context, a Attempt) error
	// Deliveries lists an endpoint's deliveries, newest first, up to limit.
	Deliveries(ctx context.Context, endpointID string, limit int) ([]DeliveryRecord, error)
	// RetryDelivery makes a delivery of the endpoint due again at now, whether
	// it was delivered, given up or pending, and ends the endpoint's backoff.
	RetryDelivery(ctx context.Context, endpointID, deliveryID string, now time.Time) error
	// AdminEmails lists the addresses of the enabled administrators.
	AdminEmails(ctx context.Context) ([]string, error)
	// PruneDeliveries deletes deliveries ended before before, and events
	// left with none.
	PruneDeliveries(ctx context.Context, before time.Time) (int64, error)
}
