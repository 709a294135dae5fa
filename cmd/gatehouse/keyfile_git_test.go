package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
)

// TestKeyFileInAGitWorkTreeIsWarnedOfUnlessIgnored: a master key file
// inside a git work tree that git does not ignore gets one warning at start
// (one `git add -A` would commit it); an ignored one, or one outside any
// work tree, none; without git on PATH, the warning says it could not tell.
func TestKeyFileInAGitWorkTreeIsWarnedOfUnlessIgnored(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not on PATH")
	}
	repo := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	if err := os.Mkdir(filepath.Join(repo, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	inRepo := filepath.Join(repo, "data", "gatehouse.db.key")
	warnings := func(path string) []string {
		t.Helper()
		logs := &testsupport.Buffer{}
		warnKeyFileInGit(context.Background(), path, slog.New(slog.NewTextHandler(logs, nil)))
		if s := strings.TrimSpace(logs.String()); s != "" {
			return strings.Split(s, "\n")
		}
		return nil
	}

	if w := warnings(inRepo); len(w) != 1 || !strings.Contains(w[0], "level=WARN") || !strings.Contains(w[0], "not ignored") ||
		!strings.Contains(w[0], "file="+inRepo) {
		t.Fatalf("a key file git does not ignore: %q; want one warning naming it", w)
	}
	if w := warnings(filepath.Join(t.TempDir(), "gatehouse.db.key")); len(w) != 0 {
		t.Fatalf("a key file outside any work tree: %q", w)
	}
	// This repository's own .gitignore keeps the quick start's key file out.
	if w := warnings(filepath.Join("..", "..", "gatehouse.db.key")); len(w) != 0 {
		t.Fatalf("the quick start's key file in this repository: %q", w)
	}
	t.Setenv("PATH", "")
	if w := warnings(inRepo); len(w) != 1 || !strings.Contains(w[0], "could not tell") {
		t.Fatalf("without git on PATH: %q; want one warning that says it could not tell", w)
	}
}

// TestServeWarnsOfItsKeyFileInAGitWorkTree: the quick start run in a
// project's directory, before .gitignore names the key file.
func TestServeWarnsOfItsKeyFileInAGitWorkTree(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not on PATH")
	}
	repo := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	s := startServer(t, filepath.Join(repo, "gatehouse.db"))
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(s.stderr.String(), "not ignored"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no warning of the key file in the work tree: %s", s.stderr)
		}
	}
	if n := strings.Count(s.stderr.String(), "master key file is inside a git work tree"); n != 1 {
		t.Fatalf("%d warnings, want one: %s", n, s.stderr)
	}
}
