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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

const (
	// DefaultRedisPrefix starts the name of every bucket key in Redis.
	DefaultRedisPrefix = "gatehouse:rl:"
	// DefaultRedisTimeout bounds each call to Redis: a slow Redis must not
	// stall the gateway, whose requests then get the node-local limit. It
	// is generous because a call that times out is decided by this node's
	// share alone while the others keep admitting through Redis: at 50 ms a
	// loaded machine timed out often enough to admit 120-160 requests where
	// 100 were allowed. Leases make calls rare, and after a failure Redis is
	// asked by one request a second, so a hung Redis costs little.
	DefaultRedisTimeout = 250 * time.Millisecond

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
// One script does the three things a bucket needs, chosen by want:
//
//   - want >= 1 takes tokens: none when the first does not fit (refused);
//     otherwise n of them at once, n = min(want, max(1, floor(free /
//     (2 × nodes)))), where free is the number of whole tokens the bucket
//     holds. So a node may lease a batch while the bucket is far from empty
//     — at most its share of half of what is left — and takes single tokens
//     near the limit, where every decision must be Redis's own;
//   - want = 0 only reads the bucket;
//   - want = -1 gives one token back (the login throttle's refund of an
//     attempt that succeeded), never beyond a full bucket.
//
// KEYS[1] bucket; ARGV[1], ARGV[2] now (Unix seconds, nanoseconds); ARGV[3]
// rate (tokens per second); ARGV[4] burst; ARGV[5] slack (ns); ARGV[6] want;
// ARGV[7] nodes. Returns {tokens taken, ns from now until the bucket is full
// after the call}; the latter is a string because Redis truncates Lua
// numbers to integers.
var gcraScript = redis.NewScript(`
local now_s = tonumber(ARGV[1])
local now_ns = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local slack = tonumber(ARGV[5])
local want = tonumber(ARGV[6])
local nodes = tonumber(ARGV[7])
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
local function store(new)
	local tat_ns = now_ns + new
	local carry = math.floor(tat_ns / 1e9)
	local tat = string.format("%.17g %.17g", now_s + carry, tat_ns - carry * 1e9)
	local ttl = math.min(math.ceil(new / 1e6) + 1000, 1e15)
	redis.call("SET", KEYS[1], lim .. " " .. tat, "PX", ttl)
end
if want == 0 then
	return {0, string.format("%.17g", ahead)}
end
if want < 0 then
	if ahead <= 0 then
		return {0, "0"}
	end
	local new = math.max(ahead - period, 0)
	if new > 0 then
		store(new)
	else
		redis.call("DEL", KEYS[1])
	end
	return {0, string.format("%.17g", new)}
end
local cap = burst * period + slack
if ahead + period > cap then
	return {0, string.format("%.17g", ahead)}
end
local n = math.floor((cap - ahead) / period / (2 * nodes))
n = math.max(1, math.min(want, n))
-- The division may round up by one token; the first always fits.
while n > 1 and ahead + n * period > cap do n = n - 1 end
local new = ahead + n * period
store(new)
return {n, string.format("%.17g", new)}
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
	// limit applies then, at this node's share of it (Share with Nodes) —
	// never no limit, and never refusing everyone. While Redis is failing
	// it is asked again once a second, by a single request. Nil makes
	// Allow return Redis's errors instead.
	Fallback *Buckets
	// Nodes returns how many nodes share the limits (the live nodes of the
	// cluster's heartbeats); nil, or an answer below 1, counts one. It
	// sizes the leases (a node leases at most its share of half the tokens
	// left) and the fallback (each node applies limit ÷ nodes).
	Nodes func() int
	// MaxLease caps the tokens one call to Redis may take for this node to
	// spend without asking again (pre-allocation, see Redis); default
	// DefaultMaxLease. 1 makes every decision Redis's own.
	MaxLease int
	// LeaseTTL is how long leased tokens may be spent; those left then are
	// dropped (they were taken from the shared bucket: dropping them can
	// only refuse requests, never let more through). Default
	// DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Logger gets one warning when Redis starts failing and one info when
	// it recovers; default discards.
	Logger *slog.Logger
	// Registerer gets gatehouse_ratelimit_shared (1 while Redis decides,
	// 0 while each node applies its own share) and
	// gatehouse_ratelimit_decisions_total by where the decision was made
	// (redis, lease, fallback); nil registers nothing.
	Registerer prometheus.Registerer
}

// Defaults of RedisConfig.
const (
	// DefaultMaxLease bounds what one node may hold of a bucket: with
	// leases of 64, a hot key costs one Redis round trip per 64 requests.
	DefaultMaxLease = 64
	// DefaultLeaseTTL is short, so that a lease spent across a window is
	// no more than a tenth of a second's worth of early tokens, and a node
	// whose traffic stops wastes what it holds for that long only.
	DefaultLeaseTTL = 100 * time.Millisecond
)

// ErrUnavailable is returned (wrapped) by Take, Peek and Refund while Redis
// fails, or is being left alone after failing: the caller applies its own
// per-node rule then, at its share of the limit (Share with Nodes).
var ErrUnavailable = errors.New("ratelimit: Redis is unavailable")

// Redis is a rate limiter shared by every node through Redis, with the
// generic cell rate algorithm (GCRA): one key per bucket holds the time at
// which the bucket is full again, updated atomically by a Lua script (by
// EVALSHA, falling back to EVAL when Redis does not have the script).
//
// Pre-allocation: a call that finds the bucket far from empty takes a
// batch of tokens (a lease) in the same script call, and this node spends
// them without asking Redis again, for LeaseTTL at most. The batch grows
// while the node spends its leases in time (1, 2, 4 ... up to MaxLease),
// shrinks to what was spent when one expires, and is never more than the
// node's share of half the tokens left (floor(free / (2 × Nodes))), so near
// the limit every decision is a single token taken in Redis. Leased tokens
// are taken from the shared bucket when leased, so a node can only refuse
// requests it might have let through (a lease expiring unspent), never let
// through more than the limit: over any run starting from a full bucket,
// the nodes admit at most Rate × time + Burst. A refusal is remembered
// until its RetryAfter, in which time no token can appear, so a key over
// its limit costs no Redis round trip either. With leases, the
// decisions' Remaining is the bucket's as last seen in Redis, refilled
// since, plus the tokens this node holds.
//
// Time is the callers' now, so the nodes' clocks must be synchronised
// (NTP): a node whose clock is ahead by s sees every bucket s×Rate tokens
// fuller than one with the right time, and one behind sees it emptier.
//
// With MaxLease 1 its decisions are those of Buckets for the same sequence
// of calls while each caller's time moves forward, up to floating-point
// rounding: a request a nanosecond early may pass, and durations may differ
// by a few nanoseconds (Buckets' own arithmetic is not exact either). When
// a node's time is behind the bucket's last update, Buckets counts no time
// passing where Redis counts the bucket as emptier, as a shared timeline
// must. It is safe for concurrent use.
type Redis struct {
	link     *redisLink
	prefix   string
	fallback *Buckets
	maxLease int
	leaseTTL time.Duration
	leases   leases
}

// redisLink is what a Redis shares with its scopes: the connection, its
// health, and the metrics.
type redisLink struct {
	client  redis.UniversalClient
	timeout time.Duration
	logger  *slog.Logger
	nodes   func() int

	failing atomic.Bool
	// retryAt is the caller's time (Unix ns) before which a failed Redis is
	// not asked again; 0 while Redis works.
	retryAt atomic.Int64

	byRedis, byLease, byFallback prometheus.Counter
}

// NewRedis returns a Redis limiter.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	if cfg.Client == nil {
		return nil, errors.New("ratelimit: RedisConfig.Client is nil")
	}
	if cfg.Timeout < 0 || cfg.LeaseTTL < 0 || cfg.MaxLease < 0 {
		return nil, errors.New("ratelimit: negative RedisConfig.Timeout, LeaseTTL or MaxLease")
	}
	if !honoursDeadlines(cfg.Client) {
		return nil, errors.New("ratelimit: the Redis client must be made with ContextTimeoutEnabled: true, or a Redis that hangs would stall every request for the client's read timeout")
	}
	link := &redisLink{client: cfg.Client, timeout: cfg.Timeout, logger: cfg.Logger, nodes: cfg.Nodes}
	if link.timeout == 0 {
		link.timeout = DefaultRedisTimeout
	}
	if link.logger == nil {
		link.logger = slog.New(slog.DiscardHandler)
	}
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_ratelimit_decisions_total",
		Help: "Shared rate-limit decisions, by where they were made: redis (a script call), lease (tokens this node leased from Redis), fallback (this node's share of the limit, while Redis fails).",
	}, []string{"by"})
	link.byRedis = decisions.WithLabelValues("redis")
	link.byLease = decisions.WithLabelValues("lease")
	link.byFallback = decisions.WithLabelValues("fallback")
	if cfg.Registerer != nil {
		shared := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_ratelimit_shared",
			Help: "1 while rate limits are shared by the nodes through Redis, 0 while Redis fails and each node applies its share of them.",
		}, func() float64 {
			if link.failing.Load() {
				return 0
			}
			return 1
		})
		for _, c := range []prometheus.Collector{decisions, shared} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("ratelimit: register metrics: %w", err)
			}
		}
	}
	r := &Redis{link: link, prefix: cfg.Prefix, fallback: cfg.Fallback, maxLease: cfg.MaxLease, leaseTTL: cfg.LeaseTTL}
	if r.prefix == "" {
		r.prefix = DefaultRedisPrefix
	}
	if r.maxLease == 0 {
		r.maxLease = DefaultMaxLease
	}
	if r.leaseTTL == 0 {
		r.leaseTTL = DefaultLeaseTTL
	}
	return r, nil
}

// Scope returns a limiter on the same Redis connection, health and metrics
// whose keys are apart from r's and every other scope's: its Redis keys
// start with r's prefix and name + ":", and it has its own leases and
// fallback buckets. Each user of the node's limiter (API keys, gateway,
// login throttle, verify endpoint) takes a scope of its own, so that their
// keys cannot meet.
func (r *Redis) Scope(name string) *Redis {
	s := &Redis{link: r.link, prefix: r.prefix + name + ":", maxLease: r.maxLease, leaseTTL: r.leaseTTL}
	if r.fallback != nil {
		s.fallback = new(Buckets)
	}
	return s
}

// Nodes returns the number of nodes sharing the limits (at least 1).
func (r *Redis) Nodes() int {
	if r.link.nodes == nil {
		return 1
	}
	return max(r.link.nodes(), 1)
}

// Share is one node's part of l when n nodes apply it each on its own:
// Rate/n, and Burst/n rounded up, at least 1 (so a limit is never
// unlimited nor refuses everyone).
func Share(l auth.RateLimit, n int) auth.RateLimit {
	if n <= 1 || l.Unlimited() {
		return l
	}
	return auth.RateLimit{Rate: l.Rate / float64(n), Burst: max((l.Burst+n-1)/n, 1)}
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

// Allow implements Limiter. It spends a token this node leased when it has
// one, and refuses at once a key Redis refused until the RetryAfter it
// gave; otherwise it asks Redis, taking a lease when the bucket is far from
// empty. When Redis fails it returns the Fallback's decision at this
// node's share of l (an error only without a Fallback), and logs the
// failure once. If ctx itself ends first, the caller is gone: it returns
// ctx's error and leaves Redis's state alone.
func (r *Redis) Allow(ctx context.Context, key string, l auth.RateLimit, now time.Time) (Decision, error) {
	if l.Unlimited() {
		return Decision{Allowed: true}, nil
	}
	if !storable(l) {
		// Not a limit Redis can store (NaN, or a period beyond float64):
		// a configuration mistake, not a Redis failure.
		if r.fallback == nil {
			return Decision{}, fmt.Errorf("ratelimit: invalid rate %v", l.Rate)
		}
		return r.fallback.Allow(key, l, now), nil
	}
	want := 1
	if r.maxLease > 1 {
		d, w, ok := r.leases.spend(key, l, now, r.maxLease)
		if ok {
			r.link.byLease.Inc()
			return d, nil
		}
		want = w
	}
	if r.fallback != nil && r.link.backingOff(now) {
		return r.fallbackAllow(key, l, now), nil
	}

	n, ahead, err := r.run(ctx, key, l, now, want)
	if err == nil {
		r.link.answered()
		d := gcraDecision(n >= 1, ahead, l)
		if r.maxLease > 1 {
			r.leases.update(key, l, now, n, ahead, &d, r.leaseTTL)
		}
		return d, nil
	}
	if ctx.Err() != nil {
		return Decision{}, fmt.Errorf("ratelimit: %w", ctx.Err())
	}
	r.link.failed(err)
	if r.fallback == nil {
		return Decision{}, err
	}
	r.link.retryAt.Store(now.Add(redisRetryAfter).UnixNano())
	return r.fallbackAllow(key, l, now), nil
}

// fallbackAllow decides on this node alone, at its share of l. A bucket
// it makes starts as full as the shared one was when Redis last answered
// for key, refilled since (its share of those tokens), so that a Redis
// that stops answering for a moment does not give every node a fresh
// burst; a full one when this node has not seen key lately.
func (r *Redis) fallbackAllow(key string, l auth.RateLimit, now time.Time) Decision {
	r.link.byFallback.Inc()
	share := Share(l, r.Nodes())
	seed := -1.0
	if tokens, ok := r.leases.seen(key, l, now); ok {
		seed = float64(share.Burst) * tokens / float64(l.Burst)
	}
	return r.fallback.allow(key, share, now, seed)
}

// Take takes one token from key's bucket in Redis, without a lease, for a
// caller with rules of its own (the login throttle, which gives attempts
// back with Refund). It returns an error wrapping ErrUnavailable while
// Redis fails (logged once, as for Allow, and probed again once a second):
// the caller decides on its own then, at its share of l.
func (r *Redis) Take(ctx context.Context, key string, l auth.RateLimit, now time.Time) (Decision, error) {
	return r.direct(ctx, key, l, now, 1)
}

// Peek reports, in Decision.Allowed, whether a Take of key at now would
// pass, taking nothing; errors as Take's.
func (r *Redis) Peek(ctx context.Context, key string, l auth.RateLimit, now time.Time) (Decision, error) {
	return r.direct(ctx, key, l, now, 0)
}

// Refund gives back one token taken from key's bucket, never beyond a
// full bucket; errors as Take's.
func (r *Redis) Refund(ctx context.Context, key string, l auth.RateLimit, now time.Time) error {
	_, err := r.direct(ctx, key, l, now, -1)
	return err
}

// direct runs the script once for Take (want 1), Peek (0) or Refund (-1).
func (r *Redis) direct(ctx context.Context, key string, l auth.RateLimit, now time.Time, want int) (Decision, error) {
	if l.Unlimited() {
		return Decision{Allowed: true}, nil
	}
	if !storable(l) {
		return Decision{}, fmt.Errorf("ratelimit: invalid rate %v", l.Rate)
	}
	if r.link.backingOff(now) {
		r.link.byFallback.Inc()
		return Decision{}, ErrUnavailable
	}
	n, ahead, err := r.run(ctx, key, l, now, want)
	if err != nil {
		if ctx.Err() != nil {
			return Decision{}, fmt.Errorf("ratelimit: %w", ctx.Err())
		}
		r.link.failed(err)
		r.link.retryAt.Store(now.Add(redisRetryAfter).UnixNano())
		r.link.byFallback.Inc()
		return Decision{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	r.link.answered()
	allowed := n >= 1
	if want == 0 {
		allowed = ahead+1e9/l.Rate <= float64(l.Burst)*1e9/l.Rate
	}
	return gcraDecision(allowed, ahead, l), nil
}

// storable reports whether the script can hold l: a rate whose period is
// a finite number of nanoseconds.
func storable(l auth.RateLimit) bool {
	return !math.IsNaN(l.Rate) && !math.IsInf(1e9/l.Rate, 0)
}

// answered notes that Redis answered: the end of a failure, if any.
func (k *redisLink) answered() {
	k.byRedis.Inc()
	k.retryAt.Store(0)
	if k.failing.CompareAndSwap(true, false) {
		k.logger.Info("rate limits: Redis answers again; limits are shared by the nodes again")
	}
}

// failed notes that Redis failed, logging the first failure.
func (k *redisLink) failed(err error) {
	if k.failing.CompareAndSwap(false, true) {
		// The error names the operation and the address, never a key.
		k.logger.Warn("rate limits: Redis fails; each node applies its share of each limit (limit ÷ nodes) until it answers again", "err", err)
	}
}

// backingOff reports whether Redis failed lately and should not be asked
// at now. Once the pause is over, the one caller that wins the swap probes
// Redis while the others keep the local limit for another pause.
func (k *redisLink) backingOff(now time.Time) bool {
	at := k.retryAt.Load()
	if at == 0 {
		return false
	}
	n := now.UnixNano()
	// A clock that moved back by more than the pause ends it, rather
	// than leave Redis unasked for as long as the clock jumped.
	if n < at && n >= at-int64(redisRetryAfter) {
		return true
	}
	return !k.retryAt.CompareAndSwap(at, now.Add(redisRetryAfter).UnixNano())
}

// run calls the script once: it returns the tokens taken and the ns from
// now until the bucket is full.
func (r *Redis) run(ctx context.Context, key string, l auth.RateLimit, now time.Time, want int) (int, float64, error) {
	ctx, cancel := context.WithTimeout(ctx, r.link.timeout)
	defer cancel()

	res, err := gcraScript.Run(ctx, r.link.client, []string{r.redisKey(key)},
		strconv.FormatInt(now.Unix(), 10),
		strconv.Itoa(now.Nanosecond()),
		strconv.FormatFloat(l.Rate, 'g', -1, 64),
		strconv.Itoa(l.Burst),
		strconv.Itoa(gcraSlackNanos),
		strconv.Itoa(want),
		strconv.Itoa(r.Nodes()),
	).Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("ratelimit: redis script: %w", err)
	}
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("ratelimit: redis script returned %d values, want 2", len(res))
	}
	taken, ok1 := res[0].(int64)
	aheadStr, ok2 := res[1].(string)
	if !ok1 || !ok2 || taken < 0 || taken > int64(max(want, 0)) {
		return 0, 0, fmt.Errorf("ratelimit: redis script returned %v, %v", res[0], res[1])
	}
	ahead, err := strconv.ParseFloat(aheadStr, 64)
	if err != nil || !(ahead >= 0) || math.IsInf(ahead, 0) {
		return 0, 0, fmt.Errorf("ratelimit: redis script returned a bad duration %q", aheadStr)
	}
	return int(taken), ahead, nil
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
