package token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/golang-jwt/jwt/v5"
)

// memStore is an in-memory token.Store.
type memStore struct{ records []token.Record }

func (m *memStore) SigningKeys(context.Context) ([]token.Record, error) { return m.records, nil }
func (m *memStore) InsertSigningKey(_ context.Context, r token.Record) error {
	m.records = append(m.records, r)
	return nil
}

var now = time.Now()

func claims() *guard.Claims {
	return &guard.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "iss", Audience: jwt.ClaimStrings{"aud"}, Subject: "u", ID: "j",
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
	}, SessionID: "s", Role: "user"}
}

func TestEveryAlgorithmSignsWhatGuardAccepts(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	for _, alg := range token.Algorithms {
		t.Run(alg, func(t *testing.T) {
			st := &memStore{}
			kr, err := token.Load(context.Background(), st, alg, secret, now)
			if err != nil {
				t.Fatal(err)
			}
			signed, err := kr.Sign(claims())
			if err != nil {
				t.Fatal(err)
			}
			g, _ := guard.New(guard.Config{Issuer: "iss", Audience: "aud", Algorithms: []string{alg}, Keys: kr})
			if _, err := g.Verify(signed); err != nil {
				t.Fatalf("guard refuses the key ring's own %s token: %v", alg, err)
			}
			var set struct{ Keys []map[string]string }
			if err := json.Unmarshal(kr.JWKS(), &set); err != nil {
				t.Fatal(err)
			}
			if alg == "HS256" {
				if len(set.Keys) != 0 || len(st.records) != 0 {
					t.Fatalf("HS256 secret published (%d keys) or stored (%d records)", len(set.Keys), len(st.records))
				}
				return
			}
			if len(set.Keys) != 1 || set.Keys[0]["alg"] != alg || set.Keys[0]["use"] != "sig" || set.Keys[0]["d"] != "" {
				t.Fatalf("jwks = %s", kr.JWKS())
			}
			// The published key verifies the token on its own, as a resource server would.
			pub := publicFromJWK(t, set.Keys[0])
			if _, err := jwt.Parse(signed, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithValidMethods([]string{alg})); err != nil {
				t.Fatalf("token does not verify with the published JWK: %v", err)
			}
		})
	}
}

func publicFromJWK(t *testing.T, k map[string]string) any {
	t.Helper()
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	switch k["kty"] {
	case "OKP":
		return ed25519.PublicKey(dec(k["x"]))
	case "EC":
		key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, dec(k["x"])...), dec(k["y"])...))
		if err != nil {
			t.Fatalf("EC point invalid: %v", err)
		}
		return key
	case "RSA":
		return &rsa.PublicKey{N: new(big.Int).SetBytes(dec(k["n"])), E: int(new(big.Int).SetBytes(dec(k["e"])).Int64())}
	}
	t.Fatalf("unknown kty %q", k["kty"])
	return nil
}

func TestLoadKeepsTheStoredKey(t *testing.T) {
	st := &memStore{}
	first, err := token.Load(context.Background(), st, "EdDSA", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	second, err := token.Load(context.Background(), st, "EdDSA", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.records) != 1 || string(first.JWKS()) != string(second.JWKS()) {
		t.Fatalf("a restart made a new key: %d records", len(st.records))
	}
	signed, _ := first.Sign(claims())
	g, _ := guard.New(guard.Config{Issuer: "iss", Audience: "aud", Algorithms: []string{"EdDSA"}, Keys: second})
	if _, err := g.Verify(signed); err != nil {
		t.Fatalf("token from before the restart refused: %v", err)
	}
}

func TestLoadRefuses(t *testing.T) {
	if _, err := token.Load(context.Background(), &memStore{}, "HS256", []byte("short"), now); err == nil {
		t.Fatal("HS256 with a short secret accepted")
	}
	rec, _ := token.Generate("EdDSA", now)
	rec.Algorithm = "RS256" // an Ed25519 key mislabelled
	if _, err := token.Load(context.Background(), &memStore{records: []token.Record{rec}}, "RS256", nil, now); err == nil {
		t.Fatal("a key whose type does not match its algorithm was loaded")
	}
}
