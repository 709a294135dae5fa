package apptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// NPM runs `npm run script -- args...` in dir, a folder with a package.json
// (relative to the test's package), and fails t when it fails. It skips t
// when npm or dir's node_modules is missing: the tests never reach the
// network, so `npm ci` in dir must have run first (.ci/run runs it).
func NPM(t testing.TB, dir, script string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("skipped: npm is not installed (.ci/run installs Debian's nodejs and npm)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		abs, _ := filepath.Abs(dir)
		t.Skipf("skipped: %s has no node_modules; run `npm ci` there (.ci/run does)", abs)
	}
	cmd := exec.Command("npm", append([]string{"run", "--silent", script, "--"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm run %s in %s: %v\n%s", script, dir, err, out)
	}
}
