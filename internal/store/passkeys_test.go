package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

func TestPasskeyStoreRules(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	ann, _ := userWithSession(t, s, "ann@example.com")
	bob, _ := userWithSession(t, s, "bob@example.com")
	p := auth.Passkey{ID: "pk1", UserID: ann.ID, CredentialID: []byte{1, 2, 3}, PublicKey: []byte{9}, SignCount: 3,
		AAGUID: make([]byte, 16), Transports: []string{"internal", "hybrid"}, BackupEligible: true, Name: "Laptop", CreatedAt: now}
	if err := s.AddPasskey(ctx, p); err != nil {
		t.Fatal(err)
	}
	// One credential, one account.
	dup := p
	dup.ID, dup.UserID = "pk2", bob.ID
	if err := s.AddPasskey(ctx, dup); auth.ErrorCode(err) != auth.CodeAlreadyExists {
		t.Fatalf("duplicate credential: %v", err)
	}
	if u, _ := s.User(ctx, ann.ID); u.MFA.Passkeys != 1 {
		t.Fatalf("mfa.passkeys %d", u.MFA.Passkeys)
	}
	got, err := s.PasskeyByCredential(ctx, []byte{1, 2, 3})
	if err != nil || got.UserID != ann.ID || got.SignCount != 3 || len(got.Transports) != 2 || !got.BackupEligible || got.BackupState {
		t.Fatalf("read back %+v %v", got, err)
	}
	// The counter is a compare-and-set: a use from a stale read fails.
	if ok, err := s.UsePasskey(ctx, auth.PasskeyUse{ID: "pk1", UserID: ann.ID, Old: 3, New: 4, Now: now}); err != nil || !ok {
		t.Fatalf("use: %v %v", ok, err)
	}
	if ok, _ := s.UsePasskey(ctx, auth.PasskeyUse{ID: "pk1", UserID: ann.ID, Old: 3, New: 5, Now: now}); ok {
		t.Fatal("a stale counter was accepted")
	}
	if ok, _ := s.UsePasskey(ctx, auth.PasskeyUse{ID: "pk1", UserID: bob.ID, Old: 4, New: 5, Now: now}); ok {
		t.Fatal("another user's passkey was used")
	}
	// With a challenge that is not live, nothing is written.
	if ok, _ := s.UsePasskey(ctx, auth.PasskeyUse{ID: "pk1", UserID: ann.ID, Old: 4, New: 5, ChallengeHash: "gone", Now: now}); ok {
		t.Fatal("accepted with a dead challenge")
	}
	if got, _ := s.PasskeyByCredential(ctx, []byte{1, 2, 3}); got.SignCount != 4 || !got.LastUsedAt.Equal(now) {
		t.Fatalf("after uses %+v", got)
	}
	// Rename and delete are the owner's only.
	if err := s.RenamePasskey(ctx, bob.ID, "pk1", "mine"); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("rename by another user: %v", err)
	}
	if err := s.DeletePasskey(ctx, bob.ID, "pk1", now); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("delete by another user: %v", err)
	}
	if err := s.DeletePasskey(ctx, ann.ID, "pk1", now); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User(ctx, ann.ID); u.MFA.Passkeys != 0 {
		t.Fatal("passkey still counted")
	}
}

func TestCeremonySingleUsePurposeAndExpiry(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	ann, _ := userWithSession(t, s, "ann@example.com")
	c := auth.Ceremony{Hash: "c1", Purpose: auth.CeremonyRegistration, UserID: ann.ID, Session: []byte(`{}`), CreatedAt: now,
		ExpiresAt: now.Add(5 * time.Minute)}
	if err := s.CreateCeremony(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeCeremony(ctx, "c1", auth.CeremonyLogin, now); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("other purpose: %v", err)
	}
	if _, err := s.TakeCeremony(ctx, "c1", auth.CeremonyRegistration, now.Add(5*time.Minute)); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("expired: %v", err)
	}
	got, err := s.TakeCeremony(ctx, "c1", auth.CeremonyRegistration, now)
	if err != nil || got.UserID != ann.ID || string(got.Session) != `{}` {
		t.Fatalf("take %+v %v", got, err)
	}
	if _, err := s.TakeCeremony(ctx, "c1", auth.CeremonyRegistration, now); auth.ErrorCode(err) != auth.CodeNotFound {
		t.Fatalf("second take: %v", err)
	}
	// A passwordless login's ceremony has no user.
	if err := s.CreateCeremony(ctx, auth.Ceremony{Hash: "c2", Purpose: auth.CeremonyLogin, Session: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TakeCeremony(ctx, "c2", auth.CeremonyLogin, now); err != nil || got.UserID != "" {
		t.Fatalf("login ceremony %+v %v", got, err)
	}
}
