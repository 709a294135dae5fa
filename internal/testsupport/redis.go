package testsupport

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Redis is a client of the Redis that GATEHOUSE_TEST_REDIS names, closed
// when the test ends. Without the variable the test is skipped; a Redis
// named but not answering fails it (a broken set-up must not pass).
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	url := os.Getenv("GATEHOUSE_TEST_REDIS")
	if url == "" {
		t.Skip("Redis tests skipped: set GATEHOUSE_TEST_REDIS to a redis:// URL to run them")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("GATEHOUSE_TEST_REDIS: %v", err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis at GATEHOUSE_TEST_REDIS: %v", err)
	}
	return c
}
