package store_test

import (
	"context"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// A job whose query fails while its rows are read (not when the query is
// sent) has done no write the execer noted, and no failed statement either:
// execer.note sees only the error of query() itself, not rows.Err(). On
// PostgreSQL the failed statement has aborted the transaction, so when that
// job is the batch's last, the COMMIT rolls back and the innocent job before
// it, already counted as succeeded, is answered with the commit's error and
// its write is lost. revokeSessions (a reuse revocation inside Rotate) reads
// its ids this way before writing anything.
func TestBatchRowsErrorInLastJobFailsInnocentJob(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	s.SetBatch(16, nil, nil)
	failing := `SELECT 1 / (x - 2) FROM generate_series(1, 3) AS g(x)` // division by zero on the second row
	if !s.IsPostgresStore() {
		// SQLite: integer overflow on the second row; SQLite keeps the
		// transaction, so this documents that the path holds there.
		failing = `SELECT CASE WHEN x = 2 THEN abs(-9223372036854775807 - 1) ELSE x END FROM (SELECT 1 AS x UNION ALL SELECT 2 UNION ALL SELECT 3)`
	}
	probe := s.Batch(context.Background(), "k", func(b store.BatchTx) error { return b.Rows(failing) })
	if probe == nil {
		t.Fatal("the failing query did not fail")
	}
	errs := oneBatch(t, s,
		func(b store.BatchTx) error { return b.Exec(insertKey, "innocent") },
		func(b store.BatchTx) error { return b.Rows(failing) },
	)
	if errs[1] == nil {
		t.Fatal("the failing job succeeded")
	}
	if errs[0] != nil {
		t.Errorf("the innocent job before the failing one was answered %v", errs[0])
	}
	if got := keyCount(t, s, "innocent"); got != 1 {
		t.Errorf("%d rows of the innocent job's write, want 1", got)
	}
}

// The same failing job in the middle of a batch: the job after it trips
// over the aborted transaction, which makes the batch run again with
// savepoints; everyone innocent commits.
func TestBatchRowsErrorInMiddleJob(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	s.SetBatch(16, nil, nil)
	failing := `SELECT 1 / (x - 2) FROM generate_series(1, 3) AS g(x)`
	if !s.IsPostgresStore() {
		failing = `SELECT CASE WHEN x = 2 THEN abs(-9223372036854775807 - 1) ELSE x END FROM (SELECT 1 AS x UNION ALL SELECT 2 UNION ALL SELECT 3)`
	}
	errs := oneBatch(t, s,
		func(b store.BatchTx) error { return b.Exec(insertKey, "first") },
		func(b store.BatchTx) error { return b.Rows(failing) },
		func(b store.BatchTx) error { return b.Exec(insertKey, "third") },
	)
	if errs[0] != nil || errs[1] == nil || errs[2] != nil {
		t.Fatalf("answers %v; want nil, error, nil", errs)
	}
	for _, id := range []string{"first", "third"} {
		if got := keyCount(t, s, id); got != 1 {
			t.Errorf("%d rows of %q, want 1", got, id)
		}
	}
}

// A job that fails with a plain refusal after only SELECTs leaves nothing,
// but a job that returns nil after a statement failed (a tolerated error)
// must not take the batch down with it either.
func TestBatchToleratedFailureDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	s.SetBatch(16, nil, nil)
	if err := s.Batch(context.Background(), "k", func(b store.BatchTx) error { return b.Exec(insertKey, "taken") }); err != nil {
		t.Fatal(err)
	}
	errs := oneBatch(t, s,
		func(b store.BatchTx) error { return b.Exec(insertKey, "first") },
		func(b store.BatchTx) error {
			_ = b.Exec(insertKey, "taken") // a duplicate, tolerated
			return nil
		},
	)
	if errs[0] != nil {
		t.Errorf("the innocent job beside a tolerated failure was answered %v", errs[0])
	}
	if got := keyCount(t, s, "first"); got != 1 {
		t.Errorf("%d rows of the innocent job, want 1", got)
	}
}
