package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/books"
	"github.com/gatehouse-auth/gatehouse/internal/orgs"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/google/uuid"
)

// A change of a membership replaces its grant and writes the old one to
// the change feed, in the edit's transaction, as an ended session's id is;
// a session acting in the organization reads the new claims in one
// statement; the slug's uniqueness is the database's.
func TestOrgEditRevokesTheOldGrantThroughTheChangeFeed(t *testing.T) {
	t.Parallel()
	s, ann, bob, o := shopOfAnn(t)
	ctx := context.Background()
	again := orgs.Org{ID: uuid.Must(uuid.NewV7()).String(), Name: "Shop", Slug: "shop", CreatedAt: now}
	if err := s.CreateOrg(ctx, again, orgs.Membership{OrgID: again.ID, UserID: bob.ID, Role: orgs.Owner, Grant: "g-x", JoinedAt: now}); auth.ErrorCode(err) != auth.CodeAlreadyExists {
		t.Fatalf("a second org with the slug: %v", err)
	}
	liveUntil := now.Add(time.Hour)
	revoked, err := s.Edit(ctx, o.ID, now, liveUntil, func(tx orgs.Tx) error {
		if err := tx.AddRole(ctx, orgs.Role{Name: "editor", Permissions: []string{"books:read", "books:write"}, CreatedAt: now}); err != nil {
			return err
		}
		if err := tx.AddMember(ctx, orgs.Membership{UserID: bob.ID, Role: orgs.Member, Grant: "g-bob-1", JoinedAt: now}); err != nil {
			return err
		}
		return tx.SetRole(ctx, bob.ID, "editor", "g-bob-2")
	})
	if err != nil || !slices.Equal(revoked, []string{"g-bob-1"}) {
		t.Fatalf("edit: revoked %v, %v", revoked, err)
	}
	page, err := s.Changes(ctx, auth.ChangeFilter{Limit: 100, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(page.Changes, func(c auth.Change) bool { return c.SessionID == "g-bob-1" }); i < 0 || !page.Changes[i].ExpiresAt.Equal(liveUntil) {
		t.Fatalf("the old grant is not in the feed: %+v", page.Changes)
	}

	sess := auth.Session{ID: uuid.Must(uuid.NewV7()).String(), UserID: bob.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
	if _, err := s.StartSession(ctx, auth.SessionStart{Session: sess, Refresh: auth.RefreshToken{Hash: "h1", SessionID: sess.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		PasswordHash: "h", Role: auth.RoleUser, MaxLive: 10, IdleSince: now.Add(-time.Hour), LiveUntil: liveUntil}); err != nil {
		t.Fatal(err)
	}
	if err := s.EnterOrg(ctx, sess.ID, ann.ID, o.ID); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("entering with another user's session: %v", err)
	}
	if err := s.EnterOrg(ctx, sess.ID, bob.ID, o.ID); err != nil {
		t.Fatal(err)
	}
	m, perms, err := s.SessionMembership(ctx, sess.ID, bob.ID)
	if err != nil || m.Role != "editor" || m.Grant != "g-bob-2" || !slices.Equal(perms, []string{"books:read", "books:write"}) {
		t.Fatalf("the session's membership: %+v %v %v", m, perms, err)
	}
	if _, err := s.Edit(ctx, o.ID, now, liveUntil, func(tx orgs.Tx) error { return tx.RemoveMember(ctx, bob.ID) }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionMembership(ctx, sess.ID, bob.ID); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("after the removal the session acts in: %v", err)
	}
	if _, err := s.Edit(ctx, uuid.Must(uuid.NewV7()).String(), now, liveUntil, func(orgs.Tx) error { return nil }); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("editing an unknown organization: %v", err)
	}
}

// An invitation carries its sender's authority: removing the sender, or
// changing its role, revokes the invitations it sent, so a removed owner's
// invitation to an owner cannot bring it back.
func TestRemovingAMemberRevokesTheInvitationsItSent(t *testing.T) {
	t.Parallel()
	s, _, bob, o := shopOfAnn(t)
	ctx := context.Background()
	if _, err := s.Edit(ctx, o.ID, now, now.Add(time.Hour), func(tx orgs.Tx) error {
		if err := tx.AddMember(ctx, orgs.Membership{UserID: bob.ID, Role: orgs.Owner, Grant: "g-bob", JoinedAt: now}); err != nil {
			return err
		}
		return tx.PutInvitation(ctx, orgs.Invitation{ID: "inv", Email: "heir@example.com", Role: orgs.Owner, Hash: "hash-inv",
			InvitedBy: bob.ID, CreatedAt: now, ExpiresAt: now.Add(7 * 24 * time.Hour)}, nil)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Edit(ctx, o.ID, now, now.Add(time.Hour), func(tx orgs.Tx) error { return tx.RemoveMember(ctx, bob.ID) }); err != nil {
		t.Fatal(err)
	}
	inv, err := s.InvitationByHash(ctx, "hash-inv")
	if err != nil {
		t.Fatal(err)
	}
	if inv.RevokedAt.IsZero() {
		t.Fatal("the removed member's invitation is still open")
	}
}

// The last owner of an organization cannot delete its account (by itself
// or by an administrator): the organization would be left with no owner.
func TestTheLastOwnerCannotBeDeleted(t *testing.T) {
	t.Parallel()
	s, ann, bob, o := shopOfAnn(t)
	ctx := context.Background()
	if _, err := s.Edit(ctx, o.ID, now, now.Add(time.Hour), func(tx orgs.Tx) error {
		return tx.AddMember(ctx, orgs.Membership{UserID: bob.ID, Role: orgs.Admin, Grant: "g-bob", JoinedAt: now})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUser(ctx, ann.ID, now, now.Add(time.Hour)); auth.ErrorCode(err) != auth.CodeLastOwner {
		t.Fatalf("deleting the last owner: %v, want last_owner", err)
	}
	// bob's organization book outlives bob's account: an owner takes it over.
	if err := s.CreateBook(ctx, books.Book{ID: "b1", OwnerID: bob.ID, OrgID: o.ID, Title: "Inventory", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUser(ctx, bob.ID, now, now.Add(time.Hour)); err != nil {
		t.Fatalf("deleting an admin who is no owner: %v", err)
	}
	b, err := s.Book(ctx, "b1", books.Scope{OwnerID: ann.ID, OrgID: o.ID})
	if err != nil || b.OwnerID != ann.ID {
		t.Fatalf("the organization's book after its writer left: %+v %v", b, err)
	}
}

// shopOfAnn is a store with two users, ann and bob, and the organization
// Shop (slug "shop") that ann owns.
func shopOfAnn(t *testing.T) (*store.Store, auth.User, auth.User, orgs.Org) {
	t.Helper()
	s := openTemp(t)
	ctx := context.Background()
	ann, bob := newUser("ann@example.com", ""), newUser("bob@example.com", "")
	for _, u := range []auth.User{ann, bob} {
		if err := s.CreateUser(ctx, u, "h"); err != nil {
			t.Fatal(err)
		}
	}
	o := orgs.Org{ID: uuid.Must(uuid.NewV7()).String(), Name: "Shop", Slug: "shop", CreatedAt: now}
	if err := s.CreateOrg(ctx, o, orgs.Membership{OrgID: o.ID, UserID: ann.ID, Role: orgs.Owner, Grant: "g-ann", JoinedAt: now}); err != nil {
		t.Fatal(err)
	}
	return s, ann, bob, o
}
