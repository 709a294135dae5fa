// Package storetest gives tests a migrated, empty database of their own:
// an SQLite file, or with GATEHOUSE_TEST_STORE=postgres a schema of its own
// in the PostgreSQL named by GATEHOUSE_TEST_POSTGRES, so the same suites run
// against both databases and parallel runs cannot collide.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// dsns remembers the dsn of each store New opened, for Dump and Copy.
var dsns sync.Map // *store.Store → string

// New opens a fresh, migrated database for t and closes it when t ends.
// Its outbox seals mail with a master key of its own.
func New(t testing.TB) *store.Store {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "gatehouse.db")
	if os.Getenv("GATEHOUSE_TEST_STORE") == "postgres" {
		dsn = PostgresURL(t)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key, _ := seal.Generate()
	st.SealMailWith(key)
	dsns.Store(st, dsn)
	t.Cleanup(func() { dsns.Delete(st) })
	return st
}

// Reopen opens st's database (opened by New) again, as another instance
// of the deployment does: its own connections, the same rows.
func Reopen(t testing.TB, st *store.Store) *store.Store {
	t.Helper()
	dsn := dsnOf(t, st)
	other, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	dsns.Store(other, dsn)
	t.Cleanup(func() { dsns.Delete(other) })
	return other
}

// Dump reads st's database (opened by New) behind the store's back, as a
// dump or a replica of it shows it to whoever holds one without the master
// key: every value of every row of every table, as text, one a line.
func Dump(t testing.TB, st *store.Store) string {
	t.Helper()
	dsn := dsnOf(t, st)
	driver, source, list := "sqlite", "file:"+(&url.URL{Path: dsn}).EscapedPath()+"?mode=ro",
		`SELECT name FROM sqlite_master WHERE type = 'table'`
	if store.IsPostgres(dsn) {
		driver, source, list = "pgx", dsn,
			`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out strings.Builder
	for _, table := range queryText(t, db, list) {
		out.WriteString(strings.Join(queryText(t, db, `SELECT * FROM "`+table+`"`), "\n") + "\n")
	}
	return out.String()
}

// Copy is Dump and, with SQLite, the raw bytes of the database's files,
// freed pages and the write-ahead log included: what a copy of the files
// (a backup, a stolen disk image) holds.
func Copy(t testing.TB, st *store.Store) string {
	t.Helper()
	out := Dump(t, st)
	if dsn := dsnOf(t, st); !store.IsPostgres(dsn) {
		for _, suffix := range []string{"", "-wal"} {
			raw, err := os.ReadFile(dsn + suffix)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			out += string(raw)
		}
	}
	return out
}

func dsnOf(t testing.TB, st *store.Store) string {
	t.Helper()
	dsn, ok := dsns.Load(st)
	if !ok {
		t.Fatal("storetest: the store was not opened by storetest.New")
	}
	return dsn.(string)
}

// queryText runs q and returns every value of every row as text.
func queryText(t testing.TB, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			switch v := v.(type) {
			case nil:
			case []byte:
				out = append(out, string(v))
			default:
				out = append(out, fmt.Sprint(v))
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// PostgresURL creates a schema for t alone in the PostgreSQL named by
// GATEHOUSE_TEST_POSTGRES (skipping t when unset) and returns a URL whose
// connections use it; the schema is dropped when t ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if base == "" {
		t.Skip("PostgreSQL tests skipped: set GATEHOUSE_TEST_POSTGRES to a postgres:// URL to run them")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	schema := "test_" + strings.ToLower(rand.Text())
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		t.Skipf("PostgreSQL at GATEHOUSE_TEST_POSTGRES is not usable: %v", err)
	}
	t.Cleanup(func() { // registered first, so it runs after the store closes
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
