// Package store is Gatehouse's persistence: one Store over database/sql whose
// portable SQL runs on SQLite (modernc.org/sqlite, pure Go) and, through a
// small dialect seam, PostgreSQL. Migrations are embedded and run with goose.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements auth.Store, books.Store and token.Store.
type Store struct {
	write   *conn // every write and read-then-write transaction
	read    *conn // plain reads
	dialect goose.Dialect
	// forUpdate ends a SELECT whose rows a transaction goes on to change:
	// PostgreSQL needs the row lock; SQLite's BEGIN IMMEDIATE already holds
	// the database's only write lock.
	forUpdate string
	// tightened lists the SQLite files whose permissions Open narrowed.
	tightened []string
	// lockChanges serialises the writers of the change feed until they
	// commit (see writeChanges); SQLite's single writer needs nothing.
	lockChanges string
	// batch group-commits short writes (Rotate); see batch.go.
	batch *batcher
	// mailKey seals mail bodies in the outbox (SealMailWith).
	mailKey outbox.Sealer
	// eventsQueued is called after a transaction that queued webhook
	// events commits (OnEventsQueued).
	eventsQueued func()
}

// Errors is how many statements and transactions have failed, for metrics.
func (s *Store) Errors() int64 {
	if s.read == s.write {
		return s.write.errs.Load()
	}
	return s.write.errs.Load() + s.read.errs.Load()
}

// conn is a database handle with a cache of prepared statements.
type conn struct {
	db     *sql.DB
	stmts  sync.Map // query → *sql.Stmt
	rebind func(string) string
	errs   atomic.Int64 // failed statements; a unique violation is an answer, not a failure
}

// counted records err as a database failure unless it is an expected
// answer, and turns a failure to reach the database into unavailable (503,
// "try again"), keeping the cause for the log.
func (c *conn) counted(err error) error {
	if err == nil || errors.Is(err, sql.ErrNoRows) || isUniqueViolation(err) || errors.Is(err, context.Canceled) {
		return err
	}
	c.errs.Add(1)
	if isUnreachable(err) {
		return errors.Join(errUnavailable, err)
	}
	return err
}

var errUnavailable = auth.Errorf(auth.CodeUnavailable, "The database is not answering; try again shortly.")

// isUnreachable recognises a database that cannot be reached or is
// overloaded, as opposed to a query that is wrong: both drivers' errors are
// told apart by behaviour, without depending on their types.
func isUnreachable(err error) bool {
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	var pgErr interface{ SQLState() string }
	var sqliteErr interface{ Code() int }
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &netErr), errors.As(err, &connectErr),
		pgconn.SafeToRetry(err): // pgx: nothing was sent, e.g. "conn closed" on a pooled connection the outage broke
		return true
	case errors.As(err, &pgErr):
		state := pgErr.SQLState() // 08: connection exception; 57P: shutting down; 57014: statement timeout; 53300: too many connections
		return strings.HasPrefix(state, "08") || strings.HasPrefix(state, "57P") || state == "57014" || state == "53300"
	case errors.As(err, &sqliteErr):
		code := sqliteErr.Code() & 0xff
		return code == 5 || code == 6 // SQLITE_BUSY, SQLITE_LOCKED: the busy timeout ran out
	}
	return false
}

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens the database named by dsn: a postgres:// URL for PostgreSQL,
// anything else an SQLite file path, with the default Options.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return OpenWith(ctx, dsn, Options{})
}

// Options tune how a database is opened; the zero value is the default.
type Options struct {
	// Synchronous is SQLite's synchronous pragma: "FULL" (the default: a
	// commit survives power loss, one fsync per group commit) or "NORMAL"
	// (a commit survives a crash of the process, not of the machine).
	Synchronous string
}

// DefaultSynchronous is SQLite's synchronous setting when Options leave it empty.
const DefaultSynchronous = "FULL"

// OpenWith opens the database named by dsn with opt.
func OpenWith(ctx context.Context, dsn string, opt Options) (*Store, error) {
	if IsPostgres(dsn) {
		return openPostgres(ctx, dsn)
	}
	mode := strings.ToUpper(opt.Synchronous)
	switch mode {
	case "":
		mode = DefaultSynchronous
	case "FULL", "NORMAL":
	default:
		return nil, fmt.Errorf("SQLite synchronous must be FULL or NORMAL, not %q", opt.Synchronous)
	}
	return openSQLite(ctx, dsn, mode)
}

// postgresLanes is how many group-commit writers run on PostgreSQL, each
// with its own connection.
const postgresLanes = 4

// openPostgres opens one bounded pool (PostgreSQL serves concurrent writers
// itself) whose sessions carry a statement timeout, so a stuck query cannot
// hold a request or a connection for ever.
func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	if cfg.RuntimeParams["statement_timeout"] == "" {
		cfg.RuntimeParams["statement_timeout"] = "5000" // ms
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(10)
	db.SetConnMaxLifetime(30 * time.Minute)
	c := &conn{db: db, rebind: numbered}
	s := &Store{write: c, read: c, dialect: goose.DialectPostgres, forUpdate: " FOR UPDATE OF r",
		lockChanges: "SELECT pg_advisory_xact_lock(" + changesLockKey + ")"}
	if err := s.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", cfg.Host, err)
	}
	s.batch = newBatcher(s, postgresLanes, batchQueue)
	return s, nil
}

// numbered rewrites the portable "?" placeholders as PostgreSQL's $1, $2...
// (none of the queries has a "?" inside a string literal).
func numbered(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// openSQLite gives SQLite WAL, synchronous (FULL or NORMAL), a busy timeout
// and foreign keys; one writer connection whose transactions begin
// IMMEDIATE, fed by one group-commit lane, and a read-only pool. The
// database and its -wal and -shm are 0600.
func openSQLite(ctx context.Context, dsn, synchronous string) (*Store, error) {
	tightened, err := secureSQLiteFiles(dsn)
	if err != nil {
		return nil, err
	}
	pragmas := "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(" + synchronous + ")&_pragma=foreign_keys(1)"
	base := "file:" + (&url.URL{Path: dsn}).EscapedPath() + "?" + pragmas
	// secure_delete: what a write deletes or overwrites (a spent link's
	// row, a mail body blanked once sent) is zeroed in the file, not left in
	// a freed page for a copy of the file to give away.
	w, err := sql.Open("sqlite", base+"&_pragma=secure_delete(1)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	r.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)))
	s := &Store{write: &conn{db: w, rebind: same}, read: &conn{db: r, rebind: same}, dialect: goose.DialectSQLite3, tightened: tightened}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s: %w", dsn, err)
	}
	s.batch = newBatcher(s, 1, batchQueue)
	return s, nil
}

func same(q string) string { return q }

// HasSampleStats reports whether the SQLite database holds ANALYZE's
// sqlite_stat4 samples. Gatehouse never runs ANALYZE; with the samples
// SQLite re-plans every statement that looks a row up by a bound key at each
// use, which cost a third of refresh's throughput at a million sessions.
func (s *Store) HasSampleStats(ctx context.Context) bool {
	if s.dialect != goose.DialectSQLite3 {
		return false
	}
	var n int
	err := s.read.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM sqlite_stat4 LIMIT 1)`).Scan(&n)
	return err == nil && n > 0 // no such table: never analyzed
}

// Migrate applies pending migrations; with none pending it changes nothing.
func (s *Store) Migrate(ctx context.Context) (applied int, err error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return 0, err
	}
	p, err := goose.NewProvider(s.dialect, s.write.db, sub)
	if err != nil {
		return 0, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	if len(results) > 0 {
		// A migration may blank what an older version wrote in the clear
		// (00014: mail bodies); the log must not keep the old pages either.
		if err := s.truncateLog(ctx); err != nil {
			return len(results), err
		}
	}
	return len(results), nil
}

// truncateLog, with SQLite, copies the write-ahead log into the database and
// empties it, so that page images written before a blanking (which
// secure_delete zeroed in the database) are gone from the log file too.
// PostgreSQL keeps old row versions until VACUUM: docs/production.md says so.
func (s *Store) truncateLog(ctx context.Context) error {
	if s.dialect != goose.DialectSQLite3 {
		return nil
	}
	// A checkpoint that a reader kept from finishing says so in its row,
	// not as an error.
	var busy, logPages, moved int
	if err := s.write.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &moved); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("checkpoint: a reader kept the write-ahead log from being emptied (%d of %d pages moved)", moved, logPages)
	}
	return nil
}

// Ping checks that the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	return s.read.db.PingContext(ctx)
}

// Close closes the pools; SQLite checkpoints the WAL when the last
// connection closes.
func (s *Store) Close() error {
	if s.batch != nil {
		s.batch.close()
	}
	if s.read == s.write {
		return s.write.db.Close()
	}
	return errors.Join(s.read.db.Close(), s.write.db.Close())
}

// stmt returns the prepared statement for q, preparing it on first use.
func (c *conn) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := c.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := c.db.PrepareContext(ctx, c.rebind(q))
	if err != nil {
		return nil, err
	}
	if prev, loaded := c.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// execer runs statements on a pool or inside a transaction.
type execer struct {
	c  *conn
	tx *sql.Tx
	// changes collects the transaction's change-feed entries, written just
	// before it commits (nil outside a transaction).
	changes *[]change
	// missed collects the queries a transaction ran unprepared, to prepare
	// once it has committed (nil outside a transaction).
	missed *[]string
	// effects, in a group-committed job, records what its statements did.
	effects *jobEffects
	// queued says the transaction queued webhook events (emit).
	queued *bool
}

// jobEffects is what a batched job's statements did: whether any wrote (or
// may have: anything but a SELECT), and whether any failed. A job that
// fails having done neither leaves its transaction as it found it.
type jobEffects struct {
	wrote, failed bool
}

// note records a statement q that ended with err.
func (e execer) note(q string, err error) {
	if e.effects == nil {
		return
	}
	if !strings.HasPrefix(strings.TrimSpace(q), "SELECT") {
		e.effects.wrote = true
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		e.effects.failed = true
	}
}

func (e execer) exec(ctx context.Context, q string, args ...any) (res sql.Result, err error) {
	defer func() { e.note(q, err); err = e.c.counted(err) }()
	if st, ok := e.cached(ctx, q); ok {
		return st.ExecContext(ctx, args...)
	}
	if e.tx != nil {
		e.miss(q)
		return e.tx.ExecContext(ctx, e.c.rebind(q), args...)
	}
	st, err := e.c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (e execer) query(ctx context.Context, q string, args ...any) (_ rows, err error) {
	var r *sql.Rows
	defer func() { e.note(q, err); err = e.c.counted(err) }()
	if st, ok := e.cached(ctx, q); ok {
		r, err = st.QueryContext(ctx, args...)
	} else if e.tx != nil {
		e.miss(q)
		r, err = e.tx.QueryContext(ctx, e.c.rebind(q), args...)
	} else if st, err = e.c.stmt(ctx, q); err == nil {
		r, err = st.QueryContext(ctx, args...)
	}
	return rows{r, e, q}, err
}

// rows is a query's *sql.Rows whose errors, which may come from any row,
// reach the job's effects too.
type rows struct {
	*sql.Rows
	e execer
	q string
}

func (r rows) Scan(dest ...any) error {
	err := r.Rows.Scan(dest...)
	r.e.note(r.q, err)
	return err
}

func (r rows) Err() error {
	err := r.Rows.Err()
	r.e.note(r.q, err)
	return err
}

// scanner is what a scan function reads one row from: a row (queryRow) or
// the current row of rows.
type scanner interface {
	Scan(dest ...any) error
}

// queryAll runs q on e and appends every row it returns, read by scan, to
// out: a list that must be [] rather than null when empty starts from []T{},
// one that may be nil from nil.
func queryAll[T any](ctx context.Context, e execer, out []T, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := e.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanAll(rows, out, scan)
}

// scanAll appends every remaining row of rows, read by scan, to out; on an
// error reading a row it returns nil, and on one that ended the rows early
// what it read with the error. It leaves rows open for the caller to close.
func scanAll[T any](rows rows, out []T, scan func(scanner) (T, error)) ([]T, error) {
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scanColumn reads a row of one column.
func scanColumn[T any](r scanner) (T, error) {
	var v T
	err := r.Scan(&v)
	return v, err
}

// row is a *sql.Row whose Scan error goes through the failure accounting.
type row struct {
	*sql.Row
	e execer
	q string
}

func (r row) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	r.e.note(r.q, err)
	return r.e.c.counted(err)
}

func (e execer) queryRow(ctx context.Context, q string, args ...any) row {
	if st, ok := e.cached(ctx, q); ok {
		return row{st.QueryRowContext(ctx, args...), e, q}
	}
	if e.tx != nil {
		e.miss(q)
		return row{e.tx.QueryRowContext(ctx, e.c.rebind(q), args...), e, q}
	}
	st, err := e.c.stmt(ctx, q)
	if err != nil { // surfaces through Row.Scan
		return row{e.c.db.QueryRowContext(ctx, e.c.rebind(q), args...), e, q}
	}
	return row{st.QueryRowContext(ctx, args...), e, q}
}

// cached returns an already prepared statement for q, bound to the
// transaction when there is one. Inside a transaction nothing new is
// prepared: on SQLite's single writer connection, preparing on the pool would
// wait for the connection the transaction holds.
func (e execer) cached(ctx context.Context, q string) (*sql.Stmt, bool) {
	v, ok := e.c.stmts.Load(q)
	if !ok {
		return nil, false
	}
	if e.tx != nil {
		return e.tx.StmtContext(ctx, v.(*sql.Stmt)), true
	}
	return v.(*sql.Stmt), true
}

// miss records that q ran unprepared in a transaction.
func (e execer) miss(q string) {
	if e.missed != nil {
		*e.missed = append(*e.missed, q)
	}
}

// prepare prepares queries a transaction ran unprepared, so the next
// transaction finds them cached (a failure only leaves them unprepared).
func (c *conn) prepare(ctx context.Context, queries []string) {
	for _, q := range queries {
		if _, ok := c.stmts.Load(q); !ok {
			_, _ = c.stmt(ctx, q)
		}
	}
}

// lockRows locks the rows of table alias a (or aliases "a, b") that a
// SELECT reads (PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the only
// write lock).
func (s *Store) lockRows(a string) string {
	if s.forUpdate == "" {
		return ""
	}
	return " FOR UPDATE OF " + a
}

func (s *Store) reader() execer { return execer{c: s.read} }
func (s *Store) writer() execer { return execer{c: s.write} }

// inTx runs f in a write transaction (BEGIN IMMEDIATE on SQLite, so a
// read-then-write cannot be overtaken by another writer). A transaction
// PostgreSQL chose as a deadlock's victim (or failed to serialize) is run
// again, up to three times in all: f must leave nothing behind but its
// statements (assign its results, never append to what it was given).
func (s *Store) inTx(ctx context.Context, f func(e execer) error) error {
	err := s.inTxOnce(ctx, f)
	for try := 1; try < 3 && isRetryable(err); try++ {
		err = s.inTxOnce(ctx, f)
	}
	return err
}

func (s *Store) inTxOnce(ctx context.Context, f func(e execer) error) error {
	tx, err := s.write.db.BeginTx(ctx, nil)
	if err != nil {
		return s.write.counted(err)
	}
	var changes []change
	var missed []string
	queued := false
	e := execer{c: s.write, tx: tx, changes: &changes, missed: &missed, queued: &queued}
	if err := f(e); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := s.writeChanges(ctx, e, changes); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := s.write.counted(tx.Commit()); err != nil {
		return err
	}
	s.write.prepare(ctx, missed)
	if queued && s.eventsQueued != nil {
		s.eventsQueued()
	}
	return nil
}

// isUniqueViolation recognises a unique-constraint failure on SQLite
// (extended codes 2067 unique, 1555 primary key) and PostgreSQL (23505)
// without importing either driver's types.
func isUniqueViolation(err error) bool {
	var sqliteErr interface{ Code() int }
	if errors.As(err, &sqliteErr) {
		return sqliteErr.Code() == 2067 || sqliteErr.Code() == 1555
	}
	var pgErr interface{ SQLState() string }
	return errors.As(err, &pgErr) && pgErr.SQLState() == "23505"
}

// isRetryable recognises PostgreSQL's deadlock victim (40P01) and
// serialization failure (40001): the statement lost a race, and running the
// same work again succeeds.
func isRetryable(err error) bool {
	var pgErr interface{ SQLState() string }
	return errors.As(err, &pgErr) && (pgErr.SQLState() == "40P01" || pgErr.SQLState() == "40001")
}

func notFound(what string) error {
	return auth.Errorf(auth.CodeNotFound, "%s was not found.", what)
}

// Times are stored as Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func nullMS(t time.Time) sql.NullInt64 {
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: !t.IsZero()}
}

func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
