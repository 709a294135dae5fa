package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// warnKeyFileInGit logs one warning when the master key file lies inside a
// git work tree that does not ignore it: one `git add -A` would commit the
// secret. It asks git (check-ignore) when git is on PATH, and otherwise says
// it could not tell; it never fails the start.
func warnKeyFileInGit(ctx context.Context, path string, log *slog.Logger) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return
	}
	tree := gitWorkTree(filepath.Dir(abs))
	if tree == "" {
		return
	}
	const inTree = "the master key file is inside a git work tree"
	git, err := exec.LookPath("git")
	if err != nil {
		log.Warn(inTree+"; git is not on PATH, so it could not tell whether git ignores it: make sure the file is never committed (add it to .gitignore)",
			"file", path, "work_tree", tree)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err = exec.CommandContext(ctx, git, "-C", filepath.Dir(abs), "check-ignore", "-q", "--", abs).Run()
	var exit *exec.ExitError
	switch {
	case err == nil: // ignored
	case errors.As(err, &exit) && exit.ExitCode() == 1: // not ignored, or tracked already
		log.Warn(inTree+" and not ignored: one `git add -A` commits the secret; add it to .gitignore (a tracked file must also be removed with git rm --cached)",
			"file", path, "work_tree", tree)
	default:
		log.Warn(inTree+"; git could not tell whether it ignores it: make sure the file is never committed (add it to .gitignore)",
			"file", path, "work_tree", tree, "err", err)
	}
}

// gitWorkTree is the nearest directory from dir up holding a .git (a
// directory, or the file of a linked work tree or submodule), or "".
func gitWorkTree(dir string) string {
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
