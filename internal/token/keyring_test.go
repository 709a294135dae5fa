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
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
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
func (m *memStore) SealSigningKeys(_ context.Context, f func(token.Record) (token.Record, bool, error)) (int, error) {
	next := slices.Clone(m.records)
	n := 0
	for i, r := range next {
		out, changed, err := f(r)
		if err != nil {
			return 0, err // nothing stored: one transaction
		}
		if changed {
			next[i].PrivateKey, next[i].Sealed = out.PrivateKey, out.Sealed
			n++
		}
	}
	m.records = next
	return n, nil
}
func (m *memStore) RetireSigningKey(_ context.Context, id string, at time.Time) error {
	for i := range m.records {
		if m.records[i].ID == id {
			m.records[i].RetiredAt = at
		}
	}
	return nil
}

func load(t *testing.T, st token.Store, alg string, secret []byte) *token.KeyRing {
	t.Helper()
	kr, err := token.Load(context.Background(), token.Options{MasterKey: mk, Store: st, Algorithm: alg, HMACSecret: secret, RetireAfter: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

var now = time.Now()

// mk is the master key of the tests' key rings.
var mk, _ = seal.Generate()

func claims() *guard.Claims {
	return &guard.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "iss", Audience: jwt.ClaimStrings{"aud"}, Subject: "u", ID: "j",
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
	}, SessionID: "s", Role: "user"}
}

func TestEveryAlgorithmSignsWhatGuardAccepts(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	for _, alg := range token.Algorithms {
		t.Run(alg, func(t *testing.T) {
			st := &memStore{}
			kr := load(t, st, alg, secret)
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
	t.Parallel()
	st := &memStore{}
	first, second := load(t, st, "EdDSA", nil), load(t, st, "EdDSA", nil)
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
	t.Parallel()
	if _, err := token.Load(context.Background(), token.Options{MasterKey: mk, Store: &memStore{}, Algorithm: "HS256", HMACSecret: []byte("short")}); err == nil {
		t.Fatal("HS256 with a short secret accepted")
	}
	rec, _ := token.Generate("EdDSA", now)
	rec.Algorithm = "RS256" // an Ed25519 key mislabelled
	if _, err := token.Load(context.Background(), token.Options{MasterKey: mk, Store: &memStore{records: []token.Record{rec}}, Algorithm: "RS256"}); err == nil {
		t.Fatal("a key whose type does not match its algorithm was loaded")
	}
}

func TestRotationThenRetirement(t *testing.T) {
	t.Parallel()
	st := &memStore{}
	clock := now
	opts := token.Options{MasterKey: mk, Store: st, Algorithm: "EdDSA", RetireAfter: 16 * time.Minute, Now: func() time.Time { return clock }}
	a, err := token.Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := token.Load(context.Background(), opts) // a second instance on the same database
	if err != nil {
		t.Fatal(err)
	}
	verifier := func(kr *token.KeyRing) *guard.Guard {
		g, _ := guard.New(guard.Config{Issuer: "iss", Audience: "aud", Algorithms: []string{"EdDSA"}, Keys: kr,
			Now: func() time.Time { return clock }})
		return g
	}
	c := claims()
	c.ExpiresAt = jwt.NewNumericDate(now.Add(time.Hour))
	old, _ := a.Sign(c)

	clock = clock.Add(2 * time.Second)
	if _, err := token.Rotate(context.Background(), st, mk, "EdDSA", clock); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	fresh, _ := a.Sign(c)
	if kidOf(t, fresh) == kidOf(t, old) {
		t.Fatal("the rotated key is not active after a reload")
	}
	for name, tok := range map[string]string{"old": old, "new": fresh} {
		if _, err := verifier(a).Verify(tok); err != nil {
			t.Fatalf("%s token refused on the rotating instance: %v", name, err)
		}
		if _, err := verifier(b).Verify(tok); err != nil { // b learns the new kid on first sight
			t.Fatalf("%s token refused on the other instance: %v", name, err)
		}
	}
	if n := jwksLen(t, a); n != 2 {
		t.Fatalf("JWKS during the overlap has %d keys, want 2", n)
	}

	clock = clock.Add(16*time.Minute + time.Second) // every token the old key signed has expired by now
	if err := a.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := jwksLen(t, a); n != 1 {
		t.Fatalf("JWKS after retirement has %d keys, want 1", n)
	}
	if _, err := verifier(a).Verify(old); err == nil {
		t.Fatal("a token of the retired key still verifies")
	}
	if st.records[0].RetiredAt.IsZero() {
		t.Fatal("retirement not recorded in the store")
	}
	states := token.States(st.records, opts.RetireAfter, clock)
	if !states[0].Retired || !states[1].Active {
		t.Fatalf("states = %+v", states)
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	p, _, err := jwt.NewParser().ParseUnverified(tok, &guard.Claims{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Header["kid"].(string)
}

func jwksLen(t *testing.T, kr *token.KeyRing) int {
	t.Helper()
	var set struct{ Keys []any }
	if err := json.Unmarshal(kr.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	return len(set.Keys)
}

// TestSignedHeader pins the access token's header: exactly alg, kid and typ,
// in that order, as golang-jwt wrote it before Sign built it itself.
func TestSignedHeader(t *testing.T) {
	t.Parallel()
	for _, alg := range token.Algorithms {
		t.Run(alg, func(t *testing.T) {
			kr := load(t, &memStore{}, alg, []byte("0123456789abcdef0123456789abcdef"))
			signed, err := kr.Sign(claims())
			if err != nil {
				t.Fatal(err)
			}
			raw, err := base64.RawURLEncoding.Strict().DecodeString(strings.Split(signed, ".")[0])
			if err != nil {
				t.Fatal(err)
			}
			var h map[string]string
			if err := json.Unmarshal(raw, &h); err != nil {
				t.Fatal(err)
			}
			want := `{"alg":"` + alg + `","kid":"` + h["kid"] + `","typ":"at+jwt"}`
			if string(raw) != want || h["kid"] == "" {
				t.Fatalf("header %s, want %s", raw, want)
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	kr, err := token.Load(context.Background(), token.Options{MasterKey: mk, Store: &memStore{}, Algorithm: "EdDSA", Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}
	c := claims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.Sign(c); err != nil {
			b.Fatal(err)
		}
	}
}
