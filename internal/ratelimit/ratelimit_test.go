package ratelimit

import (
	"context"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestMemoryLimiter(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	m := NewMemory(clk.now)
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
	clk.t = clk.t.Add(20 * time.Second)
	if ok, _, _ := m.Allow(ctx, "ip", l); !ok {
		t.Fatal("no token refilled after 20 s")
	}
	clk.t = clk.t.Add(11 * time.Minute)
	m.Allow(ctx, "trigger-gc", l)
	if _, kept := m.buckets["other-ip"]; kept {
		t.Fatal("an idle bucket was not dropped")
	}
}

func TestLockoutProgression(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := NewMemoryLockout(LockoutPolicy{}, clk.now)
	ctx := context.Background()
	var locks []time.Duration
	for range 8 {
		if d, _ := l.Locked(ctx, "acct"); d > 0 {
			clk.t = clk.t.Add(d) // a patient attacker waits out each lock
		}
		d, _ := l.Fail(ctx, "acct")
		locks = append(locks, d)
	}
	want := []time.Duration{0, 0, 0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second}
	for i := range want {
		if locks[i] != want[i] {
			t.Fatalf("locks = %v, want %v", locks, want)
		}
	}
	if d, _ := l.Locked(ctx, "acct"); d != 4*time.Second {
		t.Fatalf("Locked = %s, want 4s", d)
	}
	if d, _ := l.Locked(ctx, "other"); d != 0 {
		t.Fatal("another account is locked")
	}
	clk.t = clk.t.Add(4 * time.Second)
	if d, _ := l.Locked(ctx, "acct"); d != 0 {
		t.Fatal("the lock did not expire")
	}
	l.Succeed(ctx, "acct")
	if d, _ := l.Fail(ctx, "acct"); d != 0 {
		t.Fatal("a success did not reset the streak")
	}
}

func TestLockoutCapsAtMaxAndHour(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := NewMemoryLockout(LockoutPolicy{MaxLock: time.Minute, HourlyCap: 10}, clk.now)
	ctx := context.Background()
	failuresInHour := 0
	start := clk.t
	for clk.t.Sub(start) < time.Hour {
		if d, _ := l.Locked(ctx, "acct"); d > 0 {
			clk.t = clk.t.Add(d)
			continue
		}
		d, _ := l.Fail(ctx, "acct")
		if d > time.Hour {
			t.Fatalf("a single lock of %s", d)
		}
		failuresInHour++
		// The owner logging in between does not lift the hourly cap.
		if failuresInHour%3 == 0 {
			l.mu.Lock()
			l.state["acct"].streak = 0
			l.mu.Unlock()
		}
	}
	if failuresInHour > 10 {
		t.Fatalf("%d failures within an hour, cap 10", failuresInHour)
	}
}
