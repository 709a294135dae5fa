package auth

import (
	"context"
	"slices"
	"testing"
	"time"
)

// fakeTime is a clock that moves only when told or when slept on.
type fakeTime struct {
	t     time.Time
	slept []time.Duration
}

func (f *fakeTime) now() time.Time { return f.t }
func (f *fakeTime) sleep(_ context.Context, d time.Duration) {
	f.slept = append(f.slept, d)
	f.t = f.t.Add(d)
}

const (
	argon = "$argon2id$v=19$m=19456,t=2,p=1"
	pbkdf = "pbkdf2:sha256:600000"
	hmac  = "sha256"
)

// seededFloor is a floor seeded with argon2id at 40 ms, pbkdf2 at 160 ms
// (4 argon2ids) and a werkzeug HMAC at 1 µs, on a fake clock.
func seededFloor() (*checkFloor, *fakeTime) {
	ft := &fakeTime{t: time.Unix(1_800_000_000, 0)}
	f := newCheckFloor()
	f.now, f.sleep = ft.now, ft.sleep
	f.setSchemes(argon, 40*time.Millisecond, map[string]time.Duration{pbkdf: 160 * time.Millisecond, hmac: time.Microsecond})
	return f, ft
}

// check runs one failed check the way guarded does: its hash takes cost on
// the clock, it is observed, then padded. It returns what padding slept.
func (f *checkFloor) check(ft *fakeTime, scheme string, cost time.Duration) time.Duration {
	start := ft.now()
	ft.t = ft.t.Add(cost)
	f.observe(scheme, cost)
	n := len(ft.slept)
	f.pad(context.Background(), start, scheme, cost)
	if len(ft.slept) == n {
		return 0
	}
	return ft.slept[n]
}

// Every failure ends no sooner than the slowest scheme would: at the
// measured speed, and when the machine is slower than measured.
func TestCheckFloorPadsToTheSlowestScheme(t *testing.T) {
	t.Parallel()
	fresh := newCheckFloor()
	if fresh.current() != 0 {
		t.Fatalf("a fresh floor is %v", fresh.current())
	}
	f, ft := seededFloor()
	if got := f.current(); got != 160*time.Millisecond {
		t.Fatalf("seeded floor %v, want the slowest scheme's 160ms", got)
	}
	for _, c := range []struct {
		name   string
		scheme string
		cost   time.Duration
		slept  time.Duration
	}{
		{"argon2id or unknown name", argon, 40 * time.Millisecond, 120 * time.Millisecond},
		{"werkzeug HMAC", hmac, time.Microsecond, 160*time.Millisecond - time.Microsecond},
		{"no hash at all", "", 0, 160 * time.Millisecond},
		{"pbkdf2 itself", pbkdf, 160 * time.Millisecond, 0},
	} {
		if got := f.check(ft, c.scheme, c.cost); got != c.slept {
			t.Errorf("%s: padding slept %v, want %v", c.name, got, c.slept)
		}
	}
	// The machine is twice as slow now: an unknown name's dummy takes 80 ms,
	// so a pbkdf2 check would take 320 ms: that is what the failure takes.
	f, ft = seededFloor()
	if got := f.check(ft, argon, 80*time.Millisecond); got != 240*time.Millisecond {
		t.Fatalf("slow machine, unknown name: padding slept %v, want 240ms (to 4 x 80ms)", got)
	}
	// ... and the HMAC account, right after, is padded to the same (less
	// the 320 ms of decay of the 80 ms observed).
	hmacSlept := f.check(ft, hmac, time.Microsecond)
	if hmacSlept <= 319*time.Millisecond || hmacSlept >= 320*time.Millisecond {
		t.Fatalf("slow machine, HMAC account: padding slept %v, want just under 320ms", hmacSlept)
	}
	// A check slower than everything sleeps nothing and raises the floor.
	if got := f.check(ft, pbkdf, 500*time.Millisecond); got != 0 {
		t.Fatalf("a 500ms check slept %v", got)
	}
	if got := f.current(); got != 500*time.Millisecond {
		t.Fatalf("after a 500ms check the floor is %v", got)
	}
	if !slices.Equal(ft.slept, []time.Duration{240 * time.Millisecond, hmacSlept}) {
		t.Fatalf("slept %v", ft.slept)
	}
}

// What real checks raise decays (halving every floorHalfLife) back to the
// measured samples, never below; everything is capped; a fresh sample drops
// the schemes no hash has any more.
func TestCheckFloorDecaysAndIsCapped(t *testing.T) {
	t.Parallel()
	f, ft := seededFloor()
	f.observe(pbkdf, 400*time.Millisecond)
	if got := f.current(); got != 400*time.Millisecond {
		t.Fatalf("after a 400ms check the floor is %v", got)
	}
	ft.t = ft.t.Add(floorHalfLife)
	if got := f.current(); got != 200*time.Millisecond {
		t.Fatalf("one half-life later the floor is %v, want 200ms", got)
	}
	ft.t = ft.t.Add(10 * floorHalfLife)
	if got := f.current(); got != 160*time.Millisecond {
		t.Fatalf("long after, the floor is %v, want the samples' 160ms", got)
	}
	f.observe(argon, time.Millisecond) // a quick check lowers nothing
	if got := f.current(); got != 160*time.Millisecond {
		t.Fatalf("after a quick check the floor is %v", got)
	}

	f.observe(pbkdf, time.Minute)
	if got := f.current(); got != floorCap {
		t.Fatalf("after a one-minute check the floor is %v, want the cap %v", got, floorCap)
	}
	f.addScheme(argon, 40*time.Millisecond, "scrypt:1048576:8:1", 30*time.Second)
	ft.t = ft.t.Add(20 * floorHalfLife)
	if got := f.current(); got != floorCap {
		t.Fatalf("with a 30s scheme the floor is %v, want the cap %v", got, floorCap)
	}
	if got := f.check(ft, argon, 40*time.Millisecond); got != floorCap-40*time.Millisecond {
		t.Fatalf("capped floor: an argon2id failure slept %v", got)
	}

	f.setSchemes(argon, 40*time.Millisecond, nil)
	ft.t = ft.t.Add(20 * floorHalfLife)
	if got := f.current(); got != 40*time.Millisecond {
		t.Fatalf("after the slow schemes left, the floor is %v, want 40ms", got)
	}
}

// A client that goes away ends the padding (the default sleeper).
func TestSleepCtxEndsWithTheContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() { sleepCtx(ctx, time.Hour); close(done) }()
	<-done
}
