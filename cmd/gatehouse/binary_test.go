package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The gatehouse binary, built once per test run for the tests that need a
// process of its own (a SIGKILL, a shell following the README).
var built struct {
	once sync.Once
	dir  string
	out  []byte
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// gatehouseBinary is the path of the built binary, named gatehouse in a
// directory of its own (so that directory can go on PATH).
func gatehouseBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is needed to build the gatehouse binary")
	}
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "gatehouse-bin-"); built.err != nil {
			return
		}
		built.out, built.err = exec.Command(goTool, "build", "-o", filepath.Join(built.dir, "gatehouse"), ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return filepath.Join(built.dir, "gatehouse")
}
