// Package storetest gives tests a migrated, empty database of their own:
// an SQLite file, or with GATEHOUSE_TEST_STORE=postgres a schema of its own
// in the PostgreSQL named by GATEHOUSE_TEST_POSTGRES, so the same suites run
// against both databases and parallel runs cannot collide.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// New opens a fresh, migrated database for t and closes it when t ends.
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
	return st
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
