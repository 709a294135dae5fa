// Package token holds Gatehouse's signing keys: it creates them, signs access
// tokens with the active one, serves their public halves as a JWKS, and acts
// as guard's KeySource inside the server.
package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/golang-jwt/jwt/v5"
)

// Record is a signing key as the database keeps it.
type Record struct {
	ID         string // the JWT "kid"
	Algorithm  string
	PrivateKey []byte // PKCS #8 DER
	CreatedAt  time.Time
}

// Store persists signing keys.
type Store interface {
	SigningKeys(ctx context.Context) ([]Record, error)
	InsertSigningKey(ctx context.Context, r Record) error
}

// Algorithms that keys can be made for.
var Algorithms = []string{"EdDSA", "ES256", "RS256", "HS256"}

// KeyRing signs with its active key and verifies with any key it holds.
type KeyRing struct {
	mu     sync.RWMutex
	active *key
	byKID  map[string]*key
	jwks   []byte // cached JSON of the public keys
}

type key struct {
	id      string
	alg     string
	signer  any // crypto.Signer, or []byte for HS256
	public  any
	created time.Time
}

// Load reads the keys in st and makes the newest key of alg active, creating
// and storing one when there is none. HS256 takes its key from hmacSecret
// (never stored, never published) instead.
func Load(ctx context.Context, st Store, alg string, hmacSecret []byte, now time.Time) (*KeyRing, error) {
	records, err := st.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	kr := &KeyRing{byKID: make(map[string]*key)}
	for _, rec := range records {
		k, err := parseRecord(rec)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", rec.ID, err)
		}
		kr.byKID[k.id] = k
		if k.alg == alg && (kr.active == nil || k.created.After(kr.active.created)) {
			kr.active = k
		}
	}
	switch {
	case alg == "HS256":
		if len(hmacSecret) < 32 {
			return nil, errors.New("HS256 needs a secret of at least 32 bytes")
		}
		sum := sha256.Sum256(hmacSecret)
		k := &key{id: "hs-" + base64.RawURLEncoding.EncodeToString(sum[:9]), alg: alg,
			signer: hmacSecret, public: hmacSecret, created: now}
		kr.byKID[k.id], kr.active = k, k
	case kr.active == nil:
		rec, err := Generate(alg, now)
		if err != nil {
			return nil, err
		}
		if err := st.InsertSigningKey(ctx, rec); err != nil {
			return nil, fmt.Errorf("store new signing key: %w", err)
		}
		k, err := parseRecord(rec)
		if err != nil {
			return nil, err
		}
		kr.byKID[k.id], kr.active = k, k
	}
	kr.jwks, err = buildJWKS(kr.byKID)
	if err != nil {
		return nil, err
	}
	return kr, nil
}

// Generate makes a new private key for alg (not HS256, whose key is a secret
// the operator provides).
func Generate(alg string, now time.Time) (Record, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return Record{}, fmt.Errorf("cannot generate a key for algorithm %q", alg)
	}
	if err != nil {
		return Record{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Record{}, err
	}
	return Record{ID: rand.Text()[:16], Algorithm: alg, PrivateKey: der, CreatedAt: now}, nil
}

func parseRecord(rec Record) (*key, error) {
	priv, err := x509.ParsePKCS8PrivateKey(rec.PrivateKey)
	if err != nil {
		return nil, err
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signing key")
	}
	want := map[string]string{"EdDSA": "ed25519.PrivateKey", "ES256": "*ecdsa.PrivateKey", "RS256": "*rsa.PrivateKey"}[rec.Algorithm]
	if got := fmt.Sprintf("%T", priv); got != want {
		return nil, fmt.Errorf("key type %s does not match algorithm %s", got, rec.Algorithm)
	}
	return &key{id: rec.ID, alg: rec.Algorithm, signer: signer, public: signer.Public(), created: rec.CreatedAt}, nil
}

// Algorithm is the algorithm of the active key.
func (kr *KeyRing) Algorithm() string {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return kr.active.alg
}

// Sign returns the compact JWT of c, signed by the active key, with the
// header {"alg", "typ": "at+jwt", "kid"}.
func (kr *KeyRing) Sign(c *guard.Claims) (string, error) {
	kr.mu.RLock()
	k := kr.active
	kr.mu.RUnlock()
	t := jwt.NewWithClaims(jwt.GetSigningMethod(k.alg), c)
	t.Header["typ"] = guard.TokenType
	t.Header["kid"] = k.id
	return t.SignedString(k.signer)
}

// VerificationKey implements guard.KeySource.
func (kr *KeyRing) VerificationKey(kid string) (guard.Key, bool) {
	kr.mu.RLock()
	k, ok := kr.byKID[kid]
	kr.mu.RUnlock()
	if !ok {
		return guard.Key{}, false
	}
	return guard.Key{Algorithm: k.alg, Public: k.public}, true
}

// JWKS is the JSON Web Key Set (RFC 7517) of the public keys. HS256 keys are
// secrets and never appear in it.
func (kr *KeyRing) JWKS() []byte {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return kr.jwks
}

type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// buildJWKS renders the public keys, newest first.
func buildJWKS(keys map[string]*key) ([]byte, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	sorted := slices.SortedFunc(maps.Values(keys), func(a, b *key) int { return b.created.Compare(a.created) })
	for _, k := range sorted { // newest first
		j := jwk{Use: "sig", Alg: k.alg, Kid: k.id}
		switch pub := k.public.(type) {
		case ed25519.PublicKey:
			j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64(pub)
		case *ecdsa.PublicKey:
			ecdh, err := pub.ECDH()
			if err != nil {
				return nil, err
			}
			raw := ecdh.Bytes() // 0x04 || X || Y, each 32 bytes for P-256
			j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", b64(raw[1:33]), b64(raw[33:])
		case *rsa.PublicKey:
			j.Kty, j.N, j.E = "RSA", b64(pub.N.Bytes()), b64(bigEndian(pub.E))
		default:
			continue // HS256: a shared secret is never published
		}
		set.Keys = append(set.Keys, j)
	}
	return json.Marshal(set)
}

func bigEndian(e int) []byte {
	var b []byte
	for ; e > 0; e >>= 8 {
		b = append([]byte{byte(e)}, b...)
	}
	return b
}
