package token

import (
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
)

var (
	p256N         = elliptic.P256().Params().N
	p256HalfOrder = new(big.Int).Rsh(p256N, 1)
)

// lowS rewrites a compact ES256 token's signature (r, s) as (r, n-s) when s
// is above n/2. Both verify; guard accepts only the low one, so every token
// Gatehouse signs has exactly one valid spelling.
func lowS(token string) (string, error) {
	dot := strings.LastIndex(token, ".")
	sig, err := base64.RawURLEncoding.Strict().DecodeString(token[dot+1:])
	if err != nil || len(sig) != 64 {
		return "", errors.New("token: ES256 signature is not 64 bytes")
	}
	s := new(big.Int).SetBytes(sig[32:])
	if s.Cmp(p256HalfOrder) <= 0 {
		return token, nil
	}
	s.Sub(p256N, s).FillBytes(sig[32:])
	return token[:dot+1] + base64.RawURLEncoding.EncodeToString(sig), nil
}
