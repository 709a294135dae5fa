package auth_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// ListUsers is the one place a page of users is read, for the JSON API, the
// admin page and the CLI alike: its cursor is opaque and checked, its query
// bounded.
func TestListUsersPagesWithACheckedCursor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for i := range 5 {
		if _, err := e.svc.Accounts.Register(ctx, auth.RegisterInput{Username: fmt.Sprintf("pager%d", i), Password: "correct horse battery"}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		users, next, err := e.svc.Accounts.ListUsers(ctx, auth.UserQuery{Prefix: "pager", Cursor: cursor, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			seen[u.ID] = true
		}
		pages++
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 5 || pages != 3 {
		t.Fatalf("%d users over %d pages, want 5 over 3", len(seen), pages)
	}
	for name, q := range map[string]auth.UserQuery{
		"a raw user id":   {Cursor: "0190a000-0000-7000-8000-000000000001", Limit: 2},
		"not base64":      {Cursor: "!!", Limit: 2},
		"a long prefix":   {Prefix: strings.Repeat("a", 255), Limit: 2},
		"no limit":        {},
		"too large limit": {Limit: 201},
	} {
		if _, _, err := e.svc.Accounts.ListUsers(ctx, q); auth.ErrorCode(err) != auth.CodeInvalidRequest {
			t.Errorf("%s: %v, want invalid_request", name, err)
		}
	}
}
