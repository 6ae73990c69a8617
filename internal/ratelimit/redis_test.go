package ratelimit_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// testRedis connects to the test Redis (database 15); the test is skipped
// without one, or fails under GATEHOUSE_REQUIRE_REDIS=1. Other packages'
// tests use the database at the same time: each test keeps to its own keys
// (testPrefix), and nothing here flushes the database.
func testRedis(t testing.TB) *redis.Client {
	t.Helper()
	c := redisClient(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		testenv.RedisUnreachable(t, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if keys := c.Keys(ctx, testPrefix(t)+"*").Val(); len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return c
}

// runID keeps this run's keys apart from another run's of the same test.
var runID = strconv.FormatUint(rand.Uint64(), 36)

// testPrefix starts the name of every Redis key of the test t.
func testPrefix(t testing.TB) string {
	return "gatehouse-test:" + runID + ":" + t.Name() + ":"
}

// redisClient is a client to the test Redis (as the gateway makes it:
// honouring contexts' deadlines), changed by edit if not nil.
func redisClient(t testing.TB, edit func(*redis.Options)) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatalf("GATEHOUSE_TEST_REDIS_URL: %v", err)
	}
	opt.ContextTimeoutEnabled = true
	if edit != nil {
		edit(opt)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// newRedis makes a limiter on the test's own keys. Unless cfg says
// otherwise it makes every decision in Redis (MaxLease 1), as the tests of
// the script's arithmetic need, the tests of leases set MaxLease; and it
// waits for Redis up to 5s, not 50ms, because the machines that run the
// tests are shared and a call may wait that long for a core (the tests of
// timeouts set their own).
func newRedis(t testing.TB, cfg ratelimit.RedisConfig) *ratelimit.Redis {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = testPrefix(t)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxLease == 0 {
		cfg.MaxLease = 1
	}
	r, err := ratelimit.NewRedis(cfg)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	return r
}

func allow(t testing.TB, lim ratelimit.Limiter, key string, l auth.RateLimit, now time.Time) ratelimit.Decision {
	t.Helper()
	d, err := lim.Allow(context.Background(), key, l, now)
	if err != nil {
		t.Fatalf("Allow(%q, %+v, %v): %v", key, l, now, err)
	}
	return d
}

func TestRedisBurstThenRefused(t *testing.T) {
	r := newRedis(t, ratelimit.RedisConfig{Client: testRedis(t)})
	l := auth.RateLimit{Rate: 1, Burst: 3}
	for i := range 3 {
		d := allow(t, r, "key_a", l, t0)
		want := ratelimit.Decision{Allowed: true, Limit: 3, Remaining: 2 - i, Reset: time.Duration(i+1) * time.Second}
		if d != want {
			t.Fatalf("request %d of the burst: got %+v, want %+v", i+1, d, want)
		}
	}
	d := allow(t, r, "key_a", l, t0)
	want := ratelimit.Decision{Allowed: false, Limit: 3, Remaining: 0, Reset: 3 * time.Second, RetryAfter: time.Second}
	if d != want {
		t.Fatalf("past the burst: got %+v, want %+v", d, want)
	}
}

func TestRedisRefillsOverInjectedTime(t *testing.T) {
	r := newRedis(t, ratelimit.RedisConfig{Client: testRedis(t)})
	l := auth.RateLimit{Rate: 10, Burst: 10} // one token every 100ms
	for range 10 {
		allow(t, r, "k", l, t0)
	}
	if d := allow(t, r, "k", l, t0.Add(99*time.Millisecond)); d.Allowed {
		t.Fatalf("allowed 99ms after emptying a 10/s bucket: %+v", d)
	}
	if d := allow(t, r, "k", l, t0.Add(100*time.Millisecond)); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("100ms later: got %+v, want allowed with Remaining 0", d)
	}
	// Half a second more refills five tokens: four left after this one.
	if d := allow(t, r, "k", l, t0.Add(600*time.Millisecond)); !d.Allowed || d.Remaining != 4 {
		t.Fatalf("600ms later: got %+v, want allowed with Remaining 4", d)
	}
	// Long idle: full again, never more than Burst.
	if d := allow(t, r, "k", l, t0.Add(time.Hour)); !d.Allowed || d.Remaining != 9 {
		t.Fatalf("an hour later: got %+v, want allowed with Remaining 9", d)
	}
}

func TestRedisRetryAfterIsEnough(t *testing.T) {
	r := newRedis(t, ratelimit.RedisConfig{Client: testRedis(t)})
	for _, l := range []auth.RateLimit{{Rate: 3, Burst: 2}, {Rate: 7, Burst: 1}, {Rate: 0.3, Burst: 4}, {Rate: 12345.6, Burst: 3}} {
		key := "k" + strings.Repeat("x", l.Burst) + time.Duration(l.Rate*1000).String()
		now := t0.Add(123456789 * time.Nanosecond)
		for i := range 20 {
			d := allow(t, r, key, l, now)
			if d.Allowed {
				continue
			}
			if d.RetryAfter <= 0 {
				t.Fatalf("%+v call %d: refused with RetryAfter %v", l, i+1, d.RetryAfter)
			}
			now = now.Add(d.RetryAfter)
			if d := allow(t, r, key, l, now); !d.Allowed {
				t.Fatalf("%+v call %d: refused again after waiting RetryAfter: %+v", l, i+1, d)
			}
		}
	}
}

// sameDecision reports whether a and b are the same up to a microsecond of
// floating-point rounding in their durations: Buckets' own arithmetic is
// not exact (it reports a RetryAfter of 9.000001ms where 9ms is exact), and
// Redis's cannot follow the same path from a stored time.
func sameDecision(a, b ratelimit.Decision) bool {
	near := func(x, y time.Duration) bool { return (x - y).Abs() <= time.Microsecond }
	return a.Allowed == b.Allowed && a.Limit == b.Limit && a.Remaining == b.Remaining &&
		near(a.Reset, b.Reset) && near(a.RetryAfter, b.RetryAfter)
}

// TestRedisMatchesBuckets runs the same sequences through Buckets and Redis:
// the RateLimit-* headers must not depend on the backend.
func TestRedisMatchesBuckets(t *testing.T) {
	c := testRedis(t)
	type step struct {
		after time.Duration // since the previous step
		l     auth.RateLimit
		n     int // calls at that instant
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"burst, refusal, refill", []step{
			{0, auth.RateLimit{Rate: 1, Burst: 3}, 5},
			{500 * time.Millisecond, auth.RateLimit{Rate: 1, Burst: 3}, 2},
			{500 * time.Millisecond, auth.RateLimit{Rate: 1, Burst: 3}, 2},
			{10 * time.Second, auth.RateLimit{Rate: 1, Burst: 3}, 1},
		}},
		{"fast rate, sub-second steps", []step{
			{0, auth.RateLimit{Rate: 100, Burst: 5}, 7},
			{time.Millisecond, auth.RateLimit{Rate: 100, Burst: 5}, 1},
			{9 * time.Millisecond, auth.RateLimit{Rate: 100, Burst: 5}, 2},
			{25 * time.Millisecond, auth.RateLimit{Rate: 100, Burst: 5}, 4},
			{123 * time.Microsecond, auth.RateLimit{Rate: 100, Burst: 5}, 1},
		}},
		{"slow rate", []step{
			{0, auth.RateLimit{Rate: 0.5, Burst: 2}, 3},
			{time.Second, auth.RateLimit{Rate: 0.5, Burst: 2}, 1},
			{time.Second, auth.RateLimit{Rate: 0.5, Burst: 2}, 2},
			{3 * time.Second, auth.RateLimit{Rate: 0.5, Burst: 2}, 2},
		}},
		{"burst of one", []step{
			{0, auth.RateLimit{Rate: 4, Burst: 1}, 2},
			{100 * time.Millisecond, auth.RateLimit{Rate: 4, Burst: 1}, 1},
			{150 * time.Millisecond, auth.RateLimit{Rate: 4, Burst: 1}, 2},
		}},
		{"changed limit replaces the bucket", []step{
			{0, auth.RateLimit{Rate: 1, Burst: 2}, 3},
			{0, auth.RateLimit{Rate: 2, Burst: 2}, 3},
			{0, auth.RateLimit{Rate: 2, Burst: 5}, 1},
			{200 * time.Millisecond, auth.RateLimit{Rate: 1, Burst: 2}, 3},
		}},
		{"unlimited in between", []step{
			{0, auth.RateLimit{Rate: 5, Burst: 2}, 3},
			{0, auth.RateLimit{}, 2},
			{0, auth.RateLimit{Rate: 5, Burst: 2}, 1},
			{0, auth.RateLimit{Rate: 5, Burst: 0}, 1},
		}},
		{"odd rate, odd times", []step{
			{0, auth.RateLimit{Rate: 3, Burst: 2}, 3},
			{333 * time.Millisecond, auth.RateLimit{Rate: 3, Burst: 2}, 2},
			{777777 * time.Microsecond, auth.RateLimit{Rate: 3, Burst: 2}, 3},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b ratelimit.Buckets
			r := newRedis(t, ratelimit.RedisConfig{Client: c, Prefix: testPrefix(t)})
			now := t0
			call := 0
			for _, s := range tt.steps {
				now = now.Add(s.after)
				for range s.n {
					call++
					want := b.Allow("key", s.l, now)
					if got := allow(t, r, "key", s.l, now); !sameDecision(got, want) {
						t.Fatalf("call %d (%+v at +%v): Redis %+v, Buckets %+v", call, s.l, now.Sub(t0), got, want)
					}
				}
			}
		})
	}
}

func TestRedisNodesShareABucket(t *testing.T) {
	testRedis(t)
	// Two nodes: two clients, two limiters, one Redis.
	n1 := newRedis(t, ratelimit.RedisConfig{Client: redisClient(t, nil), Fallback: new(ratelimit.Buckets)})
	n2 := newRedis(t, ratelimit.RedisConfig{Client: redisClient(t, nil), Fallback: new(ratelimit.Buckets)})
	l := auth.RateLimit{Rate: 1, Burst: 4}
	for i, n := range []*ratelimit.Redis{n1, n2, n1, n2} {
		if d := allow(t, n, "shared", l, t0); !d.Allowed || d.Remaining != 3-i {
			t.Fatalf("request %d: got %+v, want allowed with Remaining %d", i+1, d, 3-i)
		}
	}
	for i, n := range []*ratelimit.Redis{n1, n2} {
		if d := allow(t, n, "shared", l, t0); d.Allowed {
			t.Fatalf("node %d allowed a fifth request of a burst of 4 shared by both", i+1)
		}
	}
	// A token refilled on one node's clock is taken once, by whoever asks first.
	if d := allow(t, n2, "shared", l, t0.Add(time.Second)); !d.Allowed {
		t.Fatalf("node 2 refused the refilled token: %+v", d)
	}
	if d := allow(t, n1, "shared", l, t0.Add(time.Second)); d.Allowed {
		t.Fatal("node 1 got the token node 2 already took")
	}
}

// TestRedisNodeBehindSeesAnEmptierBucket documents clock skew: a node
// whose clock is behind by s sees the bucket s×Rate tokens emptier.
func TestRedisNodeBehindSeesAnEmptierBucket(t *testing.T) {
	c := testRedis(t)
	n1 := newRedis(t, ratelimit.RedisConfig{Client: c})
	n2 := newRedis(t, ratelimit.RedisConfig{Client: c})
	l := auth.RateLimit{Rate: 10, Burst: 3}
	for range 2 {
		allow(t, n1, "k", l, t0)
	}
	// One token left at t0; 150ms behind, it is not there yet.
	d := allow(t, n2, "k", l, t0.Add(-150*time.Millisecond))
	want := ratelimit.Decision{Allowed: false, Limit: 3, Reset: 350 * time.Millisecond, RetryAfter: 150 * time.Millisecond}
	if d != want {
		t.Fatalf("node 150ms behind: got %+v, want %+v", d, want)
	}
	if d := allow(t, n1, "k", l, t0); !d.Allowed {
		t.Fatalf("node on time: got %+v, want the last token", d)
	}
}

func TestRedisNodesCountEveryTokenConcurrently(t *testing.T) {
	testRedis(t)
	const nodes, perNode, burst = 4, 50, 73
	l := auth.RateLimit{Rate: 1e-3, Burst: burst}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range nodes {
		r := newRedis(t, ratelimit.RedisConfig{Client: redisClient(t, nil), Timeout: 10 * time.Second})
		wg.Go(func() {
			for range perNode {
				d, err := r.Allow(context.Background(), "contended", l, t0)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != burst {
		t.Fatalf("%d nodes × %d requests at one instant: %d allowed, want exactly the burst %d", nodes, perNode, got, burst)
	}
}

func TestRedisChangedLimitDoesNotReadTheOldBucket(t *testing.T) {
	r := newRedis(t, ratelimit.RedisConfig{Client: testRedis(t)})
	small := auth.RateLimit{Rate: 1, Burst: 1}
	big := auth.RateLimit{Rate: 1, Burst: 10}
	allow(t, r, "k", small, t0)
	if d := allow(t, r, "k", small, t0); d.Allowed {
		t.Fatal("second request of a burst of 1 allowed")
	}
	// Read with the big limit, the small bucket's TAT would leave 9 tokens;
	// a new limit starts full, as Buckets does.
	if d := allow(t, r, "k", big, t0); !d.Allowed || d.Remaining != 9 || d.Limit != 10 {
		t.Fatalf("after raising the limit: got %+v, want allowed, Limit 10, Remaining 9", d)
	}
	if d := allow(t, r, "k", auth.RateLimit{Rate: 2, Burst: 10}, t0); !d.Allowed || d.Remaining != 9 {
		t.Fatalf("after changing only the rate: got %+v, want a full bucket (Remaining 9)", d)
	}
}

func TestRedisUnlimitedAlwaysAllowsAndStoresNothing(t *testing.T) {
	c := testRedis(t)
	// No Redis would be fine too: unlimited never asks.
	r := newRedis(t, ratelimit.RedisConfig{Client: c})
	for _, l := range []auth.RateLimit{{}, {Rate: 0, Burst: 5}, {Rate: 5, Burst: 0}, {Rate: -1, Burst: 5}} {
		for range 3 {
			if d := allow(t, r, "k", l, t0); d != (ratelimit.Decision{Allowed: true}) {
				t.Fatalf("%+v: got %+v, want allowed with Limit 0", l, d)
			}
		}
	}
	if n := len(c.Keys(context.Background(), testPrefix(t)+"*").Val()); n != 0 {
		t.Fatalf("unlimited requests stored %d keys", n)
	}
}

func TestRedisEscapesKeys(t *testing.T) {
	c := testRedis(t)
	r := newRedis(t, ratelimit.RedisConfig{Client: c})
	keys := []string{"a", "a b", "a\nb", "a\r\nb", "a:b", "a:b:c", "", ":", "a*", "\x00\xff", strings.Repeat("long", 10000), "gatehouse:rl:a"}
	l := auth.RateLimit{Rate: 1, Burst: 1}
	for _, k := range keys {
		if d := allow(t, r, k, l, t0); !d.Allowed {
			t.Fatalf("key %q: first request refused, so it shares a bucket with another key", k)
		}
	}
	for _, k := range keys {
		if d := allow(t, r, k, l, t0); d.Allowed {
			t.Fatalf("key %q: second request of a burst of 1 allowed", k)
		}
	}
	stored, err := c.Keys(context.Background(), testPrefix(t)+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(keys) {
		t.Fatalf("%d keys stored for %d callers' keys: %q", len(stored), len(keys), stored)
	}
	safe := regexp.MustCompile(`^` + regexp.QuoteMeta(testPrefix(t)) + `[A-Za-z0-9_-]{43}$`)
	for _, s := range stored {
		if !safe.MatchString(s) {
			t.Errorf("stored key %q is not the prefix and a fixed-size hash", s)
		}
	}
}

func TestRedisPrefix(t *testing.T) {
	c := testRedis(t)
	r := newRedis(t, ratelimit.RedisConfig{Client: c, Prefix: testPrefix(t) + "tenant7:"})
	allow(t, r, "k", auth.RateLimit{Rate: 1, Burst: 1}, t0)
	stored := c.Keys(context.Background(), testPrefix(t)+"*").Val()
	if len(stored) != 1 || !strings.HasPrefix(stored[0], testPrefix(t)+"tenant7:") {
		t.Fatalf("stored keys %q, want one starting with tenant7:", stored)
	}
}

func TestRedisKeyExpiresWhenTheBucketIsFull(t *testing.T) {
	c := testRedis(t)
	ctx := context.Background()
	r := newRedis(t, ratelimit.RedisConfig{Client: c})
	l := auth.RateLimit{Rate: 0.5, Burst: 10} // one token every 2s
	for range 3 {
		allow(t, r, "k", l, t0)
	}
	keys := c.Keys(ctx, testPrefix(t)+"*").Val()
	if len(keys) != 1 {
		t.Fatalf("keys %q, want one", keys)
	}
	// Three tokens taken refill in 6s: the key lives that long and one
	// second more, no longer.
	ttl := c.PTTL(ctx, keys[0]).Val()
	if ttl <= 6*time.Second || ttl > 7*time.Second {
		t.Fatalf("PTTL %v, want just under 7s (full again after 6s, and a second's margin)", ttl)
	}

	// A fast bucket is full again within a millisecond: its key goes away
	// a second later.
	allow(t, r, "fast", auth.RateLimit{Rate: 1000, Burst: 5}, t0)
	deadline := time.Now().Add(10 * time.Second)
	for len(c.Keys(ctx, testPrefix(t)+"*").Val()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the key of a bucket full again after 1ms still exists: %q", c.Keys(ctx, testPrefix(t)+"*").Val())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRedisSurvivesAFlushedScriptCache(t *testing.T) {
	c := testRedis(t)
	r := newRedis(t, ratelimit.RedisConfig{Client: c})
	l := auth.RateLimit{Rate: 1, Burst: 2}
	allow(t, r, "k", l, t0)
	if err := c.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	// NOSCRIPT: EVAL instead, and the bucket carries on.
	if d := allow(t, r, "k", l, t0); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after SCRIPT FLUSH: got %+v, want allowed with Remaining 0", d)
	}
}

func TestRedisIgnoresAForeignValue(t *testing.T) {
	c := testRedis(t)
	r := newRedis(t, ratelimit.RedisConfig{Client: c})
	l := auth.RateLimit{Rate: 1, Burst: 2}
	allow(t, r, "k", l, t0)
	key := c.Keys(context.Background(), testPrefix(t)+"*").Val()[0]
	for _, v := range []string{"garbage", "1/2 notanumber", "1/2", "", "1/2 1 2"} {
		c.Set(context.Background(), key, v, 0)
		if d := allow(t, r, "k", l, t0); !d.Allowed || d.Remaining != 1 {
			t.Fatalf("over the value %q: got %+v, want a full bucket (allowed, Remaining 1)", v, d)
		}
	}
}

// TestRedisMatchesBucketsOnRandomSequences compares the two backends over
// long random (but seeded, so repeatable) sequences.
func TestRedisMatchesBucketsOnRandomSequences(t *testing.T) {
	c := testRedis(t)
	rng := rand.New(rand.NewPCG(1, 2))
	limits := []auth.RateLimit{{Rate: 1, Burst: 1}, {Rate: 3, Burst: 2}, {Rate: 0.7, Burst: 5}, {Rate: 50, Burst: 10}, {Rate: 1000, Burst: 3}, {Rate: 2.5, Burst: 100}}
	for _, l := range limits {
		var b ratelimit.Buckets
		r := newRedis(t, ratelimit.RedisConfig{Client: c})
		now := t0
		period := time.Duration(float64(time.Second) / l.Rate)
		for i := range 300 {
			// Mostly bursts at one instant and waits around one period.
			switch rng.IntN(3) {
			case 0:
			case 1:
				now = now.Add(time.Duration(rng.Int64N(int64(period) + 1)))
			case 2:
				now = now.Add(time.Duration(rng.Int64N(int64(3*period)+1)) + time.Duration(rng.IntN(1000))*time.Nanosecond)
			}
			want := b.Allow("key", l, now)
			if got := allow(t, r, "key", l, now); !sameDecision(got, want) {
				t.Fatalf("%+v call %d at +%v: Redis %+v, Buckets %+v", l, i+1, now.Sub(t0), got, want)
			}
		}
	}
}

// closedAddr is an address where nothing listens.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRedisDownUsesTheFallbackAndLogsOnce(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: closedAddr(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	var logs testenv.SyncBuffer
	r := newRedis(t, ratelimit.RedisConfig{
		Client:   c,
		Fallback: new(ratelimit.Buckets),
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	var want ratelimit.Buckets
	l := auth.RateLimit{Rate: 1, Burst: 2}
	now := t0
	for i := range 8 {
		d := allow(t, r, "secret-key-id", l, now)
		if w := want.Allow("secret-key-id", l, now); d != w {
			t.Fatalf("call %d: got %+v, want the local limit's %+v", i+1, d, w)
		}
		now = now.Add(700 * time.Millisecond) // some calls within the pause, some after
	}
	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, out)
	}
	if strings.Contains(out, "secret-key-id") {
		t.Fatalf("the log names a caller's key:\n%s", out)
	}
}

func TestRedisDownWithoutFallbackFails(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: closedAddr(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	r := newRedis(t, ratelimit.RedisConfig{Client: c})
	for i := range 2 {
		if _, err := r.Allow(context.Background(), "k", auth.RateLimit{Rate: 1, Burst: 1}, t0); err == nil {
			t.Fatalf("call %d: no error from a Redis that is down and no fallback", i+1)
		}
	}
}

// hangingRedis accepts connections and never answers.
func hangingRedis(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestRedisTimeoutIsHonoured(t *testing.T) {
	// The client's own timeouts are far longer than the limiter's: only
	// the limiter's Timeout can end the call early.
	c := redis.NewClient(&redis.Options{
		Addr: hangingRedis(t), ContextTimeoutEnabled: true,
		ReadTimeout: time.Minute, WriteTimeout: time.Minute, DialTimeout: time.Minute, PoolTimeout: time.Minute,
		MaxRetries: -1,
	})
	t.Cleanup(func() { c.Close() })
	var logs testenv.SyncBuffer
	r := newRedis(t, ratelimit.RedisConfig{
		Client:   c,
		Timeout:  20 * time.Millisecond,
		Fallback: new(ratelimit.Buckets),
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	start := time.Now()
	d := allow(t, r, "k", auth.RateLimit{Rate: 1, Burst: 2}, t0)
	if el := time.Since(start); el > 30*time.Second {
		t.Fatalf("Allow took %v against a Redis that hangs, with a Timeout of 20ms", el)
	}
	if !d.Allowed || d.Remaining != 1 {
		t.Fatalf("got %+v, want the fallback's first decision (allowed, Remaining 1)", d)
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("no warning logged:\n%s", logs.String())
	}
}

// TestRedisPausesThenRecovers checks that a failed Redis is not asked again
// for a second (in the callers' time), that one caller then probes it, and
// that recovery is logged once.
func TestRedisPausesThenRecovers(t *testing.T) {
	testRedis(t)
	var down atomic.Bool
	var dials atomic.Int64
	c := redisClient(t, func(o *redis.Options) {
		addr := o.Addr
		o.MaxRetries = -1
		o.Dialer = func(ctx context.Context, network, _ string) (net.Conn, error) {
			dials.Add(1)
			if down.Load() {
				return nil, errors.New("test: Redis is down")
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	})
	var logs testenv.SyncBuffer
	r := newRedis(t, ratelimit.RedisConfig{
		Client:   c,
		Timeout:  5 * time.Second,
		Fallback: new(ratelimit.Buckets),
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	l := auth.RateLimit{Rate: 1, Burst: 100}

	down.Store(true)
	allow(t, r, "k", l, t0)
	if dials.Load() == 0 {
		t.Fatal("Redis was not asked")
	}
	before := dials.Load()
	for i := range 5 {
		allow(t, r, "k", l, t0.Add(time.Duration(i)*200*time.Millisecond))
	}
	if dials.Load() != before {
		t.Fatalf("Redis asked %d more times within a second of failing", dials.Load()-before)
	}
	// A clock set back (by more than the pause) does not stretch the pause.
	allow(t, r, "k", l, t0.Add(-time.Hour))
	if dials.Load() == before {
		t.Fatal("after the clock went back an hour, Redis was not asked again")
	}

	down.Store(false)
	now := t0.Add(time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		allow(t, r, "k", l, now)
		if strings.Contains(logs.String(), "level=INFO") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis is back but the limiter never used it again:\n%s", logs.String())
		}
		now = now.Add(time.Second)
		time.Sleep(10 * time.Millisecond) // let go-redis's own dial back-off pass
	}
	// Back on Redis: its bucket (one token taken), not the local one (many).
	if d := allow(t, r, "k", l, now); !d.Allowed || d.Remaining != 98 {
		t.Fatalf("after recovery: got %+v, want Redis's bucket (allowed, Remaining 98)", d)
	}
	out := logs.String()
	if strings.Count(out, "level=WARN") != 1 || strings.Count(out, "level=INFO") != 1 {
		t.Fatalf("want one warning and one info:\n%s", out)
	}
}

func TestRedisDoneContextIsNotARedisFailure(t *testing.T) {
	var logs testenv.SyncBuffer
	r := newRedis(t, ratelimit.RedisConfig{
		Client:   testRedis(t),
		Fallback: new(ratelimit.Buckets),
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Allow(ctx, "k", auth.RateLimit{Rate: 1, Burst: 1}, t0); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if logs.String() != "" {
		t.Fatalf("a caller that went away was logged as a Redis failure:\n%s", logs.String())
	}
	// And Redis is still asked at once.
	if d := allow(t, r, "k", auth.RateLimit{Rate: 1, Burst: 1}, t0); !d.Allowed {
		t.Fatalf("got %+v", d)
	}
}

func TestRedisInvalidRateUsesTheLocalLimit(t *testing.T) {
	c := testRedis(t)
	var logs testenv.SyncBuffer
	r := newRedis(t, ratelimit.RedisConfig{Client: c, Fallback: new(ratelimit.Buckets), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, rate := range []float64{math.NaN(), math.SmallestNonzeroFloat64} {
		if _, err := r.Allow(context.Background(), "k", auth.RateLimit{Rate: rate, Burst: 1}, t0); err != nil {
			t.Fatalf("rate %v: %v", rate, err)
		}
	}
	if logs.String() != "" {
		t.Fatalf("an invalid rate was logged as a Redis failure:\n%s", logs.String())
	}
	noFallback := newRedis(t, ratelimit.RedisConfig{Client: c})
	if _, err := noFallback.Allow(context.Background(), "k", auth.RateLimit{Rate: math.NaN(), Burst: 1}, t0); err == nil {
		t.Fatal("NaN rate without a fallback: no error")
	}
}

func TestNewRedisChecksItsConfig(t *testing.T) {
	if _, err := ratelimit.NewRedis(ratelimit.RedisConfig{}); err == nil {
		t.Error("nil client accepted")
	}
	plain := redis.NewClient(&redis.Options{Addr: closedAddr(t)})
	t.Cleanup(func() { plain.Close() })
	if _, err := ratelimit.NewRedis(ratelimit.RedisConfig{Client: plain}); err == nil {
		t.Error("a client that ignores context deadlines accepted")
	}
	ok := redis.NewClient(&redis.Options{Addr: closedAddr(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { ok.Close() })
	if _, err := ratelimit.NewRedis(ratelimit.RedisConfig{Client: ok, Timeout: -time.Second}); err == nil {
		t.Error("negative timeout accepted")
	}
	if _, err := ratelimit.NewRedis(ratelimit.RedisConfig{Client: ok}); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

// BenchmarkRedisAllow measures one call's round trip (serial) and the
// throughput of many concurrent requests, as on a busy gateway (parallel).
func BenchmarkRedisAllow(b *testing.B) {
	r := newRedis(b, ratelimit.RedisConfig{Client: testRedis(b)})
	l := auth.RateLimit{Rate: 1e9, Burst: 1 << 30}
	ctx := context.Background()
	keys := []string{"key_0", "key_1", "key_2", "key_3", "key_4", "key_5", "key_6", "key_7"}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := r.Allow(ctx, keys[i%len(keys)], l, t0); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := r.Allow(ctx, keys[i%len(keys)], l, t0); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

func TestRedisNodeFarAheadEmptiesTheBucketNoMore(t *testing.T) {
	c := testRedis(t)
	r := newRedis(t, ratelimit.RedisConfig{Client: c})
	l := auth.RateLimit{Rate: 2, Burst: 3}
	// A node whose clock says 2100 takes a token: the TAT is in 2100.
	allow(t, r, "k", l, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	// Seen from the right time the bucket is empty, by at most a minute
	// of skew — not for 70 years.
	d := allow(t, r, "k", l, t0)
	want := ratelimit.Decision{Allowed: false, Limit: 3, Reset: time.Minute + 1500*time.Millisecond, RetryAfter: time.Minute + 500*time.Millisecond}
	if d != want {
		t.Fatalf("got %+v, want %+v", d, want)
	}
}

// FuzzRedisStoredValue stores any value under a bucket's key (a damaged
// or foreign value, or one from a skewed node) and checks that the limiter
// neither fails nor reports what a bucket cannot hold.
func FuzzRedisStoredValue(f *testing.F) {
	for _, v := range []string{"", "garbage", "1 2 3", "inf 0", "nan nan", "-inf 0", "1e308 1e308", "0x7fffffff 0",
		"-1e308 5", "1893456000 999999999", "1893456000 -5e17", " 1 2", "1\n2"} {
		f.Add("key", v, true)
		f.Add("a b\n:c", v, false)
	}
	c := testRedis(f)
	r := newRedis(f, ratelimit.RedisConfig{Client: c})
	l := auth.RateLimit{Rate: 2, Burst: 3}
	f.Fuzz(func(t *testing.T, key, value string, withLimit bool) {
		ctx := context.Background()
		allow(t, r, key, l, t0) // makes the key
		stored := c.Keys(ctx, testPrefix(f)+"*").Val()
		if len(stored) != 1 {
			t.Fatalf("keys %q, want one", stored)
		}
		if withLimit {
			value = "2/3 " + value
		}
		c.Set(ctx, stored[0], value, 0)
		d := allow(t, r, key, l, t0)
		if d.Limit != 3 || d.Remaining < 0 || d.Remaining > 2 || d.Reset < 0 || d.Reset > time.Minute+1500*time.Millisecond ||
			(d.Allowed && d.RetryAfter != 0) || (!d.Allowed && (d.RetryAfter <= 0 || d.RetryAfter > time.Minute+500*time.Millisecond)) {
			t.Fatalf("over %q: impossible decision %+v", value, d)
		}
		c.Del(ctx, stored[0])
	})
}
