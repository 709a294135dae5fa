package password

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Scheme names what a hash costs to verify, never its salt or key, and every
// hash of a scheme starts with the scheme and "$" (the store's sampling of
// one hash per scheme relies on it).
func TestScheme(t *testing.T) {
	h, err := NewHasher(Options{Params: fastParams})
	if err != nil {
		t.Fatal(err)
	}
	argon, err := h.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	for _, c := range []struct{ encoded, want string }{
		{argon, "$argon2id$v=19$m=64,t=1,p=1"},
		{string(bc), "$2a$04"},
		{"$2b$12$" + string(bc)[7:], "$2b$12"},
		{werkzeugPBKDF2, "pbkdf2:sha256:600000"},
		{werkzeugPBKDF2b, "pbkdf2:sha512:1000"},
		{werkzeugScrypt, "scrypt:32768:8:1"},
		{werkzeugHMAC, "sha256"},
		{"md5$salt$0123456789abcdef0123456789abcdef", ""},
		{"", ""},
	} {
		got := Scheme(c.encoded)
		if got != c.want {
			t.Errorf("Scheme(%.30q) = %q, want %q", c.encoded, got, c.want)
		}
		if got != "" && !strings.HasPrefix(c.encoded, got+"$") {
			t.Errorf("%.30q does not start with its scheme %q and $", c.encoded, got)
		}
	}
	if got := h.Scheme(); got != "$argon2id$v=19$m=64,t=1,p=1" {
		t.Errorf("the hasher's own scheme is %q", got)
	}
}

// VerifyCost answers what Verify answers and reports a cost; the dummy
// verification always fails.
func TestVerifyCost(t *testing.T) {
	h, _ := NewHasher(Options{Params: fastParams})
	ctx := context.Background()
	ok, rehash, cost, err := h.VerifyCost(ctx, "correct horse", werkzeugPBKDF2b)
	if !ok || !rehash || cost <= 0 || err != nil {
		t.Fatalf("VerifyCost(right, legacy) = %v, %v, %v, %v", ok, rehash, cost, err)
	}
	if ok, _, _, err := h.VerifyCost(ctx, "wrong", werkzeugPBKDF2b); ok || err != nil {
		t.Fatalf("VerifyCost(wrong) = %v, %v", ok, err)
	}
	if cost, err := h.VerifyDummyCost(ctx, "anything"); cost <= 0 || err != nil {
		t.Fatalf("VerifyDummyCost = %v, %v", cost, err)
	}
}
