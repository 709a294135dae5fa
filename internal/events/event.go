// Package events tells other systems what happened in Gatehouse and lets
// one of them shape access tokens:
//
//   - the event types and their JSON body (this file); the store writes an
//     event, with one delivery per subscribed webhook endpoint, in the
//     transaction of the change it reports (internal/store/webhooks.go);
//   - Webhooks, the endpoints' management rules (CLI, admin API, admin page);
//   - Deliverer, which delivers the queue with the leased worker of
//     internal/events/queue (shared with the mail outbox), signed per
//     Standard Webhooks (sign.go), through the SSRF-safe internal/events/outbound
//     client;
//   - TokenHook, called before an access token is minted (hook.go).
package events

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The event types of the contract. Every one may be subscribed to; an
// action that exists on this server emits its type.
const (
	UserCreated         = "user.created"
	UserUpdated         = "user.updated"
	UserDeleted         = "user.deleted"
	UserEmailVerified   = "user.email_verified"
	UserPasswordChanged = "user.password_changed"
	SessionCreated      = "session.created"
	SessionEnded        = "session.ended"
	MFAEnrolled         = "mfa.enrolled"
	MFARemoved          = "mfa.removed"
	IdentityLinked      = "identity.linked"
	OrgMemberAdded      = "org.member_added"
	OrgMemberRemoved    = "org.member_removed"
	OrgRoleChanged      = "org.role_changed"
	ClientCreated       = "client.created"
	ClientRemoved       = "client.removed"
	APIKeyCreated       = "api_key.created"
	APIKeyRevoked       = "api_key.revoked"
)

// Types lists every event type an endpoint may subscribe to.
var Types = []string{
	UserCreated, UserUpdated, UserDeleted, UserEmailVerified, UserPasswordChanged,
	SessionCreated, SessionEnded, MFAEnrolled, MFARemoved, IdentityLinked,
	OrgMemberAdded, OrgMemberRemoved, OrgRoleChanged,
	ClientCreated, ClientRemoved, APIKeyCreated, APIKeyRevoked,
}

// AllTypes, as an endpoint's only event, subscribes it to every type,
// those added later included.
const AllTypes = "*"

// Data holds the ids an event is about, by name: "user_id",
// "session_id", "client_id", "org_id", "api_key_id", "factor", ...
// Never a secret, a token or personal data beyond ids: a receiver that
// needs more asks the admin API.
type Data map[string]string

// Event is one thing that happened, as the store queues it.
type Event struct {
	ID   string // the webhook-id header: "msg_" and a UUIDv7, the same at every attempt
	Type string
	Time time.Time
	Data Data
}

// New makes the event of type typ that happened at now.
func New(typ string, now time.Time, data Data) Event {
	return Event{ID: "msg_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", ""), Type: typ, Time: now.UTC(), Data: data}
}

// OrderKey is what deliveries of one endpoint are ordered by: a user's
// events reach an endpoint in the order they happened (a later one waits
// while an earlier one is neither delivered nor given up). Events about no
// user ("") are not ordered.
func (e Event) OrderKey() string { return e.Data["user_id"] }

// body is the JSON a receiver gets.
type body struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      Data   `json:"data"`
}

// Body is the event's JSON body: {"type", "timestamp" (RFC 3339), "data"}.
// The store keeps it as written, so every attempt sends the same bytes.
func (e Event) Body() ([]byte, error) {
	d := e.Data
	if d == nil {
		d = Data{}
	}
	return json.Marshal(body{Type: e.Type, Timestamp: e.Time.Format(time.RFC3339), Data: d})
}

// ParseTypes checks an endpoint's list of event types: each a known type,
// or AllTypes alone. It returns them sorted and without repeats.
func ParseTypes(list []string) ([]string, error) {
	var out []string
	for _, t := range list {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if t != AllTypes && !slices.Contains(Types, t) {
			return nil, fmt.Errorf("unknown event type %q (known: %s, or * for all)", t, strings.Join(Types, ", "))
		}
		out = append(out, t)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("at least one event type is needed (or * for all)")
	}
	if slices.Contains(out, AllTypes) && len(out) > 1 {
		return nil, fmt.Errorf("* already means every event type; list no others beside it")
	}
	return out, nil
}

// Subscribed reports whether an endpoint with types receives events of typ.
func Subscribed(types []string, typ string) bool {
	return slices.Contains(types, AllTypes) || slices.Contains(types, typ)
}
