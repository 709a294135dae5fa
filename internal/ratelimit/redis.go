package ratelimit

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Shared limits: when several instances serve one deployment, the counts
// live in Redis so they hold across instances. If Redis fails, each call
// falls back to this instance's memory, with a warning at most once a
// minute: a Redis outage loosens the limits (to per instance), it never
// fails a request.

// Redis is a Limiter shared through Redis (GCRA, github.com/go-redis/redis_rate).
type Redis struct {
	prefix   string
	limiter  *redis_rate.Limiter
	fallback Limiter
	warn     *warner
}

// NewRedis returns a Limiter on client whose keys start with namespace (one
// deployment's instances share it), falling back to fallback.
func NewRedis(client redis.UniversalClient, namespace string, fallback Limiter, log *slog.Logger) *Redis {
	return &Redis{prefix: "gatehouse:" + namespace + ":rate:", limiter: redis_rate.NewLimiter(client), fallback: fallback, warn: &warner{log: log}}
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string, l Limit) (bool, time.Duration, error) {
	if r.warn.down() {
		return r.fallback.Allow(ctx, key, l)
	}
	res, err := r.limiter.Allow(ctx, r.prefix+key, redis_rate.Limit{Rate: l.Count, Period: l.Period, Burst: l.Burst})
	if err != nil {
		r.warn.warn(err)
		return r.fallback.Allow(ctx, key, l)
	}
	if res.Allowed == 0 {
		return false, res.RetryAfter, nil
	}
	return true, 0, nil
}

// RedisLockout is a Lockout shared through Redis, with the same policy as
// MemoryLockout: a streak of failures locks for doubling times, and the
// failures of any hour are capped.
type RedisLockout struct {
	prefix   string
	client   redis.UniversalClient
	policy   LockoutPolicy
	fallback Lockout
	warn     *warner
}

// NewRedisLockout returns a Lockout on client, keys under namespace, with policy p.
func NewRedisLockout(client redis.UniversalClient, namespace string, p LockoutPolicy, fallback Lockout, log *slog.Logger) *RedisLockout {
	p.defaults()
	return &RedisLockout{prefix: "gatehouse:" + namespace + ":", client: client, policy: p, fallback: fallback, warn: &warner{log: log}}
}

func (l *RedisLockout) lockKeys(key string) (locked, streak, hour string) {
	return l.prefix + "lock:" + key, l.prefix + "streak:" + key, l.prefix + "hour:" + key
}

// Locked implements Lockout.
func (l *RedisLockout) Locked(ctx context.Context, key string) (time.Duration, error) {
	if l.warn.down() {
		return l.fallback.Locked(ctx, key)
	}
	locked, _, _ := l.lockKeys(key)
	d, err := l.client.PTTL(ctx, locked).Result()
	if err != nil {
		l.warn.warn(err)
		return l.fallback.Locked(ctx, key)
	}
	return max(d, 0), nil
}

// Fail implements Lockout.
func (l *RedisLockout) Fail(ctx context.Context, key string) (time.Duration, error) {
	if l.warn.down() {
		return l.fallback.Fail(ctx, key)
	}
	locked, streakKey, hourKey := l.lockKeys(key)
	var streak, hourly *redis.IntCmd
	var hourTTL *redis.DurationCmd
	_, err := l.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		streak = p.Incr(ctx, streakKey)
		p.Expire(ctx, streakKey, time.Hour)
		hourly = p.Incr(ctx, hourKey)
		p.ExpireNX(ctx, hourKey, time.Hour) // the hour starts at its first failure
		hourTTL = p.PTTL(ctx, hourKey)
		return nil
	})
	if err != nil {
		l.warn.warn(err)
		return l.fallback.Fail(ctx, key)
	}
	p := l.policy
	var lock time.Duration
	if over := int(streak.Val()) - p.FreeFailures; over > 0 {
		lock = p.MaxLock
		if over <= 30 && p.BaseLock<<(over-1) < p.MaxLock {
			lock = p.BaseLock << (over - 1)
		}
	}
	if int(hourly.Val()) >= p.HourlyCap && hourTTL.Val() > lock {
		lock = hourTTL.Val()
	}
	if lock > 0 {
		if err := l.client.Set(ctx, locked, strconv.Itoa(int(streak.Val())), lock).Err(); err != nil {
			l.warn.warn(err)
			return l.fallback.Fail(ctx, key)
		}
	}
	return lock, nil
}

// Succeed implements Lockout: the streak ends; the hour's count stays.
func (l *RedisLockout) Succeed(ctx context.Context, key string) error {
	if l.warn.down() {
		return l.fallback.Succeed(ctx, key)
	}
	_, streak, _ := l.lockKeys(key)
	if err := l.client.Del(ctx, streak).Err(); err != nil {
		l.warn.warn(err)
		return l.fallback.Succeed(ctx, key)
	}
	return nil
}

// warner is a small circuit breaker: after a Redis failure, calls skip
// Redis for five seconds (so an outage costs one slow call per five seconds,
// not one per request), and the failure is logged at most once a minute.
type warner struct {
	log       *slog.Logger
	last      atomic.Int64 // Unix seconds of the last warning
	downUntil atomic.Int64 // Unix ms until which Redis is not tried
}

// down reports whether Redis failed just now and should not be tried.
func (w *warner) down() bool { return time.Now().UnixMilli() < w.downUntil.Load() }

func (w *warner) warn(err error) {
	w.downUntil.Store(time.Now().Add(5 * time.Second).UnixMilli())
	now := time.Now().Unix()
	if last := w.last.Load(); now-last >= 60 && w.last.CompareAndSwap(last, now) {
		w.log.Warn("redis unavailable: rate limits and lockouts are per instance until it returns", "err", err)
	}
}
