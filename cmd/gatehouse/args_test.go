package main

import (
	"io"
	"slices"
	"testing"
)

// Flags may follow a command's arguments, as people type them
// ("client rotate-secret ID --db x"); "--" ends the flags.
func TestFlagsMayFollowTheArguments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args     []string
		wantArgs []string
		wantDB   string
	}{
		{[]string{"ID", "--db", "x.db"}, []string{"ID"}, "x.db"},
		{[]string{"--db", "x.db", "ID"}, []string{"ID"}, "x.db"},
		{[]string{"A", "--db", "x.db", "B"}, []string{"A", "B"}, "x.db"},
		{[]string{"--", "--db", "x.db"}, []string{"--db", "x.db"}, "gatehouse.db"},
		{[]string{"ID", "--", "--db"}, []string{"ID", "--db"}, "gatehouse.db"},
	} {
		var c config
		fs := newFlagSet("client remove", &c, false, io.Discard)
		got, err := parseConfig(fs, tc.args, func(string) string { return "" }, &c)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if !slices.Equal(got, tc.wantArgs) || c.DB != tc.wantDB {
			t.Errorf("%q: arguments %q, db %q; want %q, %q", tc.args, got, c.DB, tc.wantArgs, tc.wantDB)
		}
	}
}
