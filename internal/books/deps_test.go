package books_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependsOnGuardOnly: books is the demo resource any application
// protected by Gatehouse could hold, so of Gatehouse it uses the public
// guard package alone, not auth's or httpjson's plumbing.
func TestDependsOnGuardOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/gatehouse-auth/gatehouse/") && p != "github.com/gatehouse-auth/gatehouse/guard" &&
			p != "github.com/gatehouse-auth/gatehouse/internal/books" {
			t.Errorf("books depends on %s", p)
		}
	}
}
