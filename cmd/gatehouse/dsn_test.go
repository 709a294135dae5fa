package main

import (
	"os"
	"strings"
	"testing"
)

// A libpq key=value connection string given to --db is refused with one
// line naming the flag (exit 2), never taken for an SQLite file name: no
// file is created, and its password is in no output.
func TestKeywordDSNRefused(t *testing.T) {
	const secret = "Xs3cr3tX"
	dir := t.TempDir()
	t.Chdir(dir) // where an SQLite file named after the string would appear
	for _, dsn := range []string{
		"host=127.0.0.1 user=postgres password=" + secret + " dbname=test",
		"dbname=test",
		"user=postgres password=" + secret,
		"sslmode=disable host=db",
		" host = db",
		"port=5432\tpassword=" + secret,
	} {
		for _, cmd := range [][]string{{"migrate"}, {"serve", "--addr", "127.0.0.1:0"}, {"user", "list"}} {
			out, code := cliRun(t, "", append(cmd, "--db", dsn)...)
			if code != 2 || !strings.Contains(out, "invalid --db (GATEHOUSE_DB)") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
				t.Errorf("%s --db %q: exit %d, output %q; want exit 2 and one line naming --db", cmd[0], dsn, code, out)
			}
			if strings.Contains(out, secret) {
				t.Errorf("%s --db %q: the password is in the output %q", cmd[0], dsn, out)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("files created for refused --db values: %v", entries)
	}
	for _, ok := range []string{"gatehouse.db", "data/app.db", "file=name.db", "my data.db", "postgres://u:p@h/db?sslmode=disable"} {
		if looksLikeKeywordDSN(ok) {
			t.Errorf("%q is taken for a key=value connection string", ok)
		}
	}
}
