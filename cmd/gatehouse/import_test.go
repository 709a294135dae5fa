package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// Hashes in werkzeug's documented formats (generate_password_hash): the
// salt is used as its text; the digest is hex.
func werkzeugPBKDF2(pw, salt string, iterations int) string {
	key, _ := pbkdf2.Key(sha256.New, pw, []byte(salt), iterations, sha256.Size)
	return "pbkdf2:sha256:" + strconv.Itoa(iterations) + "$" + salt + "$" + hex.EncodeToString(key)
}

func werkzeugScrypt(pw, salt string) string {
	key, _ := scrypt.Key([]byte(pw), []byte(salt), 32768, 8, 1, 64)
	return "scrypt:32768:8:1$" + salt + "$" + hex.EncodeToString(key)
}

func werkzeugHMAC(pw, salt string) string { // werkzeug < 2.3, method="sha256"
	mac := hmac.New(sha256.New, []byte(salt))
	mac.Write([]byte(pw))
	return "sha256$" + salt + "$" + hex.EncodeToString(mac.Sum(nil))
}

// seedDB writes an SQLite file laid out like a tutorial's database.
func seedDB(t *testing.T, schema string, rows ...[]any) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seed.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	table := strings.Fields(schema)[2]
	for _, r := range rows {
		if _, err := db.Exec(`INSERT INTO `+table+` VALUES (`+strings.TrimSuffix(strings.Repeat("?,", len(r)), ",")+`)`, r...); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestImportFlask(t *testing.T) {
	t.Parallel()
	bc, _ := bcrypt.GenerateFromPassword([]byte("hunter2 but longer"), bcrypt.MinCost)
	seeds := map[string]string{
		// seed 000: GeeksforGeeks, werkzeug hashes, login by email.
		"000": seedDB(t, `CREATE TABLE user (id INTEGER PRIMARY KEY, public_id VARCHAR(50) UNIQUE, name VARCHAR(100), email VARCHAR(70) UNIQUE, password VARCHAR(80))`,
			[]any{1, "p1", "Ada", "ada@example.com", werkzeugPBKDF2("analytical engine", "aB3dE5gH7jK9mN1p", 600000)},
			[]any{2, "p2", "Alan", "ALAN@example.com", werkzeugScrypt("turing complete", "qW2eR4tY6uI8oP0a")},
			[]any{3, "p3", "Broken", "broken@example.com", "md5$nope$0123"}),
		// seed 001: freeCodeCamp, Flask-Bcrypt, login by username.
		"001": seedDB(t, `CREATE TABLE user (id INTEGER PRIMARY KEY, username VARCHAR(20) UNIQUE NOT NULL, password VARCHAR(80) NOT NULL, is_active BOOLEAN, cart JSON)`,
			[]any{1, "grace", string(bc), true, "[]"},
			[]any{2, "former", string(bc), false, "[]"}),
		// seed 002: the bookstore, werkzeug method="sha256", login by name.
		"002": seedDB(t, `CREATE TABLE users (id INTEGER PRIMARY KEY, public_id INTEGER, name VARCHAR(50), password VARCHAR(50), admin BOOLEAN)`,
			[]any{1, 1, "linus", werkzeugHMAC("free as in freedom", "Zx9Yw8Vu"), true},
			[]any{2, 2, "John Smith", werkzeugHMAC("spaces in names", "Ab1Cd2Ef"), false}),
	}
	db := filepath.Join(t.TempDir(), "gatehouse.db")
	env := func(string) string { return "" }
	summaries := map[string]string{
		"000": "3 users read from user: 2 imported, 0 already present, 1 skipped",
		"001": "2 users read from user: 2 imported, 0 already present, 0 skipped",
		"002": "2 users read from users: 1 imported, 0 already present, 1 skipped",
	}
	for _, seed := range []string{"000", "001", "002"} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"import", "flask", "--db", db, seeds[seed]}, env, strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("import %s: %d %s", seed, code, errb.String())
		}
		if got := strings.TrimSpace(out.String()); got != summaries[seed] {
			t.Fatalf("import %s: %q, want %q (stderr %s)", seed, got, summaries[seed], errb.String())
		}
		// Re-running changes nothing.
		out.Reset()
		run(context.Background(), []string{"import", "flask", "--db", db, seeds[seed]}, env, strings.NewReader(""), &out, &errb)
		if !strings.Contains(out.String(), " 0 imported") {
			t.Fatalf("second import of %s: %q", seed, out.String())
		}
	}

	s := startServer(t, db)
	c := newClient(t, s)
	for _, login := range []struct{ ident, pw string }{
		{"ada@example.com", "analytical engine"},
		{"alan@example.com", "turing complete"},
		{"grace", "hunter2 but longer"},
		{"linus", "free as in freedom"},
	} {
		r := c.json("POST", "/login", `{"identifier":"`+login.ident+`","password":"`+login.pw+`"}`)
		if r.status != 200 {
			t.Fatalf("imported user %s cannot log in: %d %s", login.ident, r.status, r.body)
		}
		if login.ident == "linus" && r.json(t)["user"].(map[string]any)["role"] != "admin" {
			t.Fatal("the bookstore's admin flag was not carried over")
		}
	}
	expect(t, c.json("POST", "/login", `{"identifier":"former","password":"hunter2 but longer"}`), 401) // is_active=0
	expect(t, c.json("POST", "/login", `{"identifier":"ada@example.com","password":"analytical engin"}`), 401)

	// Each legacy hash was replaced by argon2id at that first login.
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, ident := range []string{"ada@example.com", "alan@example.com", "grace", "linus"} {
		_, hash, err := st.UserCredentials(context.Background(), ident)
		if err != nil || !strings.HasPrefix(hash, "$argon2id$") {
			t.Fatalf("%s: hash %.20q not upgraded (%v)", ident, hash, err)
		}
	}
}

func TestImportRefusesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	noTable := seedDB(t, `CREATE TABLE things (id INTEGER)`)
	if code := run(context.Background(), []string{"import", "flask", "--db", filepath.Join(t.TempDir(), "g.db"), noTable}, func(string) string { return "" }, strings.NewReader(""), &out, &errb); code != 1 || !strings.Contains(errb.String(), "no \"user\" or \"users\" table") {
		t.Fatalf("no user table: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"import", "flask", "--db", filepath.Join(t.TempDir(), "g.db"), "/nonexistent/seed.db"}, func(string) string { return "" }, strings.NewReader(""), &out, &errb); code != 1 {
		t.Fatalf("missing file: %d %q", code, errb.String())
	}
}
