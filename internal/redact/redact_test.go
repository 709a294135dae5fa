package redact_test

import (
	"errors"
	"fmt"
	"regexp"
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

// Text is for what a webhook receiver (or a proxy in front of it) answers:
// it may echo the request's headers and body, or a secret it holds.
func TestTextMasksWhatLooksLikeACredential(t *testing.T) {
	const (
		jwt  = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwMTkzYWJjZCJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1zaWduZWQ"
		sig  = "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="
		hook = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		pat  = "gh_pat_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R9s"
		hex  = "3f786850e387550fdab836ed7e6dc881de23001b"
		b64  = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0"
		uuid = "0193d1a2-7b4c-7def-8a01-23456789abcd"
	)
	for _, tc := range []struct{ name, in, want string }{
		{"bearer header", "Authorization: Bearer abcdefgh12345", "Authorization: xxxxx"},
		{"bearer in prose", "sent Bearer abcdefgh12345 back", "sent Bearer xxxxx back"},
		{"basic credentials", "basic dXNlcjpwYXNzd29yZA==", "basic xxxxx"},
		{"a JWT", "token was " + jwt + ", rejected", "token was xxxxx, rejected"},
		{"the webhook signature", "bad signature " + sig, "bad signature v1,xxxxx"},
		{"the signature header echoed", "Webhook-Signature: " + sig + "\nnext line", "Webhook-Signature: xxxxx\nnext line"},
		{"headers echoed as JSON", `{"Webhook-Signature":["` + sig + `"],"Webhook-Id":["msg_1"]}`, `{"Webhook-Signature":["xxxxx"],"Webhook-Id":["msg_1"]}`},
		{"a whsec_ secret", "secret is " + hook, "secret is whsec_xxxxx"},
		{"an API key", "key " + pat + " unknown", "key gh_pat_xxxxx unknown"},
		{"a long hex run", "digest " + hex, "digest xxxxx"},
		{"a long base64 run", "blob " + b64 + " end", "blob xxxxx end"},
		{"a JSON-escaped base64 run", `"blob":"Zm9vYmFy\/YmF6cXV4\/cXV1eGNvcmdl"`, `"blob":"xxxxx"`},
		{"a password field", `{"password": "hunter2", "name": "ann"}`, `{"password": "xxxxx", "name": "ann"}`},
		{"a token field", `{"access_token":"short1","expires_in":900}`, `{"access_token":"xxxxx","expires_in":900}`},
		{"a YAML secret", "client_secret: plain words\nnext: 1", "client_secret: xxxxx\nnext: 1"},
		{"a value cut short", `{"refresh_token":"abc`, `{"refresh_token":"xxxxx`},
		{"form fields", "client_secret=s3cr3t&grant_type=client_credentials", "client_secret=xxxxx&grant_type=client_credentials"},
		{"a cookie", "Cookie: sid=abc; theme=dark", "Cookie: xxxxx"},
		{"an email address", `{"email":"ann.b+x@example.com"}`, `{"email":"xxxxx@example.com"}`},
		{"Python-style quotes", `{'password': 'hunter2', 'X-Api-Key': 'k3yShort'}`, `{'password': 'xxxxx', 'X-Api-Key': 'xxxxx'}`},
		{"JSON inside a JSON string", `"body":"{\"password\":\"hunter2\",\"token\":\"abc123\"}"`, `"body":"{\"password\":\"xxxxx\",\"token\":\"xxxxx\"}"`},
		{"an XML element", "<auth><token>abc12345</token></auth>", "<auth><token>xxxxx</token></auth>"},
		{"an HTML input", `<input name="password" value="hunter2">`, `<input name="password" value="xxxxx">`},
		{"a value on the next line", "{\n  \"password\":\n    \"hunter2\"\n}", "{\n  \"password\":\n    \"xxxxx\"\n}"},
		{"an AWS access key id", "key AKIAIOSFODNN7EXAMPLE used", "key AKIAxxxxx used"},
		{"UUIDs stay", `{"user_id":"` + uuid + `"}`, `{"user_id":"` + uuid + `"}`},
		{"words stay", "Internal Server Error: upstream-connection-timeout-exceeded", "Internal Server Error: upstream-connection-timeout-exceeded"},
		{"an error code stays", `{"error":"invalid_signature_or_timestamp"}`, `{"error":"invalid_signature_or_timestamp"}`},
		{"numbers stay", "request 123456789012345678901234567890 failed at 2026-12-07T00:41:00Z", "request 123456789012345678901234567890 failed at 2026-12-07T00:41:00Z"},
		{"nothing to mask", "thanks", "thanks"},
	} {
		if got := redact.Text(tc.in); got != tc.want {
			t.Errorf("%s: Text(%q)\n = %q\nwant %q", tc.name, tc.in, got, tc.want)
		}
	}
}

// Text takes any text a receiver sends: it never panics, never lets a JWT
// or a prefixed key through whole, and masking its output again changes
// nothing (what it left is not secret-shaped).
func FuzzText(f *testing.F) {
	for _, s := range []string{
		`{"password": "hunter2", "token":"abc"}`, "Authorization: Bearer abcdefgh12345\nX: y",
		"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2ln", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		`<token>abc</token><input name="password" value="x">`, `{\"secret\":\"s\"}`, "'pwd': 'x'", "ann@example.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := redact.Text(s)
		if jwtShape.MatchString(out) {
			t.Fatalf("a JWT left in %q (from %q)", out, s)
		}
		if again := redact.Text(out); again != out {
			t.Fatalf("masking twice changed %q into %q (from %q)", out, again, s)
		}
	})
}

var jwtShape = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}`)
