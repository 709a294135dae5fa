package auth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
)

// Without a signer (the command line) New wires no service that issues
// tokens, and the others work.
func TestNewWithoutSignerWiresNoTokenIssuer(t *testing.T) {
	t.Parallel()
	e := authtest.New(t, authtest.WithDeps(func(d *auth.Deps) { d.Signer = nil }))
	if e.Sessions != nil || e.Passkeys != nil {
		t.Fatalf("Sessions %v, Passkeys %v: want none without a signer", e.Sessions, e.Passkeys)
	}
	ctx := context.Background()
	u, err := e.Accounts.CreateUser(ctx, auth.RegisterInput{Username: "admin", Password: "correct horse battery"}, auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Factors.ResetMFA(ctx, "cli", u.ID); err != nil {
		t.Fatal(err)
	}
	if link, err := e.Recovery.AdminPasswordReset(ctx, "cli", u.ID, true); err != nil || !strings.Contains(link, "/reset-password?token=") {
		t.Fatalf("printed reset link %q, %v", link, err)
	}
}

// With a signer every service is wired.
func TestNewWiresEveryService(t *testing.T) {
	t.Parallel()
	e := authtest.New(t)
	if e.Accounts == nil || e.Sessions == nil || e.Recovery == nil || e.Factors == nil || e.Passkeys == nil || e.Feed == nil || e.Checks == nil {
		t.Fatalf("a service is missing: %+v", e.Services)
	}
}
