package httpapi_test

import (
	"crypto/elliptic"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
)

// Regression ("one signature has one spelling"): strict
// base64 closed the 16 spellings of a signature, but ES256 signatures stay
// malleable: (r, n-s) verifies as well as (r, s), so every ES256 token has a
// second spelling that GET /me accepts. Anything keyed by the token's bytes
// (a cache, a deny list, a log correlation) sees two tokens.
func TestES256HighSSpellingRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *app.Config) { c.SigningAlg = "ES256" })
	tok := h.tokens["ann"].AccessToken
	dot := strings.LastIndex(tok, ".")
	sig, err := base64.RawURLEncoding.Strict().DecodeString(tok[dot+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature %q: %v", tok[dot+1:], err)
	}
	n := elliptic.P256().Params().N
	s := new(big.Int).SetBytes(sig[32:])
	other := append(append([]byte{}, sig[:32]...), new(big.Int).Sub(n, s).FillBytes(make([]byte, 32))...)
	alt := tok[:dot+1] + base64.RawURLEncoding.EncodeToString(other)
	if w := h.do(req{method: "GET", path: "/me", headers: map[string]string{"Authorization": "Bearer " + tok}}); w.Code != 200 {
		t.Fatalf("the token itself: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "GET", path: "/me", headers: map[string]string{"Authorization": "Bearer " + alt}}); w.Code != 401 {
		t.Fatalf("the same token with the signature (r, n-s): %d %s, want 401 invalid_token", w.Code, w.Body)
	}
}
