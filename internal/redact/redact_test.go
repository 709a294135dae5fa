package redact_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/redact"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://user:secret@db:5432/app?sslmode=disable", "postgres://user:xxxxx@db:5432/app?sslmode=disable"},
		{"postgres://user@db/app?password=secret&sslmode=require", "postgres://user@db/app?password=xxxxx&sslmode=require"},
		{"redis://:secret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"smtp://mailer:p%40ss@mail.example.com:587", "smtp://mailer:xxxxx@mail.example.com:587"},
		{"postgres://user@db/app", "postgres://user@db/app"},
		{"gatehouse.db", "gatehouse.db"},
		{"/var/lib/gatehouse/gatehouse.db", "/var/lib/gatehouse/gatehouse.db"},
		{"postgres://user:sec ret%zz@db/app", "postgres://xxxxx@db/app"}, // does not parse: user info masked anyway
	} {
		if got := redact.URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestErrorScrubsAndKeepsTheChain(t *testing.T) {
	sentinel := errors.New("unreachable")
	raw := "redis://:p%40ss@cache:6379/0"
	err := fmt.Errorf("dial %s as :p@ss: %w", raw, sentinel)
	got := redact.Error(err, raw)
	if strings.Contains(got.Error(), "p@ss") || strings.Contains(got.Error(), "p%40ss") {
		t.Fatalf("Error() = %q still carries the password", got)
	}
	if !errors.Is(got, sentinel) {
		t.Fatal("the scrubbed error lost its chain")
	}
	if redact.Error(nil, raw) != nil {
		t.Fatal("nil error became non-nil")
	}
}
