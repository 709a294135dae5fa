package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// fastParams keep unit tests quick; the format and code path are the same.
var fastParams = Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

func TestCheckPolicy(t *testing.T) {
	tests := []struct {
		name       string
		password   string
		identities []string
		wantErr    bool
	}{
		{"ok", "correct horse battery", nil, false},
		{"unicode counts runes", "пароль-日本語", nil, false},
		{"spaces allowed", "        a       ", nil, false},
		{"too short", "Ab1!xyz", nil, true},
		{"short in runes though long in bytes", "日本語日本語日", nil, true},
		{"common", "password1", nil, true},
		{"common any case", "PassWord1", nil, true},
		{"common plus digits", "password123", nil, true},
		{"common plus symbols", "Qwerty2024!", nil, true},
		{"common word inside a phrase is fine", "my password is long", nil, false},
		{"short base is not matched", "abc12345678", nil, false},
		{"equals email", "ann@example.com", []string{"Ann@Example.com", ""}, true},
		{"equals username", "romel-the-great", []string{"", "Romel-The-Great"}, true},
		{"max bytes ok", strings.Repeat("x", MaxBytes-3) + "yz!", nil, false},
		{"over max bytes", strings.Repeat("x", MaxBytes+1), nil, true},
		{"invalid utf8", "abcdefgh\xff", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPolicy(tt.password, tt.identities...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckPolicy(%q) = %v, want error %v", tt.password, err, tt.wantErr)
			}
			var pe *PolicyError
			if err != nil && !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *PolicyError", err)
			}
		})
	}
}

func TestHashVerify(t *testing.T) {
	h, err := NewHasher(Options{Params: fastParams})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "s3cret pass")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("unexpected PHC string %q", enc)
	}
	if ok, rehash, err := h.Verify(ctx, "s3cret pass", enc); !ok || rehash || err != nil {
		t.Fatalf("Verify(right) = %v, %v, %v", ok, rehash, err)
	}
	if ok, _, err := h.Verify(ctx, "s3cret pasS", enc); ok || err != nil {
		t.Fatalf("Verify(wrong) = %v, %v", ok, err)
	}
	enc2, _ := h.Hash(ctx, "s3cret pass")
	if enc == enc2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	if err := h.VerifyDummy(ctx, "anything"); err != nil {
		t.Fatal(err)
	}

	// A hasher with stronger parameters still verifies, and asks for a rehash.
	strong, _ := NewHasher(Options{Params: Params{Memory: 128, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}})
	if ok, rehash, _ := strong.Verify(ctx, "s3cret pass", enc); !ok || !rehash {
		t.Fatalf("old-params hash: ok=%v rehash=%v, want true true", ok, rehash)
	}
}

func TestVerifyMalformed(t *testing.T) {
	h, _ := NewHasher(Options{Params: fastParams})
	for _, enc := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5a2V5",
	} {
		if ok, _, err := h.Verify(context.Background(), "pw", enc); ok || err == nil {
			t.Errorf("Verify(%q) = %v, %v; want false and an error", enc, ok, err)
		}
	}
}

func TestPoolBackpressure(t *testing.T) {
	p := newPool(1, 2, time.Minute, nil)
	release := make(chan struct{})
	started := make(chan struct{})
	go p.do(context.Background(), func() { close(started); <-release })
	<-started

	var wg sync.WaitGroup
	for range 2 { // fill the queue
		wg.Add(1)
		go func() { defer wg.Done(); _ = p.do(context.Background(), func() {}) }()
	}
	for p.waiting.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	if err := p.do(context.Background(), func() { t.Error("ran past a full queue") }); !errors.Is(err, ErrBusy) {
		t.Fatalf("full queue: err = %v, want ErrBusy", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := newPool(1, 1, time.Minute, nil).do(ctx, func() {}); err != nil {
		t.Fatalf("free slot with cancelled ctx should still run: %v", err)
	}
	close(release)
	wg.Wait()
	if p.waiting.Load() != 0 || len(p.slots) != 0 {
		t.Fatalf("pool not drained: waiting=%d slots=%d", p.waiting.Load(), len(p.slots))
	}
}

func TestPoolMaxWait(t *testing.T) {
	p := newPool(1, 4, 10*time.Millisecond, nil)
	release := make(chan struct{})
	started := make(chan struct{})
	go p.do(context.Background(), func() { close(started); <-release })
	<-started
	defer close(release)
	if err := p.do(context.Background(), func() {}); !errors.Is(err, ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy after max wait", err)
	}
}

func BenchmarkHashDefault(b *testing.B) {
	h, _ := NewHasher(Options{})
	for b.Loop() {
		if _, err := h.Hash(context.Background(), "correct horse battery"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPoolReportsIdleAfterABurst(t *testing.T) {
	idle := make(chan struct{}, 4)
	p := newPool(2, 8, time.Minute, nil)
	p.onIdle = func() { idle <- struct{}{} }
	for range 5 {
		_ = p.do(context.Background(), func() {})
	}
	select {
	case <-idle:
	case <-time.After(5 * time.Second):
		t.Fatal("onIdle not called after the pool went quiet")
	}
	select {
	case <-idle:
		t.Fatal("onIdle called twice for one burst")
	case <-time.After(1500 * time.Millisecond):
	}
}
