package token_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/golang-jwt/jwt/v5"
)

// oldSign is KeyRing.Sign as it was at 0820c4e: golang-jwt's SignedString
// with typ and kid added to the header (then low-S for ES256).
func oldSign(t *testing.T, alg, kid string, signer any, c *guard.Claims) string {
	t.Helper()
	tk := jwt.NewWithClaims(jwt.GetSigningMethod(alg), c)
	tk.Header["typ"] = guard.TokenType
	tk.Header["kid"] = kid
	s, err := tk.SignedString(signer)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// oddClaims are claims whose JSON needs escaping (HTML, unicode, quotes).
func oddClaims() *guard.Claims {
	c := claims()
	c.Subject = `<u>&"\` + "\u2028\u00e9\U0001F600"
	c.Role = "admin<script>"
	c.AMR = []string{"pwd", "mfa"}
	c.AuthTime = jwt.NewNumericDate(now.Add(-time.Second))
	c.Scope = "openid email"
	c.ClientID = "c&1"
	c.EmailVerified = true
	c.Audience = jwt.ClaimStrings{"a", "b"}
	c.NotBefore = jwt.NewNumericDate(now)
	return c
}

// thirdPartyVerify checks tok's signature with coreos/go-oidc (go-jose
// underneath), as an OpenID Connect relying party would, and returns the
// payload.
func thirdPartyVerify(t *testing.T, tok string, pub crypto.PublicKey) []byte {
	t.Helper()
	out, err := (&oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{pub}}).VerifySignature(context.Background(), tok)
	if err != nil {
		t.Fatalf("go-oidc refuses the token: %v", err)
	}
	return out
}

func TestSignMatchesSignedString(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"EdDSA", "RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			// Two plain keys (so that the test knows the private keys): the
			// newer is active. Load seals them in place.
			older, _ := token.Generate(alg, now.Add(-2*time.Minute))
			newer, _ := token.Generate(alg, now.Add(-time.Minute))
			privs := map[string]crypto.Signer{}
			for _, r := range []token.Record{older, newer} {
				p, err := x509.ParsePKCS8PrivateKey(r.PrivateKey)
				if err != nil {
					t.Fatal(err)
				}
				privs[r.ID] = p.(crypto.Signer)
			}
			st := &memStore{records: []token.Record{older, newer}}
			kr := load(t, st, alg, nil)
			check := func(wantKID string) {
				t.Helper()
				for _, c := range []*guard.Claims{claims(), oddClaims()} {
					got, err := kr.Sign(c)
					if err != nil {
						t.Fatal(err)
					}
					if kidOf(t, got) != wantKID {
						t.Fatalf("kid %s, want %s", kidOf(t, got), wantKID)
					}
					want := oldSign(t, alg, wantKID, privs[wantKID], c)
					if alg == "ES256" {
						// Random signatures: the signed parts must match, the
						// signature must verify and be low-S.
						gp, wp := got[:strings.LastIndex(got, ".")], want[:strings.LastIndex(want, ".")]
						if gp != wp {
							t.Fatalf("signing input\n%s\nwant\n%s", gp, wp)
						}
						raw, _ := base64.RawURLEncoding.Strict().DecodeString(got[len(gp)+1:])
						if len(raw) != 64 {
							t.Fatalf("ES256 signature of %d bytes, want 64", len(raw))
						}
						h := sha256.Sum256([]byte(gp))
						pub := privs[wantKID].Public().(*ecdsa.PublicKey)
						r, s := new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
						if !ecdsa.Verify(pub, h[:], r, s) {
							t.Fatal("ES256 signature does not verify")
						}
						if s.Cmp(new(big.Int).Rsh(elliptic.P256().Params().N, 1)) > 0 {
							t.Fatal("ES256 signature is high-S")
						}
					} else if got != want {
						t.Fatalf("token\n%s\nwant (SignedString)\n%s", got, want)
					}
					g, _ := guard.New(guard.Config{Issuer: "iss", Audience: "aud", Algorithms: []string{alg}, Keys: kr})
					if _, err := g.Verify(got); err != nil && c.Subject == "u" {
						t.Fatalf("guard refuses: %v", err)
					}
					thirdPartyVerify(t, got, privs[wantKID].Public())
					if _, err := jwt.Parse(got, func(*jwt.Token) (any, error) { return privs[wantKID].Public(), nil },
						jwt.WithValidMethods([]string{alg}), jwt.WithAudience("a")); err != nil && c.Subject != "u" {
						t.Fatalf("golang-jwt refuses: %v", err)
					}
				}
			}
			check(newer.ID)

			// Rotation: a newer plain key (an older instance's) becomes
			// active at the reload and must sign with its own kid.
			rotated, _ := token.Generate(alg, now)
			p, _ := x509.ParsePKCS8PrivateKey(rotated.PrivateKey)
			privs[rotated.ID] = p.(crypto.Signer)
			st.records = append(st.records, rotated)
			if err := kr.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
			check(rotated.ID)
		})
	}
}

func TestHS256MatchesSignedString(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	kr := load(t, &memStore{}, "HS256", secret)
	sum := sha256.Sum256(secret)
	kid := "hs-" + base64.RawURLEncoding.EncodeToString(sum[:9])
	for _, c := range []*guard.Claims{claims(), oddClaims()} {
		got, err := kr.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		if want := oldSign(t, "HS256", kid, secret, c); got != want {
			t.Fatalf("token\n%s\nwant (SignedString)\n%s", got, want)
		}
	}
}
