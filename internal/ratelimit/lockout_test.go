package ratelimit

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"
)

// attempt is what a caller does: Begin, then (here) always a wrong answer.
// It reports whether the secret was checked.
func attempt(t *testing.T, l Lockout, key string) (checked bool, retry, lock time.Duration) {
	t.Helper()
	retry, lock, err := l.Begin(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return retry == 0, retry, lock
}

// lockoutProgression: a patient attacker waits out each lock.
func lockoutProgression(t *testing.T, l Lockout, key string, advance func(time.Duration)) {
	var locks []time.Duration
	for len(locks) < 8 {
		checked, retry, lock := attempt(t, l, key)
		if !checked {
			advance(retry)
			continue
		}
		locks = append(locks, lock)
	}
	want := []time.Duration{0, 0, 0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second}
	for i := range want {
		if locks[i] != want[i] {
			t.Fatalf("locks = %v, want %v", locks, want)
		}
	}
	if checked, retry, _ := attempt(t, l, key); checked || retry <= 3*time.Second || retry > 4*time.Second {
		t.Fatalf("during the 4 s lock: checked %v, retry %s", checked, retry)
	}
	if checked, _, _ := attempt(t, l, "other:"+key); !checked {
		t.Fatal("another account is locked")
	}
}

func TestLockoutProgression(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := NewMemoryLockout(LockoutPolicy{}, clk.now)
	lockoutProgression(t, l, "acct", func(d time.Duration) { clk.t = clk.t.Add(d) })
	clk.t = clk.t.Add(4 * time.Second)
	if checked, _, _ := attempt(t, l, "acct"); !checked {
		t.Fatal("the lock did not expire")
	}
	l.Succeed(context.Background(), "acct")
	if _, _, lock := attempt(t, l, "acct"); lock != 0 {
		t.Fatal("a success did not reset the streak")
	}
}

// A right answer on the attempt that starts a lock lifts it: the refund.
func TestLockoutSucceedLiftsTheLockItsAttemptStarted(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := NewMemoryLockout(LockoutPolicy{}, clk.now)
	for range 5 {
		attempt(t, l, "acct")
	}
	if _, _, lock := attempt(t, l, "acct"); lock != time.Second {
		t.Fatalf("6th attempt starts lock %s, want 1s", lock)
	}
	l.Succeed(context.Background(), "acct")
	if checked, _, lock := attempt(t, l, "acct"); !checked || lock != 0 {
		t.Fatalf("after a right answer: checked %v, lock %s", checked, lock)
	}
}

func TestLockoutCapsAtMaxAndHour(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := NewMemoryLockout(LockoutPolicy{MaxLock: time.Minute, HourlyCap: 10}, clk.now)
	failuresInHour := 0
	start := clk.t
	for clk.t.Sub(start) < time.Hour {
		checked, retry, lock := attempt(t, l, "acct")
		if !checked {
			clk.t = clk.t.Add(retry)
			continue
		}
		if lock > time.Hour {
			t.Fatalf("a single lock of %s", lock)
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

// burst runs n concurrent attempts on a fresh key and counts the checked ones.
func burst(t *testing.T, l Lockout, key string, n int) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	checked := 0
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			retry, _, err := l.Begin(context.Background(), key)
			if err != nil {
				t.Error(err)
			}
			if retry == 0 {
				mu.Lock()
				checked++
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	return checked
}

// Hole 2: a concurrent burst gets exactly the checks a sequence gets (5
// free failures, and the sixth that starts the lock).
func TestLockoutBurstGetsNoMoreChecksThanASequence(t *testing.T) {
	l := NewMemoryLockout(LockoutPolicy{}, nil)
	sequential := 0
	for range 50 {
		if checked, _, _ := attempt(t, l, "seq"); checked {
			sequential++
		}
	}
	if got := burst(t, l, "burst", 50); got != sequential || got != 6 {
		t.Fatalf("a burst of 50 got %d checks, a sequence %d; want 6 both", got, sequential)
	}
}

func TestRedisLockoutBurstGetsNoMoreChecksThanASequence(t *testing.T) {
	c := redisClient(t)
	a := NewRedisLockout(c, "test", LockoutPolicy{}, NewMemoryLockout(LockoutPolicy{}, nil), quiet)
	b := NewRedisLockout(c, "test", LockoutPolicy{}, NewMemoryLockout(LockoutPolicy{}, nil), quiet)
	key := "test:" + rand.Text()
	var mu sync.Mutex
	n := 0
	// Alternate the two instances inside the burst.
	alternating := lockoutFunc(func(ctx context.Context, k string) (time.Duration, time.Duration, error) {
		mu.Lock()
		n++
		l := a
		if n%2 == 0 {
			l = b
		}
		mu.Unlock()
		return l.Begin(ctx, k)
	})
	if got := burst(t, alternating, key, 50); got != 6 {
		t.Fatalf("a burst of 50 over two instances got %d checks, want 6", got)
	}
}

type lockoutFunc func(ctx context.Context, key string) (time.Duration, time.Duration, error)

func (f lockoutFunc) Begin(ctx context.Context, key string) (time.Duration, time.Duration, error) {
	return f(ctx, key)
}
func (f lockoutFunc) Succeed(context.Context, string) error { return nil }

func TestRedisLockoutIsSharedAcrossInstances(t *testing.T) {
	c := redisClient(t)
	a := NewRedisLockout(c, "test", LockoutPolicy{}, NewMemoryLockout(LockoutPolicy{}, nil), quiet)
	b := NewRedisLockout(c, "test", LockoutPolicy{}, NewMemoryLockout(LockoutPolicy{}, nil), quiet)
	key := "test:" + rand.Text()
	for i := range 6 {
		lim := a
		if i%2 == 1 {
			lim = b
		}
		if checked, _, _ := attempt(t, lim, key); !checked {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	for name, l := range map[string]*RedisLockout{"a": a, "b": b} {
		if checked, retry, _ := attempt(t, l, key); checked || retry <= 0 || retry > time.Second {
			t.Fatalf("instance %s: checked %v, retry %s after 6 failures spread over two instances", name, checked, retry)
		}
	}
	// The refund of a right answer lifts the lock and resets the streak everywhere.
	if err := a.Succeed(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	if checked, _, lock := attempt(t, b, key); !checked || lock != 0 {
		t.Fatalf("after a success on the other instance: checked %v, lock %s", checked, lock)
	}
}

func TestRedisLockoutProgression(t *testing.T) {
	c := redisClient(t)
	// Millisecond locks keep the real clock's waits short.
	p := LockoutPolicy{BaseLock: 20 * time.Millisecond, MaxLock: time.Second}
	l := NewRedisLockout(c, "test", p, NewMemoryLockout(p, nil), quiet)
	key := "test:" + rand.Text()
	var locks []time.Duration
	for len(locks) < 8 {
		checked, retry, lock := attempt(t, l, key)
		if !checked {
			time.Sleep(retry)
			continue
		}
		locks = append(locks, lock)
	}
	want := []time.Duration{0, 0, 0, 0, 0, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}
	for i := range want {
		if locks[i] != want[i] {
			t.Fatalf("locks = %v, want %v", locks, want)
		}
	}
}
