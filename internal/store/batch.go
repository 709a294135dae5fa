package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Group commit. Short write transactions (refresh-token rotations) are not
// each given their own transaction: they queue for a writer goroutine that
// runs every job waiting, up to batchMax, in one transaction, and commits
// once. A job whose statement or decision fails fails alone; the others
// commit (see commit: savepoints only when a failure leaves something to
// undo). No caller is answered before the COMMIT that holds its writes has
// returned, so an acknowledged rotation is as durable as a transaction of
// its own (one fsync, or one WAL append under synchronous=NORMAL, for the
// whole batch).
//
// The change feed's entries of the batch's jobs are numbered and written just
// before that commit, as inTx does for one transaction; a rolled-back job's
// entries are dropped with it.
//
// SQLite has one writer connection, so it gets one lane. PostgreSQL serves
// concurrent writers, so it gets several lanes, each its own transaction on
// its own connection; a job's key (a rotation's session: rotationLane) picks
// its lane, so the rotations of one session are ordered inside one lane and
// never wait for each other's row locks across lanes. A deadlock with a
// transaction outside the batcher fails only the statement: the job is run
// again (isRetryable).
//
// The queue is bounded: when a lane is full the caller is told at once to
// come back (unavailable, with Retry-After), instead of queueing without
// limit behind a stalled disk.

const (
	batchMax   = 128  // jobs per transaction
	batchQueue = 1024 // waiting jobs per lane
)

// errBatchFull is the answer when a lane's queue is full.
var errBatchFull = &auth.Error{Code: auth.CodeUnavailable, Message: "The server is busy; try again shortly.", RetryAfter: time.Second}

var errBatchClosed = auth.Errorf(auth.CodeUnavailable, "The server is shutting down; try again shortly.")

const (
	jobQueued int32 = iota
	jobRunning
	jobAbandoned
)

type job struct {
	key   string // its lane key: a rotation's session
	f     func(ctx context.Context, e execer) error
	ctx   context.Context // the caller's, without its cancellation
	state atomic.Int32
	done  chan error // buffered: the writer never waits for the caller
}

type batcher struct {
	s     *Store
	lanes []chan *job
	stop  chan struct{}
	wg    sync.WaitGroup
	// afterCommit, when set (tests), runs after each batch's COMMIT returned
	// and before any of its callers is answered.
	afterCommit func(jobs int)
	// beforeCommit, when set (tests), runs with the batch's jobs run and its
	// transaction still open.
	beforeCommit func(jobs int)
	// redone counts the batches run again with savepoints (tests).
	redone atomic.Int64
}

func newBatcher(s *Store, lanes, queue int) *batcher {
	b := &batcher{s: s, stop: make(chan struct{})}
	for range lanes {
		lane := make(chan *job, queue)
		b.lanes = append(b.lanes, lane)
		b.wg.Add(1)
		go b.run(lane)
	}
	return b
}

// do runs f as one job of a group-committed transaction and returns its
// error, or the commit's, once the transaction has committed or rolled back.
// A caller whose ctx ends while its job still waits gets ctx's error and the
// job never runs; once the job runs, the caller waits for its commit (a
// short, bounded wait) and gets the true answer. f must use the context it
// is given: cancelling a statement could abort the whole batch.
func (b *batcher) do(ctx context.Context, key string, f func(ctx context.Context, e execer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &job{key: key, f: f, ctx: context.WithoutCancel(ctx), done: make(chan error, 1)}
	lane := b.lanes[0]
	if len(b.lanes) > 1 {
		h := fnv.New32a()
		h.Write([]byte(key))
		lane = b.lanes[h.Sum32()%uint32(len(b.lanes))]
	}
	select {
	case <-b.stop:
		return errBatchClosed
	default:
	}
	select {
	case lane <- j:
	default:
		return errBatchFull
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return ctx.Err()
		}
		return <-j.done
	}
}

// close stops the writers after the batches under way; jobs still queued
// are answered unavailable.
func (b *batcher) close() {
	select {
	case <-b.stop:
		return
	default:
	}
	close(b.stop)
	b.wg.Wait()
	for _, lane := range b.lanes {
		for {
			select {
			case j := <-lane:
				j.done <- errBatchClosed
				continue
			default:
			}
			break
		}
	}
}

func (b *batcher) run(lane chan *job) {
	defer b.wg.Done()
	jobs := make([]*job, 0, batchMax)
	for {
		select {
		case <-b.stop:
			return
		case j := <-lane:
			jobs = append(jobs[:0], j)
		}
	more:
		for len(jobs) < batchMax {
			select {
			case j := <-lane:
				jobs = append(jobs, j)
			default:
				break more
			}
		}
		b.commit(jobs)
		clear(jobs)
	}
}

// commit runs jobs in one transaction and answers each.
//
// It first runs them without savepoints: most jobs succeed, and a job
// refused on what it read (an unknown or spent token: isRefusal) leaves
// nothing to undo. Any other failure (a job failing after it wrote, with a
// database error, or any statement failing, which on PostgreSQL aborts the
// whole transaction) rolls the batch back to be run again, carefully, each
// job inside its own SAVEPOINT, so that the failing job fails alone. A
// rotation is then three statements, not five.
func (b *batcher) commit(jobs []*job) {
	run := make([]*job, 0, len(jobs))
	for _, j := range jobs {
		if j.state.CompareAndSwap(jobQueued, jobRunning) { // else its caller has gone
			run = append(run, j)
		}
	}
	if len(run) == 0 {
		return
	}
	// In key order (a stable sort keeps one session's jobs in arrival
	// order): every lane, and revokeSessions, then lock session rows in
	// ascending id order, so on PostgreSQL two of them never wait for each
	// other in a cycle.
	slices.SortStableFunc(run, func(a, b *job) int { return strings.Compare(a.key, b.key) })
	answers, redo := b.attempt(run, false)
	if redo {
		b.redone.Add(1)
		answers, _ = b.attempt(run, true)
	}
	for i, j := range run {
		j.done <- answers[i]
	}
}

// attempt runs jobs in one transaction and commits it, returning each job's
// answer. Not careful, it gives up (redo) at the first job that fails with
// something to undo, having rolled everything back.
func (b *batcher) attempt(jobs []*job, careful bool) (answers []error, redo bool) {
	answers = make([]error, len(jobs))
	ctx := context.Background()
	w := b.s.write
	// fail answers every job not refused on its own: the transaction itself
	// failed, so nothing of it commits.
	fail := func(tx *sql.Tx, err error) ([]error, bool) {
		if tx != nil {
			_ = tx.Rollback()
		}
		for i := range answers {
			if answers[i] == nil {
				answers[i] = err
			}
		}
		return answers, false
	}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(nil, w.counted(err))
	}
	savepoint := func(q string) error {
		if !careful {
			return nil
		}
		_, err := tx.ExecContext(ctx, q)
		return w.counted(err)
	}
	var changes, own []change
	var missed []string
	succeeded := 0
	for i, j := range jobs {
		if err := savepoint("SAVEPOINT job"); err != nil {
			return fail(tx, err)
		}
		own = own[:0]
		var did jobEffects
		e := execer{c: w, tx: tx, changes: &own, missed: &missed, effects: &did}
		err := runJob(j, e)
		if !careful && (did.failed || err != nil && !isRefusal(err, did)) {
			_ = tx.Rollback()
			return nil, true
		}
		if careful && err == nil && did.failed {
			// On PostgreSQL a failed statement aborts the transaction until
			// its savepoint is rolled back: a job cannot shrug it off.
			err = errStatementFailed
		}
		// A deadlock (PostgreSQL picks a victim when a batch and another
		// transaction lock rows in opposite orders) fails the statement,
		// not the work: the other side has gone on, so run the job again.
		for try := 1; careful && err != nil && isRetryable(err) && try < 3; try++ {
			if err := savepoint("ROLLBACK TO SAVEPOINT job"); err != nil {
				return fail(tx, err)
			}
			own, did = own[:0], jobEffects{}
			err = runJob(j, e)
		}
		if err != nil {
			if rerr := savepoint("ROLLBACK TO SAVEPOINT job"); rerr != nil {
				return fail(tx, rerr)
			}
			answers[i] = err
		} else {
			succeeded++
			changes = append(changes, own...)
		}
		if err := savepoint("RELEASE SAVEPOINT job"); err != nil {
			return fail(tx, err)
		}
	}
	if succeeded == 0 {
		_ = tx.Rollback()
		return answers, false
	}
	e := execer{c: w, tx: tx, changes: &changes, missed: &missed}
	if err := b.s.writeChanges(ctx, e, changes); err != nil {
		return fail(tx, err)
	}
	if b.beforeCommit != nil {
		b.beforeCommit(len(jobs))
	}
	if err := tx.Commit(); err != nil {
		return fail(nil, w.counted(err))
	}
	if b.afterCommit != nil {
		b.afterCommit(len(jobs))
	}
	w.prepare(ctx, missed)
	return answers, false
}

// isRefusal says whether a job's err is an answer decided on what it read
// (a not-found token, an invalid grant: an *auth.Error itself, not one
// joined to a database failure) with nothing written: the transaction is
// as the job found it, so the job can fail alone without a savepoint.
func isRefusal(err error, did jobEffects) bool {
	_, answer := err.(*auth.Error)
	return answer && !did.wrote && !did.failed
}

var errStatementFailed = errors.New("store: a statement of a batched job failed")

// runJob runs a job's function, turning a panic into its own failure so the
// writer and the other jobs of the batch carry on.
func runJob(j *job, e execer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: panic in a batched write: %v", p)
		}
	}()
	return j.f(j.ctx, e)
}

// inBatch runs f as a group-committed job when the store has a batcher, and
// in a transaction of its own otherwise.
func (s *Store) inBatch(ctx context.Context, key string, f func(ctx context.Context, e execer) error) error {
	if s.batch == nil {
		return s.inTx(ctx, func(e execer) error { return f(ctx, e) })
	}
	return s.batch.do(ctx, key, f)
}
