package guard_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/guard"
)

// respell returns the token with the last character of its signature
// changed so that it still decodes to the same bytes when the unused low bits
// of the last base64 character are ignored (non-strict decoding), or "" when
// no such spelling exists.
func respell(t *testing.T, token string) string {
	t.Helper()
	dot := strings.LastIndex(token, ".")
	sig := token[dot+1:]
	want, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, c := range alphabet {
		alt := sig[:len(sig)-1] + string(c)
		if alt == sig {
			continue
		}
		if got, err := base64.RawURLEncoding.DecodeString(alt); err == nil && string(got) == string(want) {
			return token[:dot+1] + alt
		}
	}
	return ""
}

// Non-canonical base64 spellings of a signature are refused: one signature
// has one spelling (16 verified before, for an Ed25519 signature).
func TestVerifyRefusesNonCanonicalSignatureSpelling(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	good := f.valid(t)
	alt := respell(t, good)
	if alt == "" {
		t.Fatal("no other spelling of the signature decodes to the same bytes")
	}
	if _, err := f.guard.Verify(good); err != nil {
		t.Fatalf("the canonical token is refused: %v", err)
	}
	if _, err := f.guard.Verify(alt); err == nil {
		t.Fatal("a non-canonical spelling of the signature verified")
	} else if gerr, ok := err.(*guard.Error); !ok || gerr.Code != "invalid_token" {
		t.Fatalf("non-canonical spelling: %v, want invalid_token", err)
	}
}
