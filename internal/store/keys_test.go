package store_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// Keys stored plain by the code before sealing are sealed in place by the
// first Load with a master key; afterwards nothing in the table parses as
// a private key, and the store says it holds sealed secrets.
func TestPlainSigningKeysAreSealedInPlace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openTemp(t)
	if held, err := st.HoldsSealedSecrets(ctx); err != nil || held {
		t.Fatalf("an empty database holds sealed secrets: %v %v", held, err)
	}
	var ids []string
	for i, alg := range []string{"EdDSA", "ES256"} {
		rec, _ := token.Generate(alg, now.Add(time.Duration(i)*time.Second))
		if err := st.InsertPlainSigningKey(ctx, rec.ID, rec.Algorithm, rec.PrivateKey, rec.CreatedAt); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.ID)
	}
	records, _ := st.SigningKeys(ctx)
	if len(records) != 2 || records[0].Sealed || records[1].Sealed {
		t.Fatalf("plain rows read back as %+v", records)
	}
	mk, _ := seal.Generate()
	var log bytes.Buffer
	if _, err := token.Load(ctx, token.Options{Store: st, Algorithm: "ES256", RetireAfter: time.Hour, MasterKey: mk,
		Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(&log, nil))}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "sealed 2 signing keys") {
		t.Fatalf("log %q", log.String())
	}
	records, _ = st.SigningKeys(ctx)
	if len(records) != 2 {
		t.Fatalf("%d keys after sealing, want the 2 there were", len(records))
	}
	for i, r := range records {
		if r.ID != ids[i] || !r.Sealed {
			t.Fatalf("key %s: sealed %v", r.ID, r.Sealed)
		}
		if _, err := x509.ParsePKCS8PrivateKey(r.PrivateKey); err == nil {
			t.Fatalf("key %s still parses as a private key", r.ID)
		}
		if _, err := mk.Open(r.PrivateKey, token.SealAAD(r.ID)); err != nil {
			t.Fatalf("key %s does not open: %v", r.ID, err)
		}
	}
	if held, err := st.HoldsSealedSecrets(ctx); err != nil || !held {
		t.Fatalf("HoldsSealedSecrets after sealing = %v %v", held, err)
	}
}

// SealSigningKeys is one transaction: a failure part-way stores nothing,
// and two instances sealing at once seal each key once.
func TestSealSigningKeysIsOneTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openTemp(t)
	for i := range 3 {
		rec, _ := token.Generate("EdDSA", now.Add(time.Duration(i)*time.Second))
		if err := st.InsertPlainSigningKey(ctx, rec.ID, rec.Algorithm, rec.PrivateKey, rec.CreatedAt); err != nil {
			t.Fatal(err)
		}
	}
	mk, _ := seal.Generate()
	sealOne := func(r token.Record) (token.Record, bool, error) {
		if r.Sealed {
			return r, false, nil
		}
		out, err := mk.Seal(r.PrivateKey, token.SealAAD(r.ID))
		r.PrivateKey, r.Sealed = out, true
		return r, true, err
	}
	calls := 0
	boom := errors.New("boom")
	_, err := st.SealSigningKeys(ctx, func(r token.Record) (token.Record, bool, error) {
		if calls++; calls == 3 {
			return r, false, boom
		}
		return sealOne(r)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("SealSigningKeys = %v, want the callback's error", err)
	}
	if held, _ := st.HoldsSealedSecrets(ctx); held {
		t.Fatal("a failed SealSigningKeys left keys sealed")
	}

	var wg sync.WaitGroup
	counts := make([]int, 4)
	errs := make([]error, 4)
	for i := range counts {
		wg.Go(func() { counts[i], errs[i] = st.SealSigningKeys(ctx, sealOne) })
	}
	wg.Wait()
	total := 0
	for i := range counts {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		total += counts[i]
	}
	if total != 3 {
		t.Fatalf("concurrent sealing changed %d rows (%v), want each of the 3 once", total, counts)
	}
}
