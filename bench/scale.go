package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/password"
	_ "modernc.org/sqlite"
)

// The scale scenario's database: users and sessions written straight into
// SQLite (not through the API), each session with a live refresh token and
// one spent one (with a sealed successor, as reuse detection keeps it). It
// is seeded once per size and token layout and kept under bench/out/ for
// later runs.

// scaleUserPassword is the password of every seeded user (one argon2id hash
// serves them all, so seeding costs no hashing).
const scaleUserPassword = "bench scale password"

func scaleUserName(i int) string { return fmt.Sprintf("scale-%d", i) }

// scaleDB returns the path of a database with users users and sessions
// sessions, seeding it when it is not cached yet.
func scaleDB(bin string, users, sessions int) (string, error) {
	dir := filepath.Join("bench", "out")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("scale-%d-users-%d-sessions-v3.db", users, sessions))
	if _, err := os.Stat(path); err == nil {
		fmt.Fprintf(os.Stderr, "scale: using the cached %s\n", path)
		return path, nil
	}
	tmp := path + ".seeding"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		os.Remove(p)
	}
	migrate := exec.Command(bin, "migrate", "--db", tmp)
	migrate.Stdout, migrate.Stderr = os.Stderr, os.Stderr
	if err := migrate.Run(); err != nil {
		return "", fmt.Errorf("migrate the scale database: %w", err)
	}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "scale: seeding %d users and %d sessions into %s (once; cached for later runs)...\n", users, sessions, path)
	if err := seedScale(tmp, users, sessions); err != nil {
		return "", err
	}
	// Seeding wrote without fsync: flush it now, or the kernel's writeback of
	// some gigabytes would run during (and slow) the measurements.
	if err := syncFile(tmp); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "scale: seeded in %s\n", time.Since(start).Round(time.Second))
	return path, os.Rename(tmp, path)
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func seedScale(path string, users, sessions int) error {
	ctx := context.Background()
	h, err := password.NewHasher(password.Options{})
	if err != nil {
		return err
	}
	hash, err := h.Hash(ctx, scaleUserPassword)
	if err != nil {
		return err
	}
	// Seeding only: no journal, no fsync; the server opens it in WAL mode.
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+
		"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=foreign_keys(0)&_pragma=cache_size(-200000)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	now := time.Now().UnixMilli()
	const chunk = 50_000
	insert := func(n int, q string, args func(i int) [][]any) error {
		for lo := 0; lo < n; lo += chunk {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			st, err := tx.PrepareContext(ctx, q)
			if err != nil {
				tx.Rollback()
				return err
			}
			for i := lo; i < min(n, lo+chunk); i++ {
				for _, a := range args(i) {
					if _, err := st.ExecContext(ctx, a...); err != nil {
						tx.Rollback()
						return err
					}
				}
			}
			st.Close()
			if err := tx.Commit(); err != nil {
				return err
			}
		}
		return nil
	}
	userID := func(i int) string { return fmt.Sprintf("00000000-0000-7000-8000-%012x", i) }
	if err := insert(users, `INSERT INTO users (id, username, name, password_hash, role, created_at, updated_at)
		VALUES (?, ?, '', ?, 'user', ?, ?)`, func(i int) [][]any {
		return [][]any{{userID(i), scaleUserName(i), hash, now, now}}
	}); err != nil {
		return fmt.Errorf("seed users: %w", err)
	}
	fmt.Fprintf(os.Stderr, "scale: %d users written\n", users)
	tokenHash := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
	successor := make([]byte, 60) // the size of a sealed successor, base64
	for i := range successor {
		successor[i] = 'A'
	}
	expires := now + (720 * time.Hour).Milliseconds()
	sessionID := func(i int) string { return fmt.Sprintf("00000000-0000-7000-9000-%012x", i) }
	if err := insert(sessions, `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip,
		refresh_hash, refresh_created_at, refresh_expires_at) VALUES (?, ?, ?, ?, ?, 'bench', '127.0.0.1', ?, ?, ?)`, func(i int) [][]any {
		sid := sessionID(i)
		return [][]any{{sid, userID(i % users), now, now, expires, tokenHash("live " + sid), now, expires}}
	}); err != nil {
		return fmt.Errorf("seed sessions: %w", err)
	}
	fmt.Fprintf(os.Stderr, "scale: %d sessions written\n", sessions)
	if err := insert(sessions, `INSERT INTO spent_refresh_tokens (session_id, hash, spent_at, successor)
		VALUES (?, ?, ?, ?)`, func(i int) [][]any {
		sid := sessionID(i)
		return [][]any{{sid, tokenHash("spent " + sid), now, string(successor)}}
	}); err != nil {
		return fmt.Errorf("seed spent refresh tokens: %w", err)
	}
	fmt.Fprintf(os.Stderr, "scale: %d spent refresh tokens written\n", sessions)
	// No ANALYZE: Gatehouse never runs it, so neither has a database it grew
	// itself (and its sqlite_stat4 samples would make SQLite re-plan every
	// lookup by key at each use; docs/production.md).
	return nil
}
