package auth

import (
	"testing"
	"unicode/utf8"
)

func TestCanonicalEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		" Ann@Example.COM ":             "ann@example.com",
		"ａｎｎ@ｅｘａｍｐｌｅ.ｃｏｍ":               "ann@example.com", // fullwidth compatibility forms
		"STRASSE@example.com":           "strasse@example.com",
		"straße@example.com":            "strasse@example.com", // case folding, not just lower-casing
		"Ⅸ@example.com":                 "ix@example.com",
		"e\u0301lise@example.com":       "élise@example.com", // composed
		"not an email":                  "",
		"Ann <ann@example.com>":         "",
		"ann@localhost":                 "",
		"a\u0000b@example.com":          "",
		"ann@example.com\r\nBcc: x@y.z": "",
		// Addresses a relay routes elsewhere than their domain says: IP
		// literals, a numeric "domain", and % (the old source route).
		"a@[127.0.0.1]":            "",
		"a@[IPv6:::1]":             "",
		"a@127.0.0.1":              "",
		"a%b@example.com":          "",
		"a%b@[127.0.0.1]":          "",
		"\"a%b\"@example.com":      "",
		"a!b@example.com":          "", // a UUCP bang path
		"a@-example.com":           "", // not a host name
		"a@example-.com":           "",
		"a@exa_mple.com":           "",
		"a@example..com":           "",
		"a@münchen.de":             "a@münchen.de", // internationalized domains stay
		"a@xn--mnchen-3ya.de":      "a@xn--mnchen-3ya.de",
		"a@ex-ample.co.uk":         "a@ex-ample.co.uk",
		"a.b+tag@mail.example.com": "a.b+tag@mail.example.com",
	} {
		got, err := CanonicalEmail(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("CanonicalEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if CanonicalIdentifier(" ＡＮＮ@example.com") != "ann@example.com" || CanonicalIdentifier(" Romel ") != "Romel" {
		t.Fatal("login identifiers are not canonicalised like stored emails")
	}
}

// FuzzCanonicalEmail checks that canonicalisation is idempotent: an address
// stored in canonical form finds itself, so no variant makes a second account.
func FuzzCanonicalEmail(f *testing.F) {
	for _, s := range []string{"Ann@Example.com", "ａｎｎ@ｅｘａｍｐｌｅ.ｃｏｍ", "straße@example.com", "İ@example.com", "ǅ@example.com", "x@y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		once := CanonicalIdentifier(s)
		if twice := CanonicalIdentifier(once); twice != once {
			t.Fatalf("CanonicalIdentifier not idempotent: %q → %q → %q", s, once, twice)
		}
		email, err := CanonicalEmail(s)
		if err != nil {
			return
		}
		again, err := CanonicalEmail(email)
		if err != nil || again != email {
			t.Fatalf("CanonicalEmail(%q) = %q, but CanonicalEmail(%q) = %q, %v", s, email, email, again, err)
		}
		if CanonicalIdentifier(s) != email {
			t.Fatalf("login would look %q up as %q, stored as %q", s, CanonicalIdentifier(s), email)
		}
	})
}
