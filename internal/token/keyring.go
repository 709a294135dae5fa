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
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/golang-jwt/jwt/v5"
)

// Record is a signing key as the database keeps it.
type Record struct {
	ID        string // the JWT "kid"
	Algorithm string
	// PrivateKey is the PKCS #8 DER of the key, sealed with the master key
	// (aad SealAAD(ID)) when Sealed. Every key this package stores is
	// sealed; a plain one is a key stored before keys were sealed, which
	// the next Load or Reload seals.
	PrivateKey []byte
	Sealed     bool
	CreatedAt  time.Time
	RetiredAt  time.Time // zero while the key signs or verifies
}

// SealAAD is the additional data a signing key is sealed with: it binds
// the sealed key to its row, so a sealed key copied into another row does
// not open.
func SealAAD(id string) []byte { return []byte("signing-key:" + id) }

// Store persists signing keys.
type Store interface {
	// SigningKeys returns every key, retired ones included, oldest first.
	SigningKeys(ctx context.Context) ([]Record, error)
	InsertSigningKey(ctx context.Context, r Record) error
	RetireSigningKey(ctx context.Context, id string, at time.Time) error
	// SealSigningKeys calls f on every stored key in one transaction and
	// stores the PrivateKey and Sealed of each record f says it changed,
	// returning how many it changed. Nothing is stored if f fails.
	SealSigningKeys(ctx context.Context, f func(Record) (Record, bool, error)) (int, error)
}

// Algorithms that keys can be made for.
var Algorithms = []string{"EdDSA", "ES256", "RS256", "HS256"}

// KeyRing signs with its active key and verifies with any key it holds.
//
// The newest key is the active one. An older key keeps verifying until every
// token it can have signed has expired: RetireAfter past the creation of
// the key that replaced it. Then it retires, leaving the JWKS.
type KeyRing struct {
	opts Options

	mu     sync.RWMutex
	active *key
	byKID  map[string]*key
	jwks   []byte // cached JSON of the public keys

	reloadMu   sync.Mutex
	lastReload time.Time
}

// Options configure a KeyRing.
type Options struct {
	Store       Store
	Algorithm   string
	HMACSecret  []byte        // HS256 only: the key, never stored, never published
	RetireAfter time.Duration // access TTL + reload interval + clock leeway
	Now         func() time.Time
	// MasterKey seals the private keys at rest (required).
	MasterKey *seal.Key
	Log       *slog.Logger // nil: slog.Default()
	// Keep lists other algorithms whose newest key the ring holds as it
	// holds its own (retired only by a newer key of the same algorithm), for
	// SignAs: the OpenID Connect provider signs ID tokens with RS256 for
	// clients registered so. Such a key is made by EnsureKey, not by Load.
	Keep []string
}

type key struct {
	id      string
	alg     string
	signer  any // crypto.Signer, or []byte for HS256
	public  any
	created time.Time
	header  string // the first part of every access token it signs (accessHeader)
}

// accessHeader is the encoded header of the access tokens a key signs,
// {"alg":…,"kid":…,"typ":"at+jwt"}: made once per key, not per token.
func accessHeader(alg, id string) string {
	h, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg, id, guard.TokenType})
	return base64.RawURLEncoding.EncodeToString(h)
}

// Load reads the stored keys; when none of the configured algorithm can sign
// (first start, or a changed --signing-alg), it creates one.
//
// Keys stored plain (by a version before keys were sealed) are sealed first,
// in one transaction, and logged ("sealed N signing keys"); keys sealed under
// an older master key of a rotated key file are sealed again under the
// first. A sealed key that does not open with MasterKey (a wrong or a new
// key file) fails Load with an error wrapping seal.ErrOpen: Load never
// replaces it with a new key, which would end every session, leave any
// other instance on different keys, and hide that the master key that
// opens the database's TOTP secrets too is missing.
func Load(ctx context.Context, o Options) (*KeyRing, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MasterKey == nil {
		return nil, errors.New("signing keys need a master key to be sealed with")
	}
	kr := &KeyRing{opts: o}
	if o.Algorithm == "HS256" && len(o.HMACSecret) < 32 {
		return nil, errors.New("HS256 needs a secret of at least 32 bytes")
	}
	kr.reloadMu.Lock()
	defer kr.reloadMu.Unlock()
	if err := kr.reload(ctx, true); err != nil {
		return nil, err
	}
	if kr.Algorithm() != o.Algorithm {
		if _, err := Rotate(ctx, o.Store, o.MasterKey, o.Algorithm, o.Now()); err != nil {
			return nil, err
		}
		if err := kr.reload(ctx, false); err != nil {
			return nil, err
		}
	}
	return kr, nil
}

// Rotate creates a new key for alg and stores it sealed with mk; it
// becomes the active key of every instance at its next reload. The record
// returned is the sealed one.
func Rotate(ctx context.Context, st Store, mk *seal.Key, alg string, now time.Time) (Record, error) {
	rec, err := Generate(alg, now)
	if err != nil {
		return Record{}, err
	}
	if rec, err = sealRecord(mk, rec); err != nil {
		return Record{}, err
	}
	if err := st.InsertSigningKey(ctx, rec); err != nil {
		return Record{}, fmt.Errorf("store new signing key: %w", err)
	}
	return rec, nil
}

// KeyState is a stored key as "keys list" shows it.
type KeyState struct {
	Record
	Active      bool
	Retired     bool      // recorded as retired, or past VerifyUntil
	VerifyUntil time.Time // for a replaced key: when it retires (zero for the active key)
}

// States computes each record's state at now: active, verifying until its
// retirement, or retired.
func States(records []Record, retireAfter time.Duration, now time.Time) []KeyState {
	sorted := slices.Clone(records)
	slices.SortStableFunc(sorted, func(a, b Record) int { return a.CreatedAt.Compare(b.CreatedAt) })
	out := make([]KeyState, len(sorted))
	for i, r := range sorted {
		out[i] = KeyState{Record: r}
		if i == len(sorted)-1 {
			out[i].Active = true
			continue
		}
		out[i].VerifyUntil = sorted[i+1].CreatedAt.Add(retireAfter)
		out[i].Retired = !r.RetiredAt.IsZero() || !now.Before(out[i].VerifyUntil)
	}
	return out
}

// Reload re-reads the keys: a key of the configured algorithm rotated by
// another instance or by "gatehouse keys rotate" becomes active here, and
// keys past their retirement leave (and are marked retired in the store).
//
// Only a key of the configured algorithm ever signs, since the server's
// verifier accepts that algorithm alone: a newer key of another algorithm
// (made by "keys rotate --signing-alg", or by an instance configured
// otherwise) is published and held, but neither signs here nor replaces this
// instance's key. When no key of the configured algorithm is left, Reload
// keeps the keys it had and reports it.
func (kr *KeyRing) Reload(ctx context.Context) error {
	kr.reloadMu.Lock()
	defer kr.reloadMu.Unlock()
	return kr.reload(ctx, false)
}

// reload reads the keys; without allowNone it refuses a key set in which
// nothing of the configured algorithm can sign, keeping the current one.
func (kr *KeyRing) reload(ctx context.Context, allowNone bool) error {
	now := kr.opts.Now()
	kr.lastReload = now
	records, err := kr.opts.Store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	if kr.needsSealing(records) {
		if records, err = kr.sealStored(ctx); err != nil {
			return err
		}
	}
	// A key of the configured algorithm is replaced only by a newer one of
	// that algorithm; a key of another algorithm, by any newer key (so a
	// changed --signing-alg retires the old algorithm's keys in time).
	states := States(records, kr.opts.RetireAfter, now)
	ownStates := make(map[string]KeyState)
	for _, alg := range append([]string{kr.opts.Algorithm}, kr.opts.Keep...) {
		var own []Record
		for _, r := range records {
			if r.Algorithm == alg {
				own = append(own, r)
			}
		}
		for _, st := range States(own, kr.opts.RetireAfter, now) {
			ownStates[st.ID] = st
		}
	}
	byKID := make(map[string]*key)
	var active *key
	for _, st := range states {
		if o, ok := ownStates[st.ID]; ok {
			st = o
			st.Retired = st.Retired || !st.RetiredAt.IsZero()
		} else {
			st.Active = false
		}
		if st.Retired {
			if st.RetiredAt.IsZero() { // newly retired: record it, once
				if err := kr.opts.Store.RetireSigningKey(ctx, st.ID, now); err != nil {
					return fmt.Errorf("retire signing key %s: %w", st.ID, err)
				}
			}
			continue
		}
		k, err := parseRecord(kr.opts.MasterKey, st.Record)
		if errors.Is(err, seal.ErrOpen) {
			return err
		}
		if err != nil {
			return fmt.Errorf("signing key %s: %w", st.ID, err)
		}
		byKID[k.id] = k
		if st.Active && k.alg == kr.opts.Algorithm {
			active = k
		}
	}
	if kr.opts.Algorithm == "HS256" {
		sum := sha256.Sum256(kr.opts.HMACSecret)
		id := "hs-" + base64.RawURLEncoding.EncodeToString(sum[:9])
		active = &key{id: id, alg: "HS256", signer: kr.opts.HMACSecret, public: kr.opts.HMACSecret, created: now,
			header: accessHeader("HS256", id)}
		byKID[active.id] = active
	}
	if active == nil && !allowNone {
		return fmt.Errorf("no usable %s signing key in the database; still signing with key %s", kr.opts.Algorithm, kr.activeID())
	}
	jwks, err := buildJWKS(byKID)
	if err != nil {
		return err
	}
	kr.mu.Lock()
	kr.active, kr.byKID, kr.jwks = active, byKID, jwks
	kr.mu.Unlock()
	return nil
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

// sealRecord seals a plain record's private key with mk.
func sealRecord(mk *seal.Key, rec Record) (Record, error) {
	sealed, err := mk.Seal(rec.PrivateKey, SealAAD(rec.ID))
	if err != nil {
		return Record{}, err
	}
	rec.PrivateKey, rec.Sealed = sealed, true
	return rec, nil
}

// needsSealing reports whether a stored key is plain, or a key still in use
// is sealed under a master key other than the one that seals now. (A
// retired key sealed under an older master key is left as it is: it is
// deleted a day after it retired, and that older key may be gone already.)
func (kr *KeyRing) needsSealing(records []Record) bool {
	for _, r := range records {
		if !r.Sealed || (r.RetiredAt.IsZero() && !kr.opts.MasterKey.Current(r.PrivateKey)) {
			return true
		}
	}
	return false
}

// sealStored seals the plain keys and reseals those sealed under an older
// master key, in one transaction, logs how many, and returns the keys as
// stored now. A sealed key that does not open fails it, changing nothing.
func (kr *KeyRing) sealStored(ctx context.Context) ([]Record, error) {
	mk := kr.opts.MasterKey
	var sealed, resealed int
	_, err := kr.opts.Store.SealSigningKeys(ctx, func(r Record) (Record, bool, error) {
		if !r.Sealed {
			sealed++
			r, err := sealRecord(mk, r)
			return r, err == nil, err
		}
		if !r.RetiredAt.IsZero() {
			return r, false, nil
		}
		out, changed, err := mk.Reseal(r.PrivateKey, SealAAD(r.ID))
		if err != nil {
			return r, false, openError(r.ID, err)
		}
		if changed {
			resealed++
		}
		r.PrivateKey = out
		return r, changed, nil
	})
	if err != nil {
		return nil, err
	}
	if sealed > 0 {
		kr.opts.Log.Info(fmt.Sprintf("sealed %d signing keys", sealed), "master_key", mk.ID())
	}
	if resealed > 0 {
		kr.opts.Log.Info(fmt.Sprintf("sealed %d signing keys again under the new master key", resealed), "master_key", mk.ID())
	}
	records, err := kr.opts.Store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	return records, nil
}

func openError(id string, err error) error {
	return fmt.Errorf("signing key %s cannot be opened with the master key: %w", id, err)
}

func parseRecord(mk *seal.Key, rec Record) (*key, error) {
	der := rec.PrivateKey
	if rec.Sealed {
		var err error
		if der, err = mk.Open(rec.PrivateKey, SealAAD(rec.ID)); err != nil {
			return nil, openError(rec.ID, err)
		}
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
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
	return &key{id: rec.ID, alg: rec.Algorithm, signer: signer, public: signer.Public(), created: rec.CreatedAt,
		header: accessHeader(rec.Algorithm, rec.ID)}, nil
}

// Algorithm is the algorithm of the active key ("" when there is none).
func (kr *KeyRing) Algorithm() string {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	if kr.active == nil {
		return ""
	}
	return kr.active.alg
}

func (kr *KeyRing) activeID() string {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	if kr.active == nil {
		return "(none)"
	}
	return kr.active.id
}

// Sign returns the compact JWT of c, signed by the active key, with the
// header {"alg", "typ": "at+jwt", "kid"}. The active key is always of the
// configured algorithm.
func (kr *KeyRing) Sign(c *guard.Claims) (string, error) { return kr.SignAccess(c) }

// SignAccess signs an access token of any claims (JSON-encoded), as Sign
// does: a service client's token carries no user's claims.
func (kr *KeyRing) SignAccess(c any) (string, error) {
	kr.mu.RLock()
	k := kr.active
	kr.mu.RUnlock()
	if k == nil || k.alg != kr.opts.Algorithm {
		return "", fmt.Errorf("no %s signing key", kr.opts.Algorithm)
	}
	// As jwt.Token.SignedString would, without encoding the header each time.
	claims, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signing := k.header + "." + base64.RawURLEncoding.EncodeToString(claims)
	sig, err := jwt.GetSigningMethod(k.alg).Sign(signing, k.signer)
	if err != nil {
		return "", err
	}
	signed := signing + "." + base64.RawURLEncoding.EncodeToString(sig)
	if k.alg != "ES256" {
		return signed, nil
	}
	return lowS(signed) // one spelling per token: s <= n/2
}

// SignAs signs claims with the newest held key of alg (the active key when
// alg is the configured algorithm), with the header {"alg", "typ", "kid"}
// ("typ" left out when empty). It is for ID tokens, whose algorithm a client
// chooses; alg must be the configured algorithm or one of Options.Keep.
func (kr *KeyRing) SignAs(alg, typ string, claims jwt.Claims) (string, error) {
	k := kr.newest(alg)
	if k == nil {
		_ = kr.Reload(context.Background()) // another instance may have made it
		if k = kr.newest(alg); k == nil {
			return "", fmt.Errorf("no %s signing key", alg)
		}
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(k.alg), claims)
	if typ != "" {
		t.Header["typ"] = typ
	}
	t.Header["kid"] = k.id
	return t.SignedString(k.signer)
}

func (kr *KeyRing) newest(alg string) *key {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	if alg == kr.opts.Algorithm {
		return kr.active
	}
	if alg == "HS256" || !slices.Contains(kr.opts.Keep, alg) {
		return nil
	}
	var best *key
	for _, k := range kr.byKID {
		if k.alg == alg && (best == nil || k.created.After(best.created)) {
			best = k
		}
	}
	return best
}

// EnsureKey makes a key of alg when the store holds none that is not
// retired, and reloads the ring.
func (kr *KeyRing) EnsureKey(ctx context.Context, alg string) error {
	if err := EnsureKey(ctx, kr.opts.Store, kr.opts.MasterKey, alg, kr.opts.Now()); err != nil {
		return err
	}
	return kr.Reload(ctx)
}

// EnsureKey stores a new key of alg unless one that is not retired exists
// (the command line's "client add --id-token-alg RS256"), sealed with mk.
func EnsureKey(ctx context.Context, st Store, mk *seal.Key, alg string, now time.Time) error {
	records, err := st.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	for _, r := range records {
		if r.Algorithm == alg && r.RetiredAt.IsZero() {
			return nil
		}
	}
	_, err = Rotate(ctx, st, mk, alg, now)
	return err
}

// VerificationKey implements guard.KeySource. An unknown kid may be a key
// another instance has just rotated in, so it reloads the keys first, at
// most once a second (and never twice at once), before saying no.
func (kr *KeyRing) VerificationKey(kid string) (guard.Key, bool) {
	if k, ok := kr.lookup(kid); ok {
		return k, true
	}
	if kr.reloadMu.TryLock() {
		if kr.opts.Now().Sub(kr.lastReload) >= time.Second {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = kr.reload(ctx, false) // on failure the key stays unknown; Follow logs
			cancel()
		}
		kr.reloadMu.Unlock()
	}
	return kr.lookup(kid)
}

func (kr *KeyRing) lookup(kid string) (guard.Key, bool) {
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
