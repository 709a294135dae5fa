package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
)

func TestMemoryLimiter(t *testing.T) {
	t.Parallel()
	clk := testsupport.NewClock(time.Unix(1_800_000_000, 0))
	m := NewMemory(clk.Now)
	ctx := context.Background()
	l := Per(3, time.Minute, 3)
	for i := range 3 {
		if ok, _, _ := m.Allow(ctx, "ip", l); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, retry, _ := m.Allow(ctx, "ip", l)
	if ok || retry <= 0 || retry > 20*time.Second {
		t.Fatalf("4th request: ok=%v retry=%s; want refused with retry ≤ 20s", ok, retry)
	}
	if ok, _, _ := m.Allow(ctx, "other-ip", l); !ok {
		t.Fatal("another key shares the bucket")
	}
	clk.Advance(20 * time.Second)
	if ok, _, _ := m.Allow(ctx, "ip", l); !ok {
		t.Fatal("no token refilled after 20 s")
	}
	clk.Advance(11 * time.Minute)
	m.Allow(ctx, "trigger-gc", l)
	if _, kept := m.buckets["other-ip"]; kept {
		t.Fatal("an idle bucket was not dropped")
	}
}

func TestAddressKeyGroupsIPv6By64(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.7":                  "192.0.2.7",
		"::ffff:192.0.2.7":           "192.0.2.7",
		"2001:db8:1:2::1":            "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff:1:2": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":            "2001:db8:1:3::/64",
		"fe80::1%eth0":               "fe80::/64",
		"not an address":             "not an address",
	} {
		if got := AddressKey(in); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", in, got, want)
		}
	}
}
