package token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/golang-jwt/jwt/v5"
)

// Every ES256 signature the ring makes has s <= n/2 (the one spelling guard
// accepts) and still verifies. ecdsa.Sign gives a high s half the time, so
// 200 signatures without the normalisation all pass with odds 2^-200.
func TestES256SignaturesAreLowS(t *testing.T) {
	t.Parallel()
	kr, err := token.Load(context.Background(), token.Options{MasterKey: mk, Store: &memStore{}, Algorithm: "ES256", RetireAfter: 16 * time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	half := new(big.Int).Rsh(elliptic.P256().Params().N, 1)
	for i := range 200 {
		c := claims()
		c.ID = "jti-" + strconv.Itoa(i)
		signed, err := kr.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(signed, ".")
		sig, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
		if err != nil || len(sig) != 64 {
			t.Fatalf("signature %q: %v", parts[2], err)
		}
		if new(big.Int).SetBytes(sig[32:]).Cmp(half) > 0 {
			t.Fatalf("signature %d has s > n/2", i)
		}
		tok, _, err := jwt.NewParser().ParseUnverified(signed, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		key, ok := kr.VerificationKey(tok.Header["kid"].(string))
		if !ok {
			t.Fatal("the signing key is not a verification key")
		}
		if err := jwt.SigningMethodES256.Verify(parts[0]+"."+parts[1], sig, key.Public.(*ecdsa.PublicKey)); err != nil {
			t.Fatalf("signature %d no longer verifies after normalisation: %v", i, err)
		}
	}
}
