package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNothingInternal: the example is copied out of the module as
// the start of someone's own service, so its code (tests aside), and what
// that imports in turn, uses nothing of Gatehouse but the public guard.
func TestImportsNothingInternal(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, p := range deps {
		if strings.HasPrefix(p, "github.com/gatehouse-auth/gatehouse/") && p != "github.com/gatehouse-auth/gatehouse/guard" &&
			p != "github.com/gatehouse-auth/gatehouse/examples/bookstore" {
			t.Errorf("the example depends on %s", p)
		}
	}
	t.Logf("%d packages", len(deps)) // go list -deps ./examples/bookstore | wc -l
}
