package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
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

// lockKeys are key's three Redis keys. The hash tag keeps them in one
// slot of a Redis Cluster, as one script needs.
func (l *RedisLockout) lockKeys(key string) []string {
	base := l.prefix + "lockout:{" + key + "}:"
	return []string{base + "lock", base + "streak", base + "hour"}
}

// beginScript is Begin in one step on the Redis server, so instances
// racing on one account are ordered: refuse while locked; else count the
// attempt in the streak and in the hour (which starts at its first
// failure), and set the lock this failure earns.
//
// KEYS: lock, streak, hour. ARGV: free failures, base lock ms, max lock ms,
// hourly cap. Returns {retry ms, lock ms}.
var beginScript = redis.NewScript(`
local left = redis.call('PTTL', KEYS[1])
if left > 0 then
	return {left, 0}
end
local streak = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 3600000)
local hourly = redis.call('INCR', KEYS[3])
if redis.call('PTTL', KEYS[3]) < 0 then
	redis.call('PEXPIRE', KEYS[3], 3600000)
end
local free, base, max, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local lock = 0
local over = streak - free
if over > 0 then
	lock = max
	if over <= 30 and base * 2 ^ (over - 1) < max then
		lock = base * 2 ^ (over - 1)
	end
end
if hourly >= cap then
	local hour = redis.call('PTTL', KEYS[3])
	if hour > lock then
		lock = hour
	end
end
if lock > 0 then
	redis.call('SET', KEYS[1], streak, 'PX', math.floor(lock))
end
return {0, math.floor(lock)}
`)

// succeedScript refunds a right answer: the streak and its lock end, and
// the attempt Begin charged leaves the hour's count.
var succeedScript = redis.NewScript(`
redis.call('DEL', KEYS[1], KEYS[2])
if redis.call('DECR', KEYS[3]) <= 0 then
	redis.call('DEL', KEYS[3])
end
return 0
`)

// Begin implements Lockout with one script (atomic on the Redis server).
func (l *RedisLockout) Begin(ctx context.Context, key string) (time.Duration, time.Duration, error) {
	if l.warn.down() {
		return l.fallback.Begin(ctx, key)
	}
	p := l.policy
	res, err := beginScript.Run(ctx, l.client, l.lockKeys(key),
		p.FreeFailures, p.BaseLock.Milliseconds(), p.MaxLock.Milliseconds(), p.HourlyCap).Int64Slice()
	if err != nil || len(res) != 2 {
		if err == nil {
			err = fmt.Errorf("lockout script answered %v", res)
		}
		l.warn.warn(err)
		return l.fallback.Begin(ctx, key)
	}
	return time.Duration(res[0]) * time.Millisecond, time.Duration(res[1]) * time.Millisecond, nil
}

// Succeed implements Lockout.
func (l *RedisLockout) Succeed(ctx context.Context, key string) error {
	if l.warn.down() {
		return l.fallback.Succeed(ctx, key)
	}
	if err := succeedScript.Run(ctx, l.client, l.lockKeys(key)).Err(); err != nil {
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
