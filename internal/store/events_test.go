package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
	"github.com/gatehouse-auth/gatehouse/internal/upstream"
	"github.com/google/uuid"
)

// API keys, linked identities and organization memberships queue their
// webhook events in the transaction of their change, like every other
// change the contract lists.
func TestKeysIdentitiesAndMembershipsQueueTheirEvents(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	if err := s.CreateWebhook(ctx, events.Endpoint{ID: "ep", URL: "https://hooks.example.com/in", Events: []string{events.AllTypes},
		Secret: []byte("sealed"), CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ann, bob := newUser("ann@example.com", ""), newUser("bob@example.com", "")
	for _, u := range []auth.User{ann, bob} {
		if err := s.CreateUser(ctx, u, "h"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateAPIKey(ctx, auth.APIKey{ID: "k1", UserID: ann.ID, Name: "ci", Prefix: "gh_pat_abcd", Hash: "hash-k1",
		Scopes: []string{"me:read"}, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIKey(ctx, ann.ID, "k1", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddProvider(ctx, upstream.Provider{ID: "up", Kind: "oidc", Name: "Up", Issuer: "https://id.example.com",
		ClientID: "c", SealedSecret: []byte("s"), CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddIdentity(ctx, upstream.Identity{ID: "i1", UserID: ann.ID, ProviderID: "up", Subject: "sub-1", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	o := orgs.Org{ID: uuid.Must(uuid.NewV7()).String(), Name: "Shop", Slug: "shop", CreatedAt: now}
	if err := s.CreateOrg(ctx, o, orgs.Membership{OrgID: o.ID, UserID: ann.ID, Role: orgs.Owner, Grant: "g-ann", JoinedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Edit(ctx, o.ID, now, now.Add(time.Hour), func(tx orgs.Tx) error {
		if err := tx.AddMember(ctx, orgs.Membership{UserID: bob.ID, Role: orgs.Member, Grant: "g-bob", JoinedAt: now}); err != nil {
			return err
		}
		if err := tx.SetRole(ctx, bob.ID, orgs.Admin, "g-bob-2"); err != nil {
			return err
		}
		return tx.RemoveMember(ctx, bob.ID)
	}); err != nil {
		t.Fatal(err)
	}

	// A user's events are claimed one at a time, in order: deliver each.
	var got []string
	for round := 0; round < 20; round++ {
		claimed, err := s.ClaimDeliveries(ctx, "test", now.Add(time.Minute), time.Minute, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(claimed) == 0 {
			break
		}
		for _, d := range claimed {
			got = append(got, d.EventType)
			if err := s.RecordAttempt(ctx, events.Attempt{DeliveryID: d.ID, EndpointID: d.EndpointID, Owner: "test",
				At: now.Add(time.Minute), Status: 200, Delivered: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, want := range []string{events.APIKeyCreated, events.APIKeyRevoked, events.IdentityLinked,
		events.OrgMemberAdded, events.OrgRoleChanged, events.OrgMemberRemoved} {
		if !slices.Contains(got, want) {
			t.Errorf("no %s event queued; got %v", want, got)
		}
	}
}

// A claim leaves at most events.InFlightPerEndpoint deliveries of one
// endpoint leased at once, counting those still in flight, and none of an
// endpoint backing off after a failure until its retry time, an
// administrator's retry or a success.
func TestWebhookClaimCapsEachEndpointAndSkipsOneBackingOff(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if err := s.CreateWebhook(ctx, events.Endpoint{ID: id, URL: "https://hooks.example.com/" + id, Events: []string{events.UserCreated},
			Secret: []byte("sealed"), CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		if err := s.CreateUser(ctx, newUser(fmt.Sprintf("user%d@example.com", i), ""), "h"); err != nil {
			t.Fatal(err)
		}
	}
	at := now.Add(time.Second)
	claim := func(owner string) map[string][]events.Delivery {
		t.Helper()
		claimed, err := s.ClaimDeliveries(ctx, owner, at, time.Hour, 100)
		if err != nil {
			t.Fatal(err)
		}
		per := map[string][]events.Delivery{}
		for _, d := range claimed {
			per[d.EndpointID] = append(per[d.EndpointID], d)
		}
		return per
	}
	first := claim("one")
	if len(first["a"]) != 2 || len(first["b"]) != 2 {
		t.Fatalf("claimed %d of a's and %d of b's four, want 2 each", len(first["a"]), len(first["b"]))
	}
	if again := claim("two"); len(again) != 0 {
		t.Fatalf("claimed %v while each endpoint had two in flight", again)
	}
	record := func(d events.Delivery, delivered bool, endpointRetryAt time.Time) {
		t.Helper()
		a := events.Attempt{DeliveryID: d.ID, EndpointID: d.EndpointID, Owner: "one", At: at, Delivered: delivered}
		if !delivered {
			a.Status, a.Err, a.RetryAt, a.EndpointRetryAt = 500, "the receiver answered 500", at, endpointRetryAt
		}
		if err := s.RecordAttempt(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// a fails and backs off ten minutes; b delivers one: only b gets another.
	record(first["a"][0], false, at.Add(10*time.Minute))
	record(first["b"][0], true, time.Time{})
	if next := claim("two"); len(next["a"]) != 0 || len(next["b"]) != 1 {
		t.Fatalf("claimed %d of a's, %d of b's; want none of a's (backing off) and one of b's", len(next["a"]), len(next["b"]))
	}
	// An administrator's retry ends a's backoff: one of a's goes out (one is still in flight).
	if err := s.RetryDelivery(ctx, "a", first["a"][0].ID, at); err != nil {
		t.Fatal(err)
	}
	next := claim("two")
	if len(next["a"]) != 1 || len(next["b"]) != 0 {
		t.Fatalf("after a retry claimed %d of a's, %d of b's; want one of a's", len(next["a"]), len(next["b"]))
	}
	// A retry of a delivery being sent (its lease live) leaves it alone:
	// clearing the lease would send it a second time at once.
	inFlight := next["a"][0]
	if err := s.RetryDelivery(ctx, "a", inFlight.ID, at); err != nil {
		t.Fatalf("retry of a delivery in flight: %v", err)
	}
	for _, d := range claim("three")["a"] {
		if d.ID == inFlight.ID {
			t.Fatal("a delivery in flight was claimed again after a retry")
		}
	}
	if err := s.RetryDelivery(ctx, "a", "0190a0a0-0000-7000-8000-000000000000", at); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("retry of no such delivery: %v", err)
	}
}
