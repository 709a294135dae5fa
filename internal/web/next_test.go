package web

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/books":              "/books",
		"/books?x=1#top":      "/books?x=1#top",
		"":                    "",
		"books":               "",
		"//evil.example":      "",
		"/\\evil.example":     "",
		"https://evil":        "",
		"/ok\r\nSet-Cookie:x": "",
		"javascript:alert(1)": "",
		"/%2F%2Fevil":         "/%2F%2Fevil", // a path on this site, not a host
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/a?b", "//x", "/\\x", "http://x", "/\t/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got == "" {
			return
		}
		if got != next || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t") {
			t.Fatalf("safeNext(%q) = %q accepted an unsafe target", next, got)
		}
		// However a browser resolves it, it stays on this origin.
		r := httptest.NewRequest("GET", "https://gatehouse.test/x", nil)
		u, err := r.URL.Parse(got)
		if err != nil || u.Host != "gatehouse.test" {
			t.Fatalf("safeNext(%q) resolves to host %q", next, u.Host)
		}
	})
}
