package token_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/golang-jwt/jwt/v5"
)

// An ES256 server whose database gains a newer key of another algorithm (a
// "keys rotate" made for EdDSA, or an instance configured differently) goes
// on signing ES256, which its own verifier accepts, and keeps its key past
// the other key's retirement delay.
func TestRingSignsOnlyWithItsConfiguredAlgorithm(t *testing.T) {
	t.Parallel()
	st := &memStore{}
	clock := now
	opts := token.Options{MasterKey: mk, Store: st, Algorithm: "ES256", RetireAfter: 16 * time.Minute, Now: func() time.Time { return clock }}
	kr, err := token.Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := guard.New(guard.Config{Issuer: "iss", Audience: "aud", Algorithms: []string{"ES256"}, Keys: kr,
		Now: func() time.Time { return clock }})
	c := claims()
	c.ExpiresAt = jwt.NewNumericDate(now.Add(24 * time.Hour))

	clock = clock.Add(time.Second)
	if _, err := token.Rotate(context.Background(), st, mk, "EdDSA", clock); err != nil {
		t.Fatal(err)
	}
	for _, step := range []time.Duration{0, 17 * time.Minute} { // right after, and after the retirement delay
		clock = clock.Add(step)
		if err := kr.Reload(context.Background()); err != nil {
			t.Fatalf("reload after %s: %v", step, err)
		}
		if alg := kr.Algorithm(); alg != "ES256" {
			t.Fatalf("after %s the active key is %s, want ES256", step, alg)
		}
		signed, err := kr.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Verify(signed); err != nil {
			t.Fatalf("after %s the server's own guard refuses its fresh token: %v", step, err)
		}
	}
	if !st.records[0].RetiredAt.IsZero() {
		t.Fatal("the ES256 key was retired although no ES256 key replaced it")
	}

	// A rotation of its own algorithm still replaces the key.
	clock = clock.Add(time.Second)
	rec, err := token.Rotate(context.Background(), st, mk, "ES256", clock)
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	signed, _ := kr.Sign(c)
	if kidOf(t, signed) != rec.ID {
		t.Fatal("a newer ES256 key did not become active")
	}
}

// Changing --signing-alg and restarting still moves the server to the new
// algorithm; the old algorithm's key retires once its tokens have expired.
func TestRestartWithAnotherAlgorithmRetiresTheOldKey(t *testing.T) {
	t.Parallel()
	st := &memStore{}
	clock := now
	opts := token.Options{MasterKey: mk, Store: st, Algorithm: "EdDSA", RetireAfter: 16 * time.Minute, Now: func() time.Time { return clock }}
	if _, err := token.Load(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Second)
	opts.Algorithm = "ES256"
	kr, err := token.Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if kr.Algorithm() != "ES256" || jwksLen(t, kr) != 2 {
		t.Fatalf("after the restart: active %s, %d keys published; want ES256, 2", kr.Algorithm(), jwksLen(t, kr))
	}
	clock = clock.Add(17 * time.Minute)
	if err := kr.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := jwksLen(t, kr); n != 1 || st.records[0].RetiredAt.IsZero() {
		t.Fatalf("the EdDSA key did not retire: %d keys published", n)
	}
}
