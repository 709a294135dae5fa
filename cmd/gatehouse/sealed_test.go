//go:build unix

package main

import (
	"bytes"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	_ "modernc.org/sqlite"
)

// signingRows reads every signing_keys row of the SQLite database at db
// directly, as someone holding a copy of the file would.
func signingRows(t *testing.T, db string) map[string][]byte {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(`SELECT id, private_key FROM signing_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var id, b64 string
		if err := rows.Scan(&id, &b64); err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		out[id] = raw
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func loginToken(t *testing.T, s *server, email string) string {
	t.Helper()
	c := newClient(t, s)
	body := `{"email":"` + email + `","password":"sealed secrets at rest"}`
	if r := c.json("POST", "/register", body); r.status != 201 && r.status != 409 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	r := c.json("POST", "/login", body)
	expect(t, r, 200)
	return r.json(t)["access_token"].(string)
}

// issuerFlag keeps the issuer across restarts on new ports, so a token of
// one start is valid at the next.
const issuerFlag = "http://gatehouse.test"

func umask022(t *testing.T) {
	old := syscall.Umask(0o022) // a typical umask: a careless create would make 0644
	t.Cleanup(func() { syscall.Umask(old) })
}

// With SQLite and no --master-key-file, the first start creates <db>.key,
// 0600, and says so once; the next start reuses it (unchanged), and the
// tokens of the first still verify, since the sealed keys open.
func TestMasterKeyFileIsCreatedThenReused(t *testing.T) {
	t.Parallel()
	umask022(t)
	db := filepath.Join(t.TempDir(), "gatehouse.db")
	s := startServer(t, db, "--issuer", issuerFlag)
	tok := loginToken(t, s, "keyfile@example.com")
	s.stop()

	fi, err := os.Stat(db + ".key")
	if err != nil {
		t.Fatalf("no key file beside the database: %v", err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", m)
	}
	if n := strings.Count(s.stderr.String(), "created a master key file"); n != 1 {
		t.Fatalf("%d log lines about the new key file, want 1:\n%s", n, s.stderr)
	}
	first, _ := os.ReadFile(db + ".key")
	if _, err := seal.LoadFile(db + ".key"); err != nil {
		t.Fatal(err)
	}

	s = startServer(t, db, "--issuer", issuerFlag)
	if strings.Contains(s.stderr.String(), "created a master key file") {
		t.Fatalf("the second start made a key file again:\n%s", s.stderr)
	}
	if again, _ := os.ReadFile(db + ".key"); !bytes.Equal(first, again) {
		t.Fatal("the second start rewrote the key file")
	}
	expect(t, newClient(t, s).json("GET", "/me", "", "Authorization", "Bearer "+tok), 200)
}

// PostgreSQL has no default key file: serve and keys refuse to start, in one
// line naming the flag, with exit status 2, before touching the database.
func TestPostgresWithoutMasterKeyFileIsRefused(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"serve", "--addr", "127.0.0.1:0", "--db", "postgres://gatehouse@127.0.0.1:1/gatehouse"},
		{"keys", "rotate", "--db", "postgresql://gatehouse@127.0.0.1:1/gatehouse"},
		{"keys", "list", "--db", "postgres://gatehouse@127.0.0.1:1/gatehouse"},
	} {
		out, code := cliRun(t, "", args...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "gatehouse: invalid --master-key-file (GATEHOUSE_MASTER_KEY_FILE): is required with PostgreSQL") {
			t.Fatalf("%v: exit %d, output %q; want exit 2 and one line naming --master-key-file", args[:2], code, out)
		}
	}
}

// A key file others may read is refused, naming the flag and the fix, and
// left as it is.
func TestWideMasterKeyFileIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "master.key")
	_, raw := seal.Generate()
	os.WriteFile(keyFile, seal.Encode(raw), 0o600)
	os.Chmod(keyFile, 0o644)
	out, code := cliRun(t, "", "serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "g.db"), "--master-key-file", keyFile)
	if code != 2 || !strings.Contains(out, "invalid --master-key-file") || !strings.Contains(out, "chmod 600") {
		t.Fatalf("exit %d: %s", code, out)
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o644 {
		t.Fatal("the refused key file's mode was changed")
	}
	out, code = cliRun(t, "", "serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "g.db"), "--master-key-file", filepath.Join(dir, "missing.key"))
	if code != 2 || !strings.Contains(out, "invalid --master-key-file") || !strings.Contains(out, "no such file") {
		t.Fatalf("a missing --master-key-file: exit %d: %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.key")); err == nil {
		t.Fatal("a key file named by the flag was created")
	}
}

// A database made before keys were sealed (a plain row, inserted as the old
// code did) has its key sealed in place at the first start with a master
// key, logged once; that key goes on signing, under the same kid.
func TestExistingPlainKeysAreSealedAtFirstStart(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "old.db")
	if out, code := cliRun(t, "", "migrate", "--db", db); code != 0 {
		t.Fatalf("migrate: %s", out)
	}
	plain, err := token.Generate("EdDSA", time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(`INSERT INTO signing_keys (id, algorithm, private_key, created_at) VALUES (?, ?, ?, ?)`,
		plain.ID, plain.Algorithm, base64.StdEncoding.EncodeToString(plain.PrivateKey), plain.CreatedAt.UnixMilli())
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}

	s := startServer(t, db, "--issuer", issuerFlag)
	tok := loginToken(t, s, "plain@example.com")
	if kid := kidOfToken(t, tok); kid != plain.ID {
		t.Fatalf("signed with %s, want the sealed old key %s", kid, plain.ID)
	}
	s.stop()
	if n := strings.Count(s.stderr.String(), "sealed 1 signing keys"); n != 1 {
		t.Fatalf("%d lines saying sealed 1 signing keys, want 1:\n%s", n, s.stderr)
	}
	rows := signingRows(t, db)
	if len(rows) != 1 {
		t.Fatalf("%d signing keys, want the 1 there was", len(rows))
	}
	if _, err := x509.ParsePKCS8PrivateKey(rows[plain.ID]); err == nil || bytes.Contains(rows[plain.ID], plain.PrivateKey) {
		t.Fatal("the old key is still stored plain")
	}

	s = startServer(t, db, "--issuer", issuerFlag)
	expect(t, newClient(t, s).json("GET", "/me", "", "Authorization", "Bearer "+tok), 200)
	s.stop()
	if strings.Contains(s.stderr.String(), "sealed") {
		t.Fatalf("the second start sealed again:\n%s", s.stderr)
	}
}

// The test: a copy of the database without its key file cannot
// produce a valid token. Its rows hold no private key (none parses as one,
// and no private key of the original appears anywhere in the file), and a
// server started on the copy refuses to start, whether the key file is
// missing or a new one is given, making no new key.
//
// (TOTP secrets are sealed with the same master key; their part of this
// test belongs with the TOTP table.)
func TestDatabaseCopyWithoutKeyFileCannotMakeTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "gatehouse.db")
	s := startServer(t, db, "--signing-alg", "ES256")
	loginToken(t, s, "victim@example.com")
	s.stop()
	if out, code := cliRun(t, "", "keys", "rotate", "--db", db); code != 0 { // a second key, sealed by the command
		t.Fatalf("keys rotate: %s", out)
	}
	listing, code := cliRun(t, "", "keys", "list", "--db", db)
	if code != 0 || strings.Count(listing, "  yes\n") != 2 {
		t.Fatalf("keys list does not show 2 sealed keys: %d\n%s", code, listing)
	}

	// What the original's key file opens: the private keys to look for.
	mk, err := seal.LoadFile(db + ".key")
	if err != nil {
		t.Fatal(err)
	}
	original := signingRows(t, db)
	if len(original) != 2 {
		t.Fatalf("%d signing keys, want 2", len(original))
	}
	var secrets [][]byte
	for id, sealed := range original {
		der, err := mk.Open(sealed, token.SealAAD(id))
		if err != nil {
			t.Fatalf("the original's key file does not open key %s: %v", id, err)
		}
		if _, err := x509.ParsePKCS8PrivateKey(der); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, der, []byte(base64.StdEncoding.EncodeToString(der)))
	}

	// The copy: the database file alone (the server checkpointed it at stop).
	copyDir := t.TempDir()
	cp := filepath.Join(copyDir, "stolen.db")
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, secret := range secrets {
		if bytes.Contains(data, secret) {
			t.Fatal("a private key of the original is in the copied file")
		}
	}
	rows := signingRows(t, cp)
	for id, value := range rows {
		if _, err := x509.ParsePKCS8PrivateKey(value); err == nil {
			t.Fatalf("the copy's key %s parses as a private key", id)
		}
		if _, err := x509.ParsePKCS1PrivateKey(value); err == nil {
			t.Fatalf("the copy's key %s parses as a PKCS #1 key", id)
		}
		if _, err := x509.ParseECPrivateKey(value); err == nil {
			t.Fatalf("the copy's key %s parses as an EC key", id)
		}
	}
	// The copy without its key file: refused, and no key file is made.
	out, code := cliRun(t, "", "serve", "--addr", "127.0.0.1:0", "--db", cp, "--signing-alg", "ES256")
	if code != 2 || strings.Count(strings.TrimSpace(out), "\n") != 0 ||
		!strings.Contains(out, "invalid --master-key-file") || !strings.Contains(out, "is missing") {
		t.Fatalf("start on the copy without its key file: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(cp + ".key"); err == nil {
		t.Fatal("a start on the copy made a new key file")
	}
	// With a new key file: refused, naming the key, and nothing stored.
	fresh := filepath.Join(copyDir, "fresh.key")
	_, raw := seal.Generate()
	os.WriteFile(fresh, seal.Encode(raw), 0o600)
	out, code = cliRun(t, "", "serve", "--addr", "127.0.0.1:0", "--db", cp, "--signing-alg", "ES256", "--master-key-file", fresh)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 2 || !strings.HasPrefix(lines[len(lines)-1], "gatehouse: invalid --master-key-file") ||
		!strings.Contains(out, "cannot be opened") || !strings.Contains(out, "No new key was made") {
		t.Fatalf("start on the copy with a new key file: exit %d\n%s", code, out)
	}
	if after := signingRows(t, cp); len(after) != len(rows) {
		t.Fatalf("the refused start changed the keys: %d, had %d", len(after), len(rows))
	}
	if _, err := os.Stat(cp + ".key"); err == nil {
		t.Fatal("a start on the copy made a new key file")
	}
}
