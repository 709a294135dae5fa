package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// A wildcard, or anything that is not an exact origin, is refused at start
// with one line naming the flag, exit 2; nothing is served.
func TestCORSOriginsRefusedAtStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"star", []string{"--cors-origins", "*"}, nil},
		{"star among others", []string{"--cors-origins", "http://localhost:3000,*"}, nil},
		{"subdomain wildcard", []string{"--cors-origins", "https://*.example.com"}, nil},
		{"star from env", nil, map[string]string{"GATEHOUSE_CORS_ORIGINS": "*"}},
		{"path", []string{"--cors-origins", "http://localhost:3000/app"}, nil},
		{"trailing slash", []string{"--cors-origins", "http://localhost:3000/"}, nil},
		{"no scheme", []string{"--cors-origins", "localhost:3000"}, nil},
		{"null", []string{"--cors-origins", "null"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "x.db")}, tc.args...)
			code := run(context.Background(), args, func(k string) string { return tc.env[k] }, strings.NewReader(""), &out, &errb)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %s", code, errb.String())
			}
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "gatehouse: invalid --cors-origins (GATEHOUSE_CORS_ORIGINS): ") {
				t.Fatalf("stderr %q is not one line naming the flag", errb.String())
			}
			if strings.Contains(tc.name, "star") || strings.Contains(tc.name, "wildcard") {
				if !strings.Contains(lines[0], "wildcards are refused") {
					t.Fatalf("stderr %q does not say wildcards are refused", lines[0])
				}
			}
			if out.Len() != 0 {
				t.Fatalf("served anyway: %s", out.String())
			}
		})
	}
}

// The flag (and its variable) open the JSON API to the listed origins on the
// real server.
func TestCORSOriginsServed(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--cors-origins", "http://localhost:3000, https://app.example.com")
	// The start-up line shows the origins in effect, as parsed.
	if line := s.stdout.String(); !strings.Contains(line, ", cors-origins http://localhost:3000,https://app.example.com)\n") {
		t.Errorf("start-up line %q does not show the CORS origins", line)
	}
	if plain := startServer(t, ""); strings.Contains(plain.stdout.String(), "cors-origins") {
		t.Errorf("start-up line without --cors-origins names them: %q", plain.stdout.String())
	}
	preflight := func(origin string) *http.Response {
		t.Helper()
		r, _ := http.NewRequest("OPTIONS", s.base+"/login", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, origin := range []string{"http://localhost:3000", "https://app.example.com"} {
		resp := preflight(origin)
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
			resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("preflight from %s: %d %v", origin, resp.StatusCode, resp.Header)
		}
	}
	if resp := preflight("http://localhost:3001"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("unlisted origin allowed: %v", resp.Header)
	}
}
