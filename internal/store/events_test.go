package store_test

import (
	"context"
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
