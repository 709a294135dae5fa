package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// importCommand runs "gatehouse import flask PATH": it reads the users of a
// Flask tutorial app's SQLite database and creates them here with their
// password hashes, which are replaced by argon2id at each user's first login.
//
// Layouts understood (by column name, in table "user" or "users"):
// email and/or username, optional name, password, optional admin and
// is_active. Where there is no username column but names are unique login
// names (the bookstore tutorial logs in by name), a name that is a valid
// username becomes the username.
func importCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "flask" {
		return &configError{"import needs a source: import flask PATH"}
	}
	var c config
	rest, err := parseConfig(newFlagSet("import flask", &c, false, stderr), args[1:], getenv, &c)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return &configError{"import flask takes one argument: the path of the app's SQLite database"}
	}
	src, err := openSeedDatabase(ctx, rest[0])
	if err != nil {
		return err
	}
	defer src.Close()
	table, cols, err := userTable(ctx, src)
	if err != nil {
		return err
	}
	svc, done, err := openAdmin(ctx, c, false, stderr)
	if err != nil {
		return err
	}
	defer done()
	ctx = auth.WithActor(ctx, "cli")

	var total int
	if err := src.QueryRowContext(ctx, `SELECT count(*) FROM "`+table+`"`).Scan(&total); err != nil {
		return err
	}
	rows, err := src.QueryContext(ctx, `SELECT `+selectList(cols)+` FROM "`+table+`"`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var imported, present, skipped, seen int
	for rows.Next() {
		var email, username, name, hash sql.NullString
		var admin, active sql.NullBool
		if err := rows.Scan(&email, &username, &name, &hash, &admin, &active); err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
		seen++
		in := auth.ImportInput{Email: email.String, Username: username.String, Name: name.String, PasswordHash: hash.String,
			Admin: admin.Bool, Disabled: active.Valid && !active.Bool}
		if !cols["username"] && !cols["email"] { // the bookstore tutorial logs in by name
			in.Username = loginName(name.String)
		}
		_, err := svc.Accounts.ImportUser(ctx, in)
		switch auth.ErrorCode(err) {
		case "":
			imported++
		case auth.CodeAlreadyExists:
			present++
		case auth.CodeInvalidRequest:
			skipped++
			fmt.Fprintf(stderr, "skipped row %d (%s): %s\n", seen, describe(in), auth.ErrorMessage(err))
		default:
			return fmt.Errorf("import row %d: %w", seen, err)
		}
		if seen%1000 == 0 {
			fmt.Fprintf(stderr, "imported %d of %d rows...\n", seen, total)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d users read from %s: %d imported, %d already present, %d skipped\n", seen, table, imported, present, skipped)
	return nil
}

// openSeedDatabase opens the tutorial's database read-only: an import never
// writes to its source.
func openSeedDatabase(ctx context.Context, path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro")
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// userTable finds the users table and which of the known columns it has.
func userTable(ctx context.Context, db *sql.DB) (string, map[string]bool, error) {
	for _, table := range []string{"user", "users"} {
		rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			return "", nil, err
		}
		cols := map[string]bool{}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return "", nil, err
			}
			cols[strings.ToLower(name)] = true
		}
		rows.Close()
		if len(cols) > 0 {
			if !cols["password"] || !(cols["email"] || cols["username"] || cols["name"]) {
				return "", nil, fmt.Errorf("table %q has no password and email, username or name columns", table)
			}
			return table, cols, nil
		}
	}
	return "", nil, fmt.Errorf("no \"user\" or \"users\" table found")
}

// selectList selects email, username, name, password, admin, is_active in
// that order, NULL for the columns the table lacks.
func selectList(cols map[string]bool) string {
	var out []string
	for _, c := range []string{"email", "username", "name", "password", "admin", "is_active"} {
		if cols[c] {
			out = append(out, `"`+c+`"`)
		} else {
			out = append(out, "NULL")
		}
	}
	return strings.Join(out, ", ")
}

// loginName returns name when it can serve as a username, else "".
func loginName(name string) string {
	if u, err := auth.ValidUsername(name); err == nil {
		return u
	}
	return ""
}

func describe(in auth.ImportInput) string {
	parts := slices.DeleteFunc([]string{in.Email, in.Username, in.Name}, func(s string) bool { return s == "" })
	if len(parts) == 0 {
		return "no identity"
	}
	return strings.Join(parts, ", ")
}
