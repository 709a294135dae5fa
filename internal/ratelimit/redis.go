package ratelimit

import (
	"context"
	"crypto/rand"
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

// Empty reports whether key's bucket has no token left, without taking one
// (redis_rate with a cost of 0 reads the bucket and changes nothing).
func (r *Redis) Empty(ctx context.Context, key string, l Limit) (bool, time.Duration, error) {
	if r.warn.down() {
		if e, ok := r.fallback.(EmptyChecker); ok {
			return e.Empty(ctx, key, l)
		}
		return false, 0, nil
	}
	res, err := r.limiter.AllowN(ctx, r.prefix+key, redis_rate.Limit{Rate: l.Count, Period: l.Period, Burst: l.Burst}, 0)
	if err != nil {
		r.warn.warn(err)
		return false, 0, nil
	}
	if res.Remaining >= 1 {
		return false, 0, nil
	}
	return true, l.Period / time.Duration(max(l.Count, 1)), nil
}

// RedisLockout is a Lockout shared through Redis, with the same policy as
// MemoryLockout: a streak of failures locks for doubling times, the
// failures of any hour are capped, and an account's checks in flight hold
// its slots, wherever they run.
type RedisLockout struct {
	prefix   string
	client   redis.UniversalClient
	policy   LockoutPolicy
	fallback Lockout
	warn     *warner
	settled  wakeups       // this instance's settles wake its waiters at once
	lease    time.Duration // slotLease (shorter in tests)
}

// NewRedisLockout returns a Lockout on client, keys under namespace, with policy p.
func NewRedisLockout(client redis.UniversalClient, namespace string, p LockoutPolicy, fallback Lockout, log *slog.Logger) *RedisLockout {
	p.defaults()
	return &RedisLockout{prefix: "gatehouse:" + namespace + ":", client: client, policy: p, fallback: fallback, warn: &warner{log: log}, lease: slotLease}
}

// slotLease is how long a slot in Redis is held at most: longer than any
// check (the hash pool's wait, a hash, a few queries), so a check never
// loses its slot, and short enough that the slots of an instance that
// crashed mid-check come back soon.
const slotLease = 30 * time.Second

// slotPoll is how often a waiter asks Redis again for a slot, to see the
// settles of other instances (those of its own wake it at once).
const slotPoll = 20 * time.Millisecond

// lockKeys are key's four Redis keys: the lock, the streak, the hour's
// count, and the slots in flight (a sorted set of reservations scored by
// the end of their lease). The hash tag keeps them in one slot of a Redis
// Cluster, as one script needs.
func (l *RedisLockout) lockKeys(key string) []string {
	base := l.prefix + "lockout:{" + key + "}:"
	return []string{base + "lock", base + "streak", base + "hour", base + "flight"}
}

// takeScript is one look of Begin, atomic on the Redis server, so
// instances racing on one account are ordered: refuse while locked; else
// forget the reservations whose lease ended (an instance that died
// mid-check), and reserve a slot if one is free.
//
// KEYS: lock, streak, hour, flight. ARGV: free failures, hourly cap,
// reservation id, lease ms. Returns {0} reserved, {1, retry ms} locked,
// {2} every slot taken.
var takeScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local left = redis.call('PTTL', KEYS[1])
if left > 0 then
	return {1, left}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local streak = tonumber(redis.call('GET', KEYS[2]) or '0')
local hourly = tonumber(redis.call('GET', KEYS[3]) or '0')
local free, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local slots = math.max(1, math.min(free + 1 - streak, cap - hourly))
if redis.call('ZCARD', KEYS[4]) >= slots then
	return {2}
end
local lease = tonumber(ARGV[4])
redis.call('ZADD', KEYS[4], now + lease, ARGV[3])
redis.call('PEXPIRE', KEYS[4], lease)
return {0}
`)

// settleScript is Settle in one step: free the slot; then for a failure,
// count it in the streak and in the hour (which starts at its first
// failure) and set the lock it earns; for a success, end the streak and
// its lock.
//
// KEYS: lock, streak, hour, flight. ARGV: outcome, reservation id, free
// failures, base lock ms, max lock ms, hourly cap. Returns the lock in ms.
var settleScript = redis.NewScript(`
redis.call('ZREM', KEYS[4], ARGV[2])
if ARGV[1] == 'succeeded' then
	redis.call('DEL', KEYS[1], KEYS[2])
	return 0
end
if ARGV[1] ~= 'failed' then
	return 0
end
local streak = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 3600000)
local hourly = redis.call('INCR', KEYS[3])
if redis.call('PTTL', KEYS[3]) < 0 then
	redis.call('PEXPIRE', KEYS[3], 3600000)
end
local free, base, max, cap = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
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
return math.floor(lock)
`)

// outcomeArg is o as settleScript reads it.
var outcomeArg = map[Outcome]string{Failed: "failed", Succeeded: "succeeded", Released: "released"}

// Begin implements Lockout: each look is one script; between looks a
// waiter sleeps until a settle on this instance or the next poll.
func (l *RedisLockout) Begin(ctx context.Context, key string) (Slot, error) {
	if l.warn.down() {
		return l.fallback.Begin(ctx, key)
	}
	p, keys, id := l.policy, l.lockKeys(key), rand.Text()
	timeout := time.NewTimer(p.Wait)
	defer timeout.Stop()
	for {
		wake := l.settled.watch(key) // before the look: a settle after it is not missed
		res, err := takeScript.Run(ctx, l.client, keys, p.FreeFailures, p.HourlyCap, id, l.lease.Milliseconds()).Int64Slice()
		if err == nil && (len(res) == 0 || (res[0] == 1 && len(res) != 2)) {
			err = fmt.Errorf("lockout script answered %v", res)
		}
		if err != nil {
			l.settled.stop(key, wake)
			if ctx.Err() != nil { // the caller left: Redis is not at fault
				return Slot{}, ctx.Err()
			}
			l.warn.warn(err)
			return l.fallback.Begin(ctx, key)
		}
		switch res[0] {
		case 0:
			l.settled.stop(key, wake)
			return Slot{key: key, id: id}, nil
		case 1:
			l.settled.stop(key, wake)
			return Slot{}, &Refused{RetryAfter: time.Duration(res[1]) * time.Millisecond, Locked: true}
		}
		poll := time.NewTimer(slotPoll)
		select {
		case <-wake.ch:
		case <-poll.C:
			l.settled.stop(key, wake)
		case <-timeout.C:
			poll.Stop()
			l.settled.stop(key, wake)
			return Slot{}, &Refused{RetryAfter: busyRetry}
		case <-ctx.Done():
			poll.Stop()
			l.settled.stop(key, wake)
			return Slot{}, ctx.Err()
		}
		poll.Stop()
	}
}

// Settle implements Lockout. A slot taken from the fallback settles there;
// if Redis fails now, the fallback counts the outcome without freeing any
// of its own slots (the slot in Redis ends with its lease).
func (l *RedisLockout) Settle(ctx context.Context, s Slot, o Outcome) (time.Duration, error) {
	if s.id == "" {
		return l.fallback.Settle(ctx, s, o)
	}
	defer l.settled.wake(s.key)
	p := l.policy
	lock, err := settleScript.Run(ctx, l.client, l.lockKeys(s.key), outcomeArg[o], s.id,
		p.FreeFailures, p.BaseLock.Milliseconds(), p.MaxLock.Milliseconds(), p.HourlyCap).Int64()
	if err != nil {
		if ctx.Err() == nil {
			l.warn.warn(err)
		}
		return l.fallback.Settle(ctx, Slot{key: s.key, counted: true}, o)
	}
	return time.Duration(lock) * time.Millisecond, nil
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
