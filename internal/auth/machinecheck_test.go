package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// machineCheck is a guarded check of a machine's secret that passes when
// ok says so.
func machineCheck(ok bool, limit ratelimit.Limit) auth.GuardedCheck {
	return auth.GuardedCheck{Kind: auth.CheckClientSecret, Client: auth.Client{IP: "203.0.113.9"}, Machine: true,
		Account: "client:svc@203.0.113.9", Bucket: "client:svc", BucketLimit: limit, Secret: "presented",
		Check: func(context.Context) (bool, string, error) {
			if ok {
				return true, "", nil
			}
			return false, "wrong secret of client svc", nil
		}}
}

// A machine's secret takes no lockout slot: failures beyond the lockout's
// free ones lock nothing, and the right secret still passes.
func TestMachineSecretFailuresLockNothing(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.WithDeps(func(d *auth.Deps) {
		d.Limiter = ratelimit.NewMemory(nil)
		p := ratelimit.DefaultPolicy()
		d.Lockout = ratelimit.NewMemoryLockout(p.Lockout, nil)
	}))
	ctx := context.Background()
	big := ratelimit.Per(1000, time.Minute, 1000)
	for i := range 20 {
		if err := env.Checks.Guarded(ctx, machineCheck(false, big)); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
			t.Fatalf("wrong secret %d: %v, want invalid_credentials", i+1, err)
		}
	}
	if err := env.Checks.Guarded(ctx, machineCheck(true, big)); err != nil {
		t.Fatalf("right secret after 20 wrong ones: %v", err)
	}
}

// Only failures take from the address's bucket: successes never run it
// down. Once failures have emptied it, that address is refused before any
// check, the right secret too (a 429 must not mean "wrong" while the right
// guess still passes), and nothing more is audited; another address is not
// affected.
func TestMachineSecretCountsOnlyFailuresAgainstTheAddress(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.WithDeps(func(d *auth.Deps) { d.Limiter = ratelimit.NewMemory(nil) }))
	ctx := context.Background()
	small := ratelimit.Per(2, time.Hour, 2)
	for i := range 10 {
		if err := env.Checks.Guarded(ctx, machineCheck(true, small)); err != nil {
			t.Fatalf("right secret %d with a bucket of 2: %v", i+1, err)
		}
	}
	for i := range 2 {
		if err := env.Checks.Guarded(ctx, machineCheck(false, small)); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
			t.Fatalf("wrong secret %d: %v, want invalid_credentials", i+1, err)
		}
	}
	if err := env.Checks.Guarded(ctx, machineCheck(false, small)); auth.ErrorCode(err) != auth.CodeTooManyRequests {
		t.Fatalf("wrong secret beyond the bucket: %v, want too_many_requests", err)
	}
	if err := env.Checks.Guarded(ctx, machineCheck(true, small)); auth.ErrorCode(err) != auth.CodeTooManyRequests {
		t.Fatalf("right secret after the bucket emptied: %v, want too_many_requests", err)
	}
	elsewhere := machineCheck(true, small)
	elsewhere.Client.IP = "198.51.100.7"
	if err := env.Checks.Guarded(ctx, elsewhere); err != nil {
		t.Fatalf("right secret from another address: %v", err)
	}
	events, _, err := env.Accounts.AuditEvents(ctx, auth.AuditFilter{Event: auth.EventOAuthCheckFailed, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("%d failures audited, want the 2 the bucket allowed", len(events))
	}
}
