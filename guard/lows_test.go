package guard_test

import (
	"crypto/elliptic"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/golang-jwt/jwt/v5"
)

// withS returns token with its ES256 signature's s replaced by n-s when
// high is not what s is now, so the result has s > n/2 if high, else s <=
// n/2. Both spellings verify with crypto/ecdsa.
func withS(t testing.TB, token string, high bool) string {
	t.Helper()
	dot := strings.LastIndex(token, ".")
	sig, err := base64.RawURLEncoding.Strict().DecodeString(token[dot+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature: %v", err)
	}
	n := elliptic.P256().Params().N
	s := new(big.Int).SetBytes(sig[32:])
	half := new(big.Int).Rsh(n, 1)
	if (s.Cmp(half) > 0) != high {
		s.Sub(n, s)
	}
	out := append(append([]byte{}, sig[:32]...), s.FillBytes(make([]byte, 32))...)
	return token[:dot+1] + base64.RawURLEncoding.EncodeToString(out)
}

// An ES256 signature has one accepted spelling: (r, s) with s <= n/2. Its
// twin (r, n-s) verifies with crypto/ecdsa and is refused, before and after
// the low one is cached, for tokens signed with either s.
func TestVerifyRefusesHighSES256(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := range 8 {
		c := f.claims()
		c.ID = "jti-" + string(rune('a'+i))
		tok := sign(t, jwt.SigningMethodES256, f.ecPriv, c, map[string]any{"kid": "ec"})
		low, high := withS(t, tok, false), withS(t, tok, true)
		if _, err := f.guard.Verify(high); err == nil {
			t.Fatal("a high-s ES256 signature verified")
		} else if gerr, ok := err.(*guard.Error); !ok || gerr.Code != guard.CodeInvalidToken {
			t.Fatalf("high s: %v, want invalid_token", err)
		}
		if _, err := f.guard.Verify(low); err != nil {
			t.Fatalf("the low-s spelling is refused: %v", err)
		}
		if _, err := f.guard.Verify(high); err == nil {
			t.Fatal("a high-s ES256 signature verified once its twin was cached")
		}
	}
}
