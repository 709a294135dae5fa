package ratelimit

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestRedisLimiterIsSharedAcrossInstances(t *testing.T) {
	c := testsupport.Redis(t)
	key := "test:" + rand.Text()
	a := NewRedis(c, "test", NewMemory(nil), quiet)
	b := NewRedis(c, "test", NewMemory(nil), quiet)
	l := Per(3, time.Minute, 3)
	ctx := context.Background()
	for i, lim := range []*Redis{a, b, a} {
		if ok, _, err := lim.Allow(ctx, key, l); !ok || err != nil {
			t.Fatalf("request %d refused: %v", i+1, err)
		}
	}
	ok, retry, err := b.Allow(ctx, key, l)
	if ok || err != nil || retry <= 0 {
		t.Fatalf("4th request across instances: ok=%v retry=%s err=%v", ok, retry, err)
	}
}

func TestRedisDownFallsBackToMemory(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer dead.Close()
	lim := NewRedis(dead, "test", NewMemory(nil), quiet)
	l := Per(2, time.Minute, 2)
	for i := range 2 {
		if ok, _, err := lim.Allow(context.Background(), "k", l); !ok || err != nil {
			t.Fatalf("request %d with Redis down: ok=%v err=%v", i+1, ok, err)
		}
	}
	if ok, _, _ := lim.Allow(context.Background(), "k", l); ok {
		t.Fatal("the per-instance fallback does not limit")
	}
	lock := NewRedisLockout(dead, "test", LockoutPolicy{}, NewMemoryLockout(LockoutPolicy{}, nil), quiet)
	for i := range 6 {
		if checked, _, _ := attempt(t, lock, "k", Failed); !checked {
			t.Fatalf("failure %d refused with Redis down", i+1)
		}
	}
	if checked, retry, _ := attempt(t, lock, "k", Failed); checked || retry <= 0 {
		t.Fatalf("fallback lockout: checked %v, retry %s", checked, retry)
	}
}

// Empty reads a bucket without taking from it, in memory and in Redis: a
// bucket is empty once its tokens are taken, and asking does not empty it.
func TestEmptyTakesNothing(t *testing.T) {
	limiters := map[string]interface {
		Limiter
		EmptyChecker
	}{"memory": NewMemory(nil)}
	if os.Getenv("GATEHOUSE_TEST_REDIS") != "" {
		limiters["redis"] = NewRedis(testsupport.Redis(t), "test", NewMemory(nil), quiet)
	}
	ctx := context.Background()
	l := Per(2, time.Hour, 2)
	for name, lim := range limiters {
		key := "test:" + rand.Text()
		for i := range 5 {
			if empty, _, err := lim.Empty(ctx, key, l); empty || err != nil {
				t.Fatalf("%s: a full bucket asked %d times is empty (%v)", name, i+1, err)
			}
		}
		for range 2 {
			if ok, _, _ := lim.Allow(ctx, key, l); !ok {
				t.Fatalf("%s: a token refused from a bucket that was only asked about", name)
			}
		}
		if empty, retry, err := lim.Empty(ctx, key, l); !empty || retry <= 0 || err != nil {
			t.Fatalf("%s: the emptied bucket: empty=%v retry=%s err=%v", name, empty, retry, err)
		}
	}
}
