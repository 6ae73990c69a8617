package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

const (
	// DefaultRedisPrefix starts the name of every bucket key in Redis.
	DefaultRedisPrefix = "gatehouse:rl:"
	// DefaultRedisTimeout bounds each call to Redis: a slow Redis must not
	// stall the gateway, whose requests then get the node-local limit.
	DefaultRedisTimeout = 50 * time.Millisecond

	// redisRetryAfter is how long (in the callers' time) a Redis limiter
	// with a Fallback stops asking a failed Redis before one request probes
	// it again: without it a Redis that hangs would add Timeout to every
	// request.
	redisRetryAfter = time.Second
)

// gcraSlackNanos is how much earlier than exact arithmetic says the script
// lets a request pass, in nanoseconds, so that a client waiting exactly
// RetryAfter is not refused again by floating-point rounding. It makes a
// limit more generous by one nanosecond's worth of tokens at most.
const gcraSlackNanos = 1

// gcraScript is the generic cell rate algorithm on one key. The value is
// "<rate>/<burst> <sec> <nsec>": the limit it was made with and the
// theoretical arrival time (TAT), the Unix time at which the bucket is full
// again. The time is split in whole seconds and nanoseconds because Lua
// numbers are doubles: nanoseconds since 1970 (about 1.8e18) would be
// rounded to hundreds of nanoseconds, these keep well under one. A value made
// with another limit (or not made by this script) is ignored: the bucket is
// replaced by a full one, as Buckets does. The key expires a second after
// the bucket is full, where it is indistinguishable from a missing one (or
// after some thirty thousand years, for limits that refill slower than that).
// The second is there because the expiry runs on Redis's clock and the TAT
// on the callers': a caller delayed a little (a pause, the network) must not
// find a fast bucket gone — full — before its own time says it refilled.
//
// KEYS[1] bucket; ARGV[1], ARGV[2] now (Unix seconds, nanoseconds); ARGV[3]
// rate (tokens per second); ARGV[4] burst; ARGV[5] slack (ns). Returns
// {allowed (0|1), ns from now until the bucket is full after the call}; the
// latter is a string because Redis truncates Lua numbers to integers.
var gcraScript = redis.NewScript(`
local now_s = tonumber(ARGV[1])
local now_ns = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local slack = tonumber(ARGV[5])
local lim = ARGV[3] .. "/" .. ARGV[4]
local period = 1e9 / rate
local ahead = 0
local v = redis.call("GET", KEYS[1])
if v then
	local l, s, ns = string.match(v, "^(%S+) (%S+) (%S+)$")
	s = tonumber(s)
	ns = tonumber(ns)
	if l == lim and s and ns then
		local a = (s - now_s) * 1e9 + (ns - now_ns)
		-- NaN fails the test. A bucket is at most empty, as seen by a
		-- node whose clock is up to a minute behind the writer's: a time
		-- further ahead (a node's clock far off, a value not written here)
		-- must not lock the bucket for years.
		if a > 0 then ahead = math.min(a, burst * period + 6e10) end
	end
end
local new = ahead + period
if new > burst * period + slack then
	return {0, string.format("%.17g", ahead)}
end
local tat_ns = now_ns + new
local carry = math.floor(tat_ns / 1e9)
local tat = string.format("%.17g %.17g", now_s + carry, tat_ns - carry * 1e9)
local ttl = math.min(math.ceil(new / 1e6) + 1000, 1e15)
redis.call("SET", KEYS[1], lim .. " " .. tat, "PX", ttl)
return {1, string.format("%.17g", new)}
`)

// RedisConfig configures NewRedis.
type RedisConfig struct {
	// Client is the Redis (or cluster) all the nodes share. It must honour
	// contexts' deadlines (ContextTimeoutEnabled), or Timeout would not
	// bound a Redis that hangs; NewRedis refuses a client known not to.
	Client redis.UniversalClient
	// Prefix starts every key; default DefaultRedisPrefix.
	Prefix string
	// Timeout bounds each call; default DefaultRedisTimeout.
	Timeout time.Duration
	// Fallback decides when Redis fails (error or timeout): the node-local
	// limit applies then — never no limit, and never refusing everyone.
	// While Redis is failing it is asked again once a second, by a single
	// request. Nil makes Allow return Redis's errors instead.
	Fallback *Buckets
	// Logger gets one warning when Redis starts failing and one info when
	// it recovers; default discards.
	Logger *slog.Logger
}

// Redis is a rate limiter shared by every node through Redis, with the
// generic cell rate algorithm (GCRA): one key per bucket holds the time at
// which the bucket is full again, updated atomically by a Lua script (by
// EVALSHA, falling back to EVAL when Redis does not have the script).
//
// Time is the callers' now, so the nodes' clocks must be synchronised
// (NTP): a node whose clock is ahead by s sees every bucket s×Rate tokens
// fuller than one with the right time, and one behind sees it emptier.
//
// Its decisions are those of Buckets for the same sequence of calls while
// each caller's time moves forward, up to floating-point rounding: a
// request a nanosecond early may pass, and durations may differ by a few
// nanoseconds (Buckets' own arithmetic is not exact either). When a node's
// time is behind the bucket's last update, Buckets counts no time passing
// where Redis counts the bucket as emptier, as a shared timeline must. It is
// safe for concurrent use.
type Redis struct {
	client   redis.UniversalClient
	prefix   string
	timeout  time.Duration
	fallback *Buckets
	logger   *slog.Logger

	failing atomic.Bool
	// retryAt is the caller's time (Unix ns) before which a failed Redis is
	// not asked again; 0 while Redis works.
	retryAt atomic.Int64
}

// NewRedis returns a Redis limiter.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	if cfg.Client == nil {
		return nil, errors.New("ratelimit: RedisConfig.Client is nil")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("ratelimit: negative RedisConfig.Timeout %v", cfg.Timeout)
	}
	if !honoursDeadlines(cfg.Client) {
		return nil, errors.New("ratelimit: the Redis client must be made with ContextTimeoutEnabled: true, or a Redis that hangs would stall every request for the client's read timeout")
	}
	r := &Redis{
		client:   cfg.Client,
		prefix:   cfg.Prefix,
		timeout:  cfg.Timeout,
		fallback: cfg.Fallback,
		logger:   cfg.Logger,
	}
	if r.prefix == "" {
		r.prefix = DefaultRedisPrefix
	}
	if r.timeout == 0 {
		r.timeout = DefaultRedisTimeout
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

// honoursDeadlines reports whether c is not known to ignore contexts'
// deadlines (go-redis ignores them unless told otherwise).
func honoursDeadlines(c redis.UniversalClient) bool {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}

// Allow implements Limiter. When Redis fails it returns the Fallback's
// decision and a nil error (an error only without a Fallback), and logs the
// failure once. If ctx itself ends first, the caller is gone: it returns
// ctx's error and leaves Redis's state alone.
func (r *Redis) Allow(ctx context.Context, key string, l auth.RateLimit, now time.Time) (Decision, error) {
	if l.Unlimited() {
		return Decision{Allowed: true}, nil
	}
	if math.IsNaN(l.Rate) || math.IsInf(1e9/l.Rate, 0) {
		// Not a limit Redis can store (NaN, or a period beyond float64):
		// a configuration mistake, not a Redis failure.
		if r.fallback == nil {
			return Decision{}, fmt.Errorf("ratelimit: invalid rate %v", l.Rate)
		}
		return r.fallback.Allow(key, l, now), nil
	}
	if r.fallback != nil && r.backingOff(now) {
		return r.fallback.Allow(key, l, now), nil
	}

	d, err := r.allowRedis(ctx, key, l, now)
	if err == nil {
		r.retryAt.Store(0)
		if r.failing.CompareAndSwap(true, false) {
			r.logger.Info("rate limits: Redis answers again; limits are shared by the nodes again")
		}
		return d, nil
	}
	if ctx.Err() != nil {
		return Decision{}, fmt.Errorf("ratelimit: %w", ctx.Err())
	}
	if r.failing.CompareAndSwap(false, true) {
		// The error names the operation and the address, never a key.
		r.logger.Warn("rate limits: Redis fails; each node applies its own limit until it answers again", "err", err)
	}
	if r.fallback == nil {
		return Decision{}, err
	}
	r.retryAt.Store(now.Add(redisRetryAfter).UnixNano())
	return r.fallback.Allow(key, l, now), nil
}

// backingOff reports whether Redis failed lately and should not be asked
// at now. Once the pause is over, the one caller that wins the swap probes
// Redis while the others keep the local limit for another pause.
func (r *Redis) backingOff(now time.Time) bool {
	at := r.retryAt.Load()
	if at == 0 {
		return false
	}
	n := now.UnixNano()
	// A clock that moved back by more than the pause ends it, rather
	// than leave Redis unasked for as long as the clock jumped.
	if n < at && n >= at-int64(redisRetryAfter) {
		return true
	}
	return !r.retryAt.CompareAndSwap(at, now.Add(redisRetryAfter).UnixNano())
}

// allowRedis runs the script once.
func (r *Redis) allowRedis(ctx context.Context, key string, l auth.RateLimit, now time.Time) (Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()

	res, err := gcraScript.Run(ctx, r.client, []string{r.redisKey(key)},
		strconv.FormatInt(now.Unix(), 10),
		strconv.Itoa(now.Nanosecond()),
		strconv.FormatFloat(l.Rate, 'g', -1, 64),
		strconv.Itoa(l.Burst),
		strconv.Itoa(gcraSlackNanos),
	).Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis script: %w", err)
	}
	if len(res) != 2 {
		return Decision{}, fmt.Errorf("ratelimit: redis script returned %d values, want 2", len(res))
	}
	allowed, ok1 := res[0].(int64)
	aheadStr, ok2 := res[1].(string)
	if !ok1 || !ok2 {
		return Decision{}, fmt.Errorf("ratelimit: redis script returned %T, %T", res[0], res[1])
	}
	ahead, err := strconv.ParseFloat(aheadStr, 64)
	if err != nil || !(ahead >= 0) || math.IsInf(ahead, 0) {
		return Decision{}, fmt.Errorf("ratelimit: redis script returned a bad duration %q", aheadStr)
	}
	return gcraDecision(allowed == 1, ahead, l), nil
}

// gcraDecision turns the bucket's state (ahead: ns from now until it is
// full) into the numbers Buckets reports. The durations are computed in
// time rather than through the token count, which would add rounding.
func gcraDecision(allowed bool, ahead float64, l auth.RateLimit) Decision {
	d := Decision{Allowed: allowed, Limit: l.Burst}
	period := 1e9 / l.Rate
	if tokens := float64(l.Burst) - ahead/period; tokens > 0 {
		d.Remaining = int(math.Floor(tokens))
	}
	d.Reset = ceilNanos(ahead)
	if !allowed {
		// Rounded up, and checked against the script's own test without
		// its slack, so that a client waiting exactly this long passes.
		ra := ceilNanos(ahead - float64(l.Burst-1)*period)
		passes := func(ra time.Duration) bool {
			return max(ahead-float64(ra), 0)+period <= float64(l.Burst)*period
		}
		for step := time.Nanosecond; !passes(ra) && step <= time.Millisecond && ra <= math.MaxInt64-step; step *= 10 {
			ra += step
		}
		d.RetryAfter = ra
	}
	return d
}

// ceilNanos is ns rounded up to a Duration; 0 when not positive.
func ceilNanos(ns float64) time.Duration {
	if ns <= 0 {
		return 0
	}
	if ns = math.Ceil(ns); ns >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(ns)
}

// redisKey hashes the caller's key, so that any byte string (spaces, new
// lines, the ':' of Redis's naming habits, any length) makes one fixed-size
// key and no caller's key can collide with another's.
func (r *Redis) redisKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return r.prefix + base64.RawURLEncoding.EncodeToString(sum[:])
}
