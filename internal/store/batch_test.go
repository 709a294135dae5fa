package store_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

const insertKey = `INSERT INTO signing_keys (id, algorithm, private_key, created_at) VALUES (?, 'test', 'test', 0)`

func keyCount(t *testing.T, s *store.Store, id string) int {
	t.Helper()
	n, err := s.Count(context.Background(), `SELECT count(*) FROM signing_keys WHERE id = ?`, id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// holdWriter runs a job that keeps the writer busy until release is closed,
// so the jobs queued meanwhile make up the next batch together.
func holdWriter(t *testing.T, s *store.Store) (release func(), done <-chan error) {
	t.Helper()
	started, hold, out := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		out <- s.Batch(context.Background(), "k", func(b store.BatchTx) error { close(started); <-hold; return nil })
	}()
	<-started
	return func() { close(hold) }, out
}

// oneBatch runs jobs as one batch, queued in this order, and returns their
// answers.
func oneBatch(t *testing.T, s *store.Store, jobs ...func(b store.BatchTx) error) []error {
	t.Helper()
	release, held := holdWriter(t, s)
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, f := range jobs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.Batch(context.Background(), "k", f) }()
		waitQueued(s, i+1)
	}
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	return errs
}

// waitQueued waits until n jobs wait in the writer's queue.
func waitQueued(s *store.Store, n int) {
	for s.BatchQueued() < n {
		time.Sleep(time.Millisecond)
	}
}

// One batch: a job whose statement fails (a duplicate key, which on
// PostgreSQL aborts the transaction until its savepoint is rolled back) and
// whose earlier insert and change-feed entry must vanish with it, between two
// jobs that succeed and commit, the last with a feed entry of its own.
func TestBatchFailingStatementFailsOnlyItsCaller(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	var sizes []int
	s.SetBatch(16, nil, func(n int) { sizes = append(sizes, n) })
	ctx := context.Background()
	if err := s.Batch(ctx, "k", func(b store.BatchTx) error { return b.Exec(insertKey, "taken") }); err != nil {
		t.Fatal(err)
	}
	_, cursor := readAll(t, s, 0, 100)
	release, held := holdWriter(t, s)

	errs := make([]error, 3)
	var wg sync.WaitGroup
	jobs := []func(b store.BatchTx) error{
		func(b store.BatchTx) error { return b.Exec(insertKey, "first") },
		func(b store.BatchTx) error {
			if err := b.Exec(insertKey, "doomed"); err != nil {
				return err
			}
			b.LogSessionEnded("doomed-session", now.Add(time.Hour))
			return b.Exec(insertKey, "taken")
		},
		func(b store.BatchTx) error {
			b.LogSessionEnded("third-session", now.Add(time.Hour))
			return b.Exec(insertKey, "third")
		},
	}
	for i, f := range jobs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.Batch(ctx, "k", f) }()
		waitQueued(s, i+1) // in this order
	}
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("the jobs beside the failing one failed: %v, %v", errs[0], errs[2])
	}
	if errs[1] == nil {
		t.Fatal("the job with a duplicate key succeeded")
	}
	if sizes[len(sizes)-1] != 3 {
		t.Fatalf("batch sizes %v: the three jobs were not committed together", sizes)
	}
	for id, want := range map[string]int{"first": 1, "doomed": 0, "third": 1, "taken": 1} {
		if got := keyCount(t, s, id); got != want {
			t.Errorf("%d rows of %q after the batch, want %d", got, id, want)
		}
	}
	got, _ := readAll(t, s, cursor, 100)
	if len(got) != 1 || got[0] != "third-session" {
		t.Fatalf("change feed after the batch: %v; want only the committed job's entry", got)
	}
}

// The batch runs without savepoints: a job refused on what it read (an
// *auth.Error, before any write) fails alone without the batch being run
// again; a job refused after it wrote, or failing with anything but such an
// answer, makes the batch run again with a savepoint per job, which undoes
// its writes alone. The jobs beside it commit either way.
func TestBatchRefusedJobs(t *testing.T) {
	t.Parallel()
	refused := auth.Errorf(auth.CodeInvalidGrant, "refused")
	for _, tc := range []struct {
		name       string
		job        func(b store.BatchTx) error
		wantRedone int64
	}{
		{"before writing", func(b store.BatchTx) error {
			if err := b.Select(`SELECT count(*) FROM signing_keys`); err != nil {
				return err
			}
			return refused
		}, 0},
		{"after writing", func(b store.BatchTx) error {
			if err := b.Exec(insertKey, "doomed"); err != nil {
				return err
			}
			return refused
		}, 1},
		{"with a database error joined to an answer", func(b store.BatchTx) error {
			return errors.Join(refused, errors.New("connection reset"))
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			var sizes []int
			s.SetBatch(16, nil, func(n int) { sizes = append(sizes, n) })
			errs := oneBatch(t, s,
				func(b store.BatchTx) error { return b.Exec(insertKey, "first") },
				tc.job,
				func(b store.BatchTx) error { return b.Exec(insertKey, "third") },
			)
			if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], refused) {
				t.Fatalf("answers %v; want nil, refused, nil", errs)
			}
			if sizes[len(sizes)-1] != 3 {
				t.Fatalf("batch sizes %v: the three jobs were not committed together", sizes)
			}
			if got := s.BatchRedone(); got != tc.wantRedone {
				t.Errorf("batches run again: %d, want %d", got, tc.wantRedone)
			}
			for id, want := range map[string]int{"first": 1, "doomed": 0, "third": 1} {
				if got := keyCount(t, s, id); got != want {
					t.Errorf("%d rows of %q after the batch, want %d", got, id, want)
				}
			}
		})
	}
}

// No caller hears of its job before the batch's COMMIT has returned: just
// before it none has returned and the rows are invisible to other
// connections; just after it they are visible, and every caller returns
// after that.
func TestBatchAnswersOnlyAfterCommit(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	const n = 8
	var returned, committed atomic.Int32
	var beforeSeen, afterSeen []int
	var early atomic.Int32
	s.SetBatch(16, func(jobs int) {
		if returned.Load() != 0 {
			early.Add(1)
		}
		c, _ := s.Count(ctx, `SELECT count(*) FROM signing_keys`)
		beforeSeen = append(beforeSeen, c)
	}, func(jobs int) {
		c, _ := s.Count(ctx, `SELECT count(*) FROM signing_keys`)
		afterSeen = append(afterSeen, c)
		committed.Add(int32(jobs))
	})
	release, held := holdWriter(t, s)
	var wg sync.WaitGroup
	var before atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Batch(ctx, "k", func(b store.BatchTx) error { return b.Exec(insertKey, string(rune('a'+i))) })
			if err != nil {
				t.Error(err)
			}
			if committed.Load() < int32(n) {
				before.Add(1)
			}
			returned.Add(1)
		}()
	}
	waitQueued(s, n)
	release()
	<-held
	wg.Wait()
	if early.Load() != 0 || before.Load() != 0 {
		t.Fatalf("%d callers returned before their commit", early.Load()+before.Load())
	}
	last := len(afterSeen) - 1
	if beforeSeen[last] != 0 || afterSeen[last] != n {
		t.Fatalf("rows seen from another connection: %d before the COMMIT, %d after; want 0 and %d", beforeSeen[last], afterSeen[last], n)
	}
}

// A full queue answers at once: unavailable, 503 with Retry-After.
func TestBatchFullQueueAnswersUnavailable(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	s.SetBatch(2, nil, nil)
	release, held := holdWriter(t, s)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Batch(ctx, "k", func(b store.BatchTx) error { return b.Exec(insertKey, string(rune('a'+i))) }); err != nil {
				t.Error(err)
			}
		}()
	}
	waitQueued(s, 2)
	ran := false
	err := s.Batch(ctx, "k", func(b store.BatchTx) error { ran = true; return nil })
	release()
	<-held
	wg.Wait()
	if auth.ErrorCode(err) != auth.CodeUnavailable || auth.RetryAfter(err) <= 0 {
		t.Fatalf("full queue answered %v (retry after %s); want unavailable with a wait", err, auth.RetryAfter(err))
	}
	if ran {
		t.Fatal("the refused job ran")
	}
	rec := httptest.NewRecorder()
	httpjson.Error(rec, httptest.NewRequest("POST", "/token/refresh", nil), slog.New(slog.DiscardHandler), err)
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("full queue over HTTP: %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if keyCount(t, s, "a")+keyCount(t, s, "b") != 2 {
		t.Fatal("the queued jobs did not commit")
	}
}

// A caller that gives up while its job waits gets its context's error and
// the job never runs; one that gives up once its job runs still gets the
// commit's answer.
func TestBatchCancelledCaller(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	s.SetBatch(16, nil, nil)
	release, held := holdWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Bool
	errc := make(chan error, 1)
	go func() {
		errc <- s.Batch(ctx, "k", func(b store.BatchTx) error { ran.Store(true); return b.Exec(insertKey, "gone") })
	}()
	waitQueued(s, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled waiting caller got %v, want context.Canceled", err)
	}
	release()
	<-held
	// A later job still goes through the same writer.
	if err := s.Batch(context.Background(), "k", func(b store.BatchTx) error { return b.Exec(insertKey, "later") }); err != nil {
		t.Fatal(err)
	}
	if ran.Load() || keyCount(t, s, "gone") != 0 {
		t.Fatal("the abandoned job ran")
	}

	// Cancelled while running: the statement runs without the caller's
	// cancellation (which could abort the whole batch) and the caller waits
	// for the commit.
	ctx, cancel = context.WithCancel(context.Background())
	started, hold := make(chan struct{}), make(chan struct{})
	go func() {
		errc <- s.Batch(ctx, "k", func(b store.BatchTx) error {
			close(started)
			<-hold
			return b.Exec(insertKey, "running")
		})
	}()
	<-started
	cancel()
	close(hold)
	if err := <-errc; err != nil {
		t.Fatalf("a caller cancelled while its job ran got %v, want the commit's answer (nil)", err)
	}
	if keyCount(t, s, "running") != 1 {
		t.Fatal("the running job's row was not committed")
	}
}

// A panicking job fails alone; the writer carries on.
func TestBatchPanickingJobFailsAlone(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	if err := s.Batch(ctx, "k", func(b store.BatchTx) error { b.Exec(insertKey, "half"); panic("boom") }); err == nil {
		t.Fatal("a panicking job succeeded")
	}
	if err := s.Batch(ctx, "k", func(b store.BatchTx) error { return b.Exec(insertKey, "after") }); err != nil {
		t.Fatal(err)
	}
	if keyCount(t, s, "half") != 0 || keyCount(t, s, "after") != 1 {
		t.Fatal("the panicking job's write was kept, or the next job's lost")
	}
}
