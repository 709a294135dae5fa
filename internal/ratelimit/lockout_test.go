package ratelimit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
)

// attempt is one check of key settled with o. It reports whether the
// secret was checked, and otherwise the refusal.
func attempt(t *testing.T, l Lockout, key string, o Outcome) (checked bool, retry, lock time.Duration) {
	t.Helper()
	ctx := context.Background()
	slot, err := l.Begin(ctx, key)
	if r, ok := errors.AsType[*Refused](err); ok {
		if !r.Locked {
			t.Fatalf("refused without a lock: %v", err)
		}
		return false, r.RetryAfter, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	lock, err = l.Settle(ctx, slot, o)
	if err != nil {
		t.Fatal(err)
	}
	return true, 0, lock
}

// lockoutProgression: a patient attacker waits out each lock.
func lockoutProgression(t *testing.T, l Lockout, key string, advance func(time.Duration)) {
	var locks []time.Duration
	for len(locks) < 8 {
		checked, retry, lock := attempt(t, l, key, Failed)
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
	if checked, retry, _ := attempt(t, l, key, Failed); checked || retry <= 3*time.Second || retry > 4*time.Second {
		t.Fatalf("during the 4 s lock: checked %v, retry %s", checked, retry)
	}
	if checked, _, _ := attempt(t, l, "other:"+key, Failed); !checked {
		t.Fatal("another account is locked")
	}
}

func TestLockoutProgression(t *testing.T) {
	t.Parallel()
	clk := testsupport.NewClock(time.Unix(1_800_000_000, 0))
	l := NewMemoryLockout(LockoutPolicy{}, clk.Now)
	lockoutProgression(t, l, "acct", func(d time.Duration) { clk.Advance(d) })
	clk.Advance(4 * time.Second)
	if checked, _, _ := attempt(t, l, "acct", Succeeded); !checked {
		t.Fatal("the lock did not expire")
	}
	if _, _, lock := attempt(t, l, "acct", Failed); lock != 0 {
		t.Fatal("a success did not reset the streak")
	}
}

// Only failures count: a right answer after five failures starts no lock
// and ends the streak; a released one (a password whose second factor is
// to come) neither counts nor ends it.
func TestLockoutCountsOnlyFailures(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		right    Outcome
		wantLock time.Duration // of the failure after 5 failures and the right answer
	}{
		{"succeeded ends the streak", Succeeded, 0},
		{"released keeps the streak", Released, time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := testsupport.NewClock(time.Unix(1_800_000_000, 0))
			l := NewMemoryLockout(LockoutPolicy{}, clk.Now)
			for range 5 {
				attempt(t, l, "acct", Failed)
			}
			if checked, _, lock := attempt(t, l, "acct", c.right); !checked || lock != 0 {
				t.Fatalf("right answer after 5 failures: checked %v, lock %s", checked, lock)
			}
			if checked, _, lock := attempt(t, l, "acct", Failed); !checked || lock != c.wantLock {
				t.Fatalf("the next failure: checked %v, lock %s; want lock %s", checked, lock, c.wantLock)
			}
		})
	}
}

func TestLockoutCapsAtMaxAndHour(t *testing.T) {
	t.Parallel()
	clk := testsupport.NewClock(time.Unix(1_800_000_000, 0))
	l := NewMemoryLockout(LockoutPolicy{MaxLock: time.Minute, HourlyCap: 10}, clk.Now)
	failuresInHour := 0
	start := clk.Now()
	for clk.Now().Sub(start) < time.Hour {
		checked, retry, lock := attempt(t, l, "acct", Failed)
		if !checked {
			clk.Advance(retry)
			continue
		}
		if lock > time.Hour {
			t.Fatalf("a single lock of %s", lock)
		}
		failuresInHour++
		// The owner logging in between does not lift the hourly cap.
		if failuresInHour%3 == 0 {
			attempt(t, l, "acct", Succeeded)
		}
	}
	if failuresInHour > 10 {
		t.Fatalf("%d failures within an hour, cap 10", failuresInHour)
	}
}

// instances are the lockouts a test's checks go through: one, or several
// sharing Redis, taken in turn.
type instances []Lockout

func (in instances) pick(i int) Lockout { return in[i%len(in)] }

// waitLong is a policy's Wait that no test reaches: a check waits until a
// slot frees or a lock refuses it.
const waitLong = time.Minute

// burstResult is what a burst's checks got.
type burstResult struct {
	checked, locked, busy int
	maxInFlight           int
}

// burst starts n concurrent checks of key, check i settled with outcome(i),
// spread over in. The first hold checks to get a slot stay in flight until
// hold of them have, so that the rest find every slot taken; then all
// settle as they come.
func burst(t *testing.T, in instances, key string, n, hold int, outcome func(i int) Outcome) burstResult {
	t.Helper()
	var (
		mu       sync.Mutex
		res      burstResult
		inFlight atomic.Int64
		wg       sync.WaitGroup
	)
	entered, release := make(chan struct{}, n), make(chan struct{})
	var held atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := in.pick(i)
			slot, err := l.Begin(context.Background(), key)
			r, refused := errors.AsType[*Refused](err)
			if err != nil && !refused {
				t.Error(err)
				return
			}
			mu.Lock()
			switch {
			case refused && r.Locked:
				res.locked++
			case refused:
				res.busy++
			default:
				res.checked++
				res.maxInFlight = max(res.maxInFlight, int(inFlight.Add(1)))
			}
			mu.Unlock()
			if refused {
				return
			}
			if held.Add(1) <= int64(hold) {
				entered <- struct{}{}
				<-release
			}
			inFlight.Add(-1)
			if _, err := l.Settle(context.Background(), slot, outcome(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	for range hold {
		<-entered
	}
	close(release)
	wg.Wait()
	return res
}

func always(o Outcome) func(int) Outcome { return func(int) Outcome { return o } }

// lockoutCases runs a test on one in-memory instance, and on two sharing
// Redis when GATEHOUSE_TEST_REDIS is set.
func lockoutCases(t *testing.T, p LockoutPolicy, test func(t *testing.T, in instances, key string)) {
	t.Run("memory", func(t *testing.T) {
		test(t, instances{NewMemoryLockout(p, nil)}, "acct")
	})
	t.Run("redis, two instances", func(t *testing.T) {
		c := testsupport.Redis(t)
		in := instances{
			NewRedisLockout(c, "test", p, NewMemoryLockout(p, nil), quiet),
			NewRedisLockout(c, "test", p, NewMemoryLockout(p, nil), quiet),
		}
		test(t, in, "test:"+rand.Text())
	})
}

// A burst of wrong answers gets exactly the checks a sequence gets (5 free
// failures, and the sixth that starts the lock): the checks beyond wait,
// and the lock refuses them.
func TestLockoutBurstOfFailuresGetsTheChecksOfASequence(t *testing.T) {
	t.Parallel()
	p := LockoutPolicy{BaseLock: time.Minute, Wait: waitLong}
	sequential := 0
	seq := NewMemoryLockout(p, nil)
	for range 50 {
		if checked, _, _ := attempt(t, seq, "seq", Failed); checked {
			sequential++
		}
	}
	lockoutCases(t, p, func(t *testing.T, in instances, key string) {
		got := burst(t, in, key, 50, sequential, always(Failed))
		if got.checked != sequential || got.locked != 50-sequential || got.busy != 0 {
			t.Fatalf("a burst of 50 failures: %+v; a sequence got %d checks", got, sequential)
		}
	})
}

// Right answers are never refused for the checks in flight: beyond the
// slots they wait their turn.
func TestLockoutRightAnswersWaitForASlot(t *testing.T) {
	t.Parallel()
	lockoutCases(t, LockoutPolicy{Wait: waitLong}, func(t *testing.T, in instances, key string) {
		got := burst(t, in, key, 20, 6, always(Succeeded))
		if got.checked != 20 || got.maxInFlight > 6 {
			t.Fatalf("20 concurrent right answers: %+v; want all 20 checked, at most 6 at once", got)
		}
	})
}

// A mixed burst, wrong answers in flight first and then a right one, ends
// as the same sequence: after 5 wrong the right one is checked (at once:
// a slot is free), after 6 wrong the lock refuses it.
func TestLockoutMixedBurstEndsAsASequence(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		wrong       int
		wantChecked bool
	}{{5, true}, {6, false}} {
		t.Run(fmt.Sprintf("%d wrong", c.wrong), func(t *testing.T) {
			lockoutCases(t, LockoutPolicy{BaseLock: time.Minute, Wait: waitLong}, func(t *testing.T, in instances, key string) {
				ctx := context.Background()
				var wrong []Slot
				for i := range c.wrong {
					slot, err := in.pick(i).Begin(ctx, key)
					if err != nil {
						t.Fatal(err)
					}
					wrong = append(wrong, slot)
				}
				right := make(chan error, 1)
				go func() {
					l := in.pick(c.wrong)
					slot, err := l.Begin(ctx, key)
					if err == nil {
						_, err = l.Settle(ctx, slot, Succeeded)
					}
					right <- err
				}()
				if c.wantChecked { // it needs no wrong answer to settle first
					if err := <-right; err != nil {
						t.Fatalf("the right answer after %d wrong in flight: %v", c.wrong, err)
					}
				} else { // it waits for them
					waitForWaiter(t, in.pick(c.wrong), key, right)
				}
				for i, slot := range wrong {
					if _, err := in.pick(i).Settle(ctx, slot, Failed); err != nil {
						t.Fatal(err)
					}
				}
				if !c.wantChecked {
					if r, ok := errors.AsType[*Refused](<-right); !ok || !r.Locked {
						t.Fatalf("the right answer after %d wrong in flight: %v, want refused by the lock", c.wrong, r)
					}
				}
			})
		})
	}
}

// A check that finds every slot taken for the whole wait is refused, as
// busy (not locked), and one whose caller leaves stops waiting.
func TestLockoutWaiterGivesUp(t *testing.T) {
	t.Parallel()
	lockoutCases(t, LockoutPolicy{Wait: 10 * time.Millisecond}, func(t *testing.T, in instances, key string) {
		ctx := context.Background()
		var held []Slot
		for i := range 6 {
			slot, err := in.pick(i).Begin(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, slot)
		}
		_, err := in.pick(6).Begin(ctx, key)
		if r, ok := errors.AsType[*Refused](err); !ok || r.Locked || r.RetryAfter <= 0 {
			t.Fatalf("with every slot held for the whole wait: %v, want refused as busy", err)
		}
		gone, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := in.pick(7).Begin(gone, key); !errors.Is(err, context.Canceled) {
			t.Fatalf("a caller that left: %v", err)
		}
		for i, slot := range held {
			if _, err := in.pick(i).Settle(ctx, slot, Succeeded); err != nil {
				t.Fatal(err)
			}
		}
		if checked, _, _ := attempt(t, in.pick(0), key, Failed); !checked {
			t.Fatal("no slot after the checks in flight settled")
		}
	})
}

func TestRedisLockoutIsSharedAcrossInstances(t *testing.T) {
	c := testsupport.Redis(t)
	a := NewRedisLockout(c, "test", LockoutPolicy{}, NewMemoryLockout(LockoutPolicy{}, nil), quiet)
	b := NewRedisLockout(c, "test", LockoutPolicy{}, NewMemoryLockout(LockoutPolicy{}, nil), quiet)
	key := "test:" + rand.Text()
	for i := range 6 {
		lim := a
		if i%2 == 1 {
			lim = b
		}
		if checked, _, _ := attempt(t, lim, key, Failed); !checked {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	for name, l := range map[string]*RedisLockout{"a": a, "b": b} {
		if checked, retry, _ := attempt(t, l, key, Failed); checked || retry <= 0 || retry > time.Second {
			t.Fatalf("instance %s: checked %v, retry %s after 6 failures spread over two instances", name, checked, retry)
		}
	}
}

func TestRedisLockoutProgression(t *testing.T) {
	c := testsupport.Redis(t)
	// Millisecond locks keep the real clock's waits short.
	p := LockoutPolicy{BaseLock: 20 * time.Millisecond, MaxLock: time.Second}
	l := NewRedisLockout(c, "test", p, NewMemoryLockout(p, nil), quiet)
	key := "test:" + rand.Text()
	var locks []time.Duration
	for len(locks) < 8 {
		checked, retry, lock := attempt(t, l, key, Failed)
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
	// A success on another instance ends the streak everywhere.
	time.Sleep(80 * time.Millisecond)
	other := NewRedisLockout(c, "test", p, NewMemoryLockout(p, nil), quiet)
	attempt(t, other, key, Succeeded)
	if checked, _, lock := attempt(t, l, key, Failed); !checked || lock != 0 {
		t.Fatalf("after a success on another instance: checked %v, lock %s", checked, lock)
	}
}

// The slots of an instance that died mid-check come back when their lease
// ends; until then the other instances' checks wait.
func TestRedisLockoutSlotsOfADeadInstanceExpire(t *testing.T) {
	c := testsupport.Redis(t)
	p := LockoutPolicy{Wait: waitLong}
	dead := NewRedisLockout(c, "test", p, NewMemoryLockout(p, nil), quiet)
	dead.lease = 200 * time.Millisecond
	alive := NewRedisLockout(c, "test", p, NewMemoryLockout(p, nil), quiet)
	key := "test:" + rand.Text()
	for range 6 { // taken, never settled
		if _, err := dead.Begin(context.Background(), key); err != nil {
			t.Fatal(err)
		}
	}
	if checked, _, _ := attempt(t, alive, key, Succeeded); !checked {
		t.Fatal("the dead instance's slots never came back")
	}
	// The settled check left no reservation, and the dead instance's have
	// all ended (some may still be listed: a take purges the ended ones, and
	// the alive check may have come in once the first lease ended). Wait out
	// the last lease, then count the reservations still in force.
	time.Sleep(dead.lease)
	now, err := c.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	live, err := c.ZCount(context.Background(), alive.lockKeys(key)[3], strconv.FormatInt(now.UnixMilli(), 10), "+inf").Result()
	if err != nil || live != 0 {
		t.Fatalf("reservations in force: %d (%v), want none", live, err)
	}
}

// waitForWaiter returns once a check of key waits for a slot of l; it fails
// if the check answered instead.
func waitForWaiter(t *testing.T, l Lockout, key string, answered <-chan error) {
	t.Helper()
	var w *wakeups
	switch l := l.(type) {
	case *MemoryLockout:
		w = &l.settled
	case *RedisLockout:
		w = &l.settled
	}
	for {
		select {
		case err := <-answered:
			t.Fatalf("answered without waiting: %v", err)
		default:
		}
		w.mu.Lock()
		u := w.m[key]
		waiting := u != nil && u.waiting > 0
		w.mu.Unlock()
		if waiting {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// A Redis slot whose settle falls back to memory (Redis failed in between)
// has its outcome counted there, but frees none of the slots the fallback
// itself holds for checks in flight.
func TestRedisSettleFallingBackFreesNoSlotOfTheFallback(t *testing.T) {
	c := testsupport.Redis(t)
	p := LockoutPolicy{Wait: 10 * time.Millisecond}
	fallback := NewMemoryLockout(p, nil)
	l := NewRedisLockout(c, "test", p, fallback, quiet)
	key, ctx := "test:"+rand.Text(), context.Background()
	slot, err := l.Begin(ctx, key)
	if err != nil || slot.id == "" {
		t.Fatalf("Begin = %+v, %v; want a slot in Redis", slot, err)
	}
	for range 6 { // every slot of the fallback, held by checks in flight
		if _, err := fallback.Begin(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()                                                // Redis fails before the settle
	if _, err := l.Settle(ctx, slot, Released); err != nil { // counts nothing: the slots stay 6
		t.Fatal(err)
	}
	if _, err := fallback.Begin(ctx, key); err == nil {
		t.Fatal("the fallen-back settle freed a slot of the fallback's own checks in flight")
	}
}
