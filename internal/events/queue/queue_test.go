package queue_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/events/queue"
)

func TestRetryBacksOffThenGivesUp(t *testing.T) {
	t.Parallel()
	r := queue.Retry{First: 30 * time.Second, Max: time.Hour, MaxAttempts: 10, MaxAge: 72 * time.Hour}
	for attempt, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 8: time.Hour, 9: time.Hour} {
		if got := r.Backoff(attempt); got != want {
			t.Errorf("backoff after attempt %d: %s, want %s", attempt, got, want)
		}
	}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if at := r.Next(1, created, created); !at.Equal(created.Add(30 * time.Second)) {
		t.Errorf("first retry at %s", at)
	}
	if at := r.Next(10, created, created); !at.IsZero() {
		t.Errorf("retried after MaxAttempts: %s", at)
	}
	if at := r.Next(3, created.Add(72*time.Hour-time.Minute), created); !at.IsZero() {
		t.Errorf("retried past MaxAge: %s", at)
	}
}

// A worker hands each claimed row to Handle in the claimed order, under
// its own lease owner name, and stops claiming when a batch comes back short.
func TestWorkerHandlesWhatItClaims(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	left := []int{1, 2, 3, 4, 5}
	var handled []int
	var owners []string
	w := queue.New(queue.Config[int]{
		Name: "test", Owner: "me", Batch: 2,
		Claim: func(_ context.Context, owner string, _ time.Time, _ time.Duration, limit int) ([]int, error) {
			mu.Lock()
			defer mu.Unlock()
			owners = append(owners, owner)
			n := min(limit, len(left))
			batch := left[:n]
			left = left[n:]
			return batch, nil
		},
		Handle: func(_ context.Context, i int) { handled = append(handled, i) },
	})
	for {
		n, err := w.Deliver(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n < 2 {
			break
		}
	}
	if len(handled) != 5 || handled[0] != 1 || handled[4] != 5 || owners[0] != "me" || w.Owner() != "me" {
		t.Fatalf("handled %v under %v", handled, owners)
	}
}

// With Concurrency above 1 the rows of a batch are handled at once: a row
// whose handling hangs does not hold up the others of its batch.
func TestSlowRowDoesNotHoldUpItsBatch(t *testing.T) {
	t.Parallel()
	others := make(chan struct{}, 3)
	var handled sync.WaitGroup
	handled.Add(3)
	w := queue.New(queue.Config[int]{
		Concurrency: 4, Batch: 4,
		Claim: func(context.Context, string, time.Time, time.Duration, int) ([]int, error) {
			return []int{0, 1, 2, 3}, nil
		},
		Handle: func(_ context.Context, item int) {
			if item != 0 {
				others <- struct{}{}
				handled.Done()
				return
			}
			// The slow row ends only once the three after it were handled:
			// handled one after another, this would never happen.
			done := make(chan struct{})
			go func() { handled.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("the rows after a slow one waited for it")
			}
		},
	})
	if n, err := w.Deliver(t.Context()); n != 4 || err != nil {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	if len(others) != 3 {
		t.Fatalf("%d of the other rows handled", len(others))
	}
}

// Run keeps Concurrency handlers busy and claims more rows as slots free:
// a row whose handling hangs holds one slot, not the queue. Row 0 ends only
// once every later row was handled; waiting for the whole batch before
// claiming again, this would never happen.
func TestHangingRowDoesNotStopLaterRowsBeingClaimed(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	left := []int{0, 1, 2, 3, 4, 5, 6}
	later := make(chan int, len(left))
	ctx, cancel := context.WithCancel(t.Context())
	w := queue.New(queue.Config[int]{
		Concurrency: 2, Batch: 2, Poll: time.Hour,
		Claim: func(_ context.Context, _ string, _ time.Time, _ time.Duration, limit int) ([]int, error) {
			mu.Lock()
			defer mu.Unlock()
			n := min(limit, len(left))
			batch := left[:n]
			left = left[n:]
			return batch, nil
		},
		Handle: func(hctx context.Context, item int) {
			if item != 0 {
				later <- item
				return
			}
			<-hctx.Done() // hangs until shutdown
		},
	})
	stopped := make(chan struct{})
	go func() { w.Run(ctx); close(stopped) }()
	guard := time.After(30 * time.Second) // a hang guard, not a timing assertion
	for range 6 {
		select {
		case <-later:
		case <-guard:
			t.Fatal("the rows after a hanging one were not all handled")
		}
	}
	cancel()
	<-stopped
}

// On shutdown Run claims nothing more and returns only once the handlers
// in flight have ended, so they can record their outcomes.
func TestRunReturnsOnlyAfterHandlersInFlightEnd(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	var recorded, claimedAfterCancel atomic.Bool
	ctx, cancel := context.WithCancel(t.Context())
	w := queue.New(queue.Config[int]{
		Concurrency: 3, Batch: 3, Poll: time.Hour,
		Claim: func(context.Context, string, time.Time, time.Duration, int) ([]int, error) {
			if ctx.Err() != nil {
				claimedAfterCancel.Store(true)
			}
			return []int{1}, nil
		},
		Handle: func(hctx context.Context, item int) {
			select {
			case started <- struct{}{}:
			default:
			}
			<-hctx.Done()
			for range 100 { // the outcome takes a while to record
				runtime.Gosched()
			}
			recorded.Store(true)
		},
	})
	stopped := make(chan struct{})
	go func() { w.Run(ctx); close(stopped) }()
	<-started
	cancel()
	<-stopped
	if !recorded.Load() {
		t.Fatal("Run returned before a handler in flight had recorded its outcome")
	}
	if claimedAfterCancel.Load() {
		t.Fatal("Run claimed rows after shutdown began")
	}
}
