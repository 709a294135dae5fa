package token_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

func loadWith(st token.Store, key *seal.Key, log *bytes.Buffer) (*token.KeyRing, error) {
	return token.Load(context.Background(), token.Options{Store: st, Algorithm: "EdDSA", RetireAfter: time.Hour,
		Now: func() time.Time { return now }, MasterKey: key, Log: slog.New(slog.NewTextHandler(log, nil))})
}

// assertSealed checks that no stored key parses as a private key and each
// opens with key for its own row only.
func assertSealed(t *testing.T, records []token.Record, key *seal.Key) {
	t.Helper()
	for _, r := range records {
		if !r.Sealed {
			t.Fatalf("key %s is stored plain", r.ID)
		}
		if _, err := x509.ParsePKCS8PrivateKey(r.PrivateKey); err == nil {
			t.Fatalf("stored key %s parses as a private key", r.ID)
		}
		der, err := key.Open(r.PrivateKey, token.SealAAD(r.ID))
		if err != nil {
			t.Fatalf("key %s does not open: %v", r.ID, err)
		}
		if _, err := x509.ParsePKCS8PrivateKey(der); err != nil {
			t.Fatalf("key %s opens to no private key: %v", r.ID, err)
		}
		if _, err := key.Open(r.PrivateKey, token.SealAAD(r.ID+"x")); err == nil {
			t.Fatalf("key %s opens for another row", r.ID)
		}
	}
}

func TestNewKeysAreStoredSealed(t *testing.T) {
	t.Parallel()
	st := &memStore{}
	var log bytes.Buffer
	if _, err := loadWith(st, mk, &log); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"ES256", "RS256"} {
		if _, err := token.Rotate(context.Background(), st, mk, alg, now); err != nil {
			t.Fatal(err)
		}
	}
	if len(st.records) != 3 {
		t.Fatalf("%d keys stored, want 3", len(st.records))
	}
	assertSealed(t, st.records, mk)
	if strings.Contains(log.String(), "sealed") {
		t.Fatalf("nothing was plain, yet the log says %q", log.String())
	}
	if _, err := token.Load(context.Background(), token.Options{Store: st, Algorithm: "EdDSA"}); err == nil {
		t.Fatal("Load without a master key was accepted")
	}
}

// Keys stored plain by an earlier version are sealed at the first Load, in
// place: the same kid goes on signing, and tokens signed before verify.
func TestLoadSealsPlainKeysOnce(t *testing.T) {
	t.Parallel()
	plain, _ := token.Generate("EdDSA", now.Add(-time.Minute))
	st := &memStore{records: []token.Record{plain}}
	var log bytes.Buffer
	kr, err := loadWith(st, mk, &log)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.records) != 1 || st.records[0].ID != plain.ID {
		t.Fatalf("sealing made a new key: %+v", st.records)
	}
	assertSealed(t, st.records, mk)
	if n := strings.Count(log.String(), "sealed 1 signing keys"); n != 1 {
		t.Fatalf("log %q, want one line sealed 1 signing keys", log.String())
	}
	signed, err := kr.Sign(claims())
	if err != nil || kidOf(t, signed) != plain.ID {
		t.Fatalf("signs with %v (%v), want the sealed key %s", signed, err, plain.ID)
	}
	log.Reset()
	again, err := loadWith(st, mk, &log)
	if err != nil {
		t.Fatal(err)
	}
	if log.Len() != 0 {
		t.Fatalf("the second start logged %q", log.String())
	}
	g, _ := guard.New(guard.Config{Issuer: "iss", Audience: "aud", Algorithms: []string{"EdDSA"}, Keys: again})
	if _, err := g.Verify(signed); err != nil {
		t.Fatalf("a token of the sealed key is refused after a restart: %v", err)
	}
}

// An instance of an older version inserting a plain key (a rolling
// upgrade) has it sealed at the next reload of a newer one.
func TestReloadSealsAPlainKeyInsertedLater(t *testing.T) {
	t.Parallel()
	st := &memStore{}
	var log bytes.Buffer
	kr, err := loadWith(st, mk, &log)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := token.Generate("EdDSA", now.Add(time.Second))
	st.InsertSigningKey(context.Background(), plain)
	if err := kr.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertSealed(t, st.records, mk)
	if signed, _ := kr.Sign(claims()); kidOf(t, signed) != plain.ID {
		t.Fatal("the newer key is not active after the reload")
	}
}

// A sealed key the master key does not open stops Load and changes
// nothing: no new key is made (every session would end) and the plain keys
// beside it stay as they were (one transaction).
func TestLoadRefusesKeysItCannotOpen(t *testing.T) {
	t.Parallel()
	other, _ := seal.Generate()
	for _, tt := range []struct {
		name    string
		records func() []token.Record
	}{
		{"another master key", func() []token.Record {
			r, _ := token.Generate("EdDSA", now)
			sealed, _ := mk.Seal(r.PrivateKey, token.SealAAD(r.ID))
			r.PrivateKey, r.Sealed = sealed, true
			plain, _ := token.Generate("EdDSA", now.Add(-time.Hour))
			return []token.Record{plain, r}
		}},
		{"a sealed key copied into another row", func() []token.Record {
			a, _ := token.Generate("EdDSA", now.Add(-time.Second))
			b, _ := token.Generate("EdDSA", now)
			sa, _ := other.Seal(a.PrivateKey, token.SealAAD(a.ID))
			a.PrivateKey, a.Sealed = sa, true
			b.PrivateKey, b.Sealed = sa, true // a's key under b's kid
			return []token.Record{a, b}
		}},
		{"a changed byte", func() []token.Record {
			r, _ := token.Generate("EdDSA", now)
			sealed, _ := other.Seal(r.PrivateKey, token.SealAAD(r.ID))
			sealed[len(sealed)-3] ^= 0x80
			r.PrivateKey, r.Sealed = sealed, true
			return []token.Record{r}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			records := tt.records()
			st := &memStore{records: records}
			before := make([][]byte, len(records))
			for i, r := range records {
				before[i] = bytes.Clone(r.PrivateKey)
			}
			var log bytes.Buffer
			_, err := loadWith(st, other, &log)
			if !errors.Is(err, seal.ErrOpen) {
				t.Fatalf("Load = %v, want seal.ErrOpen", err)
			}
			if !strings.Contains(err.Error(), "cannot be opened") {
				t.Fatalf("error %q does not say the key cannot be opened", err)
			}
			if len(st.records) != len(records) {
				t.Fatalf("Load made a new key: %d records, had %d", len(st.records), len(records))
			}
			for i, r := range st.records {
				if !bytes.Equal(r.PrivateKey, before[i]) || r.Sealed != records[i].Sealed {
					t.Fatalf("key %s changed although Load failed", r.ID)
				}
			}
		})
	}
}

// A key file with a new master key first and the old one after: the keys
// in use are sealed again under the new one, so the old can then go.
func TestMasterKeyRotationReseals(t *testing.T) {
	t.Parallel()
	_, oldRaw := seal.Generate()
	_, newRaw := seal.Generate()
	oldKey, _ := seal.New(oldRaw)
	newKey, _ := seal.New(newRaw)
	both, err := seal.Parse(seal.Encode(newRaw, oldRaw))
	if err != nil {
		t.Fatal(err)
	}
	st := &memStore{}
	var log bytes.Buffer
	if _, err := loadWith(st, oldKey, &log); err != nil {
		t.Fatal(err)
	}
	if _, err := loadWith(st, newKey, &log); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("the new key alone opened keys of the old: %v", err)
	}
	if _, err := loadWith(st, both, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "sealed 1 signing keys again under the new master key") {
		t.Fatalf("log %q", log.String())
	}
	assertSealed(t, st.records, newKey)
	if _, err := loadWith(st, newKey, &log); err != nil {
		t.Fatalf("after the rotation the new key alone does not open: %v", err)
	}
}
