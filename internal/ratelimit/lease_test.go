package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// scriptCalls counts the commands a client sends to Redis.
type scriptCalls struct{ n atomic.Int64 }

func (h *scriptCalls) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *scriptCalls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *scriptCalls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func TestRedisLeaseSpendsABatchWithoutRoundTrips(t *testing.T) {
	c := testRedis(t)
	calls := new(scriptCalls)
	c.AddHook(calls)
	r := newRedis(t, ratelimit.RedisConfig{Client: c, MaxLease: 64, LeaseTTL: time.Second})
	l := auth.RateLimit{Rate: 1000, Burst: 10000}
	var b ratelimit.Buckets
	for i := range 1000 {
		d := allow(t, r, "k", l, t0)
		want := b.Allow("k", l, t0)
		if !d.Allowed || d.Remaining != want.Remaining || d.Limit != want.Limit || (d.Reset-want.Reset).Abs() > time.Microsecond {
			t.Fatalf("request %d: got %+v, want the headers of one bucket, %+v", i+1, d, want)
		}
	}
	// Leases of 1, 2, 4 ... 64: 6 calls reach 63 tokens, then one per 64.
	if n := calls.n.Load(); n > 6+1000/64+1 {
		t.Fatalf("1000 requests far from the limit made %d calls to Redis, want about 1000/64", n)
	}
}

func TestRedisLeaseSizeFollowsTheLimitAndTheNodes(t *testing.T) {
	tests := []struct {
		name  string
		l     auth.RateLimit
		nodes int
		// the most tokens one call may take: the node's share of half the
		// bucket, capped by MaxLease, at least one.
		most int
	}{
		{"a wide bucket: the cap", auth.RateLimit{Rate: 1e6, Burst: 1e6}, 3, 64},
		{"the issue's 20/s, burst 20, three nodes", auth.RateLimit{Rate: 20, Burst: 20}, 3, 3},
		{"ten nodes on a burst of 20: single tokens", auth.RateLimit{Rate: 20, Burst: 20}, 10, 1},
		{"one node", auth.RateLimit{Rate: 20, Burst: 20}, 1, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testRedis(t)
			calls := new(scriptCalls)
			c.AddHook(calls)
			r := newRedis(t, ratelimit.RedisConfig{Client: c, MaxLease: 64, LeaseTTL: time.Hour, Nodes: func() int { return tt.nodes }})
			// Another node, on its own client, reads the shared bucket.
			watcher := newRedis(t, ratelimit.RedisConfig{Client: redisClient(t, nil), Nodes: func() int { return tt.nodes }})
			inRedis := func() int {
				d, err := watcher.Peek(context.Background(), "k", tt.l, t0)
				if err != nil {
					t.Fatal(err)
				}
				return d.Remaining
			}
			free, largest, allowed := tt.l.Burst, 0, 0
			for range min(tt.l.Burst, 2000) + 1 {
				before := calls.n.Load()
				d := allow(t, r, "k", tt.l, t0)
				if d.Allowed {
					allowed++
				}
				if calls.n.Load() == before {
					continue // spent from the lease
				}
				left := inRedis()
				took := free - left
				if free < 2*tt.nodes && took > 1 {
					t.Fatalf("with %d tokens left for %d nodes a call took %d, want single tokens near the limit", free, tt.nodes, took)
				}
				largest = max(largest, took)
				free = left
			}
			if largest > tt.most || (tt.most == 64 && largest != 64) {
				t.Fatalf("the largest lease took %d tokens, want at most (and, for the cap, exactly) %d", largest, tt.most)
			}
			if want := min(tt.l.Burst, 2001); allowed != want {
				t.Fatalf("%d allowed at one instant, want %d: leases spent in time lose nothing", allowed, want)
			}
		})
	}
}

// TestRedisLeasesNeverAdmitMoreThanTheBucket drives three nodes sharing one
// bucket through an injected timeline: over any run starting from a full
// bucket, no more than Rate × time + Burst pass, whatever the leases.
func TestRedisLeasesNeverAdmitMoreThanTheBucket(t *testing.T) {
	testRedis(t)
	l := auth.RateLimit{Rate: 100, Burst: 50}
	nodes := make([]*ratelimit.Redis, 3)
	for i := range nodes {
		nodes[i] = newRedis(t, ratelimit.RedisConfig{Client: redisClient(t, nil), MaxLease: 64, Nodes: func() int { return 3 }})
	}
	admitted := 0
	now := t0
	for step := range 2000 {
		now = now.Add(time.Millisecond) // 2 s in steps of 1 ms, 3 requests per node per step
		for _, n := range nodes {
			for range 3 {
				if allow(t, n, "k", l, now).Allowed {
					admitted++
				}
			}
		}
		if most := int(l.Rate*now.Sub(t0).Seconds()) + l.Burst; admitted > most {
			t.Fatalf("step %d: %d admitted by +%v, more than rate × time + burst = %d", step, admitted, now.Sub(t0), most)
		}
	}
	if least := int(0.9 * (l.Rate*now.Sub(t0).Seconds() + float64(l.Burst))); admitted < least {
		t.Fatalf("%d admitted in %v, want at least %d (90 %% of the limit)", admitted, now.Sub(t0), least)
	}
}

// TestRedisThreeNodesHoldTheLimitInRealTime is the case: three nodes,
// each with its own Redis client, hammer one key for a few seconds of real
// time. The nodes together admit within 10 % of rate × time + burst, and
// never more than that plus one request per node.
func TestRedisThreeNodesHoldTheLimitInRealTime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for seconds of real time")
	}
	for _, tt := range []struct {
		name string
		l    auth.RateLimit
		run  time.Duration
	}{
		{"20 per second, burst 20", auth.RateLimit{Rate: 20, Burst: 20}, 4 * time.Second},
		{"500 per second, burst 100", auth.RateLimit{Rate: 500, Burst: 100}, 3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			testRedis(t)
			const nodes, workers = 3, 4
			var admitted, refused atomic.Int64
			var first, last atomic.Int64 // Unix ns of the first and last decision
			first.Store(1<<63 - 1)
			var wg sync.WaitGroup
			stop := time.Now().Add(tt.run)
			calls := new(scriptCalls)
			for range nodes {
				c := redisClient(t, nil)
				c.AddHook(calls)
				r := newRedis(t, ratelimit.RedisConfig{Client: c, MaxLease: ratelimit.DefaultMaxLease,
					Fallback: new(ratelimit.Buckets), Nodes: func() int { return nodes }, Timeout: time.Second})
				for range workers {
					wg.Go(func() {
						// About 2000 requests per second per worker: far over
						// the limit, without spinning the shared machine.
						tick := time.NewTicker(500 * time.Microsecond)
						defer tick.Stop()
						for range tick.C {
							now := time.Now()
							if now.After(stop) {
								return
							}
							d, err := r.Allow(context.Background(), "hammered", tt.l, now)
							if err != nil {
								t.Error(err)
								return
							}
							at := now.UnixNano()
							for f := first.Load(); at < f && !first.CompareAndSwap(f, at); f = first.Load() {
							}
							for l := last.Load(); at > l && !last.CompareAndSwap(l, at); l = last.Load() {
							}
							if d.Allowed {
								admitted.Add(1)
							} else {
								refused.Add(1)
							}
						}
					})
				}
			}
			wg.Wait()
			elapsed := time.Duration(last.Load() - first.Load())
			allowed := tt.l.Rate*elapsed.Seconds() + float64(tt.l.Burst)
			got := float64(admitted.Load())
			t.Logf("%d nodes × %d workers for %v: %d admitted, %d refused, %d calls to Redis; the limit allows %.1f (%.1f %%)",
				nodes, workers, elapsed.Round(time.Millisecond), admitted.Load(), refused.Load(), calls.n.Load(), allowed, 100*got/allowed)
			if got > allowed+nodes {
				t.Fatalf("%v admitted, more than rate × time + burst + one per node = %.1f", got, allowed+nodes)
			}
			if got < 0.9*allowed {
				t.Fatalf("%v admitted, less than 90 %% of the %.1f the limit allows", got, allowed)
			}
		})
	}
}

// proxy is a TCP proxy to Redis that a test can cut and restore.
type proxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	p.open("127.0.0.1:0")
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) open(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
}

// cut closes the listener and every connection: Redis is gone.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens again on the same address: Redis is back.
func (p *proxy) restore() { p.open(p.addr) }

func TestRedisGoneFallsBackToEachNodesShareThenShares(t *testing.T) {
	testRedis(t)
	opt, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, opt.Addr)
	c := redisClient(t, func(o *redis.Options) { o.Addr = p.addr; o.MaxRetries = -1 })
	reg := prometheus.NewRegistry()
	var logs testenv.SyncBuffer
	r := newRedis(t, ratelimit.RedisConfig{Client: c, Fallback: new(ratelimit.Buckets), MaxLease: 64, Timeout: time.Second,
		Nodes: func() int { return 3 }, Registerer: reg, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	shared := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "gatehouse_ratelimit_shared" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no gatehouse_ratelimit_shared")
		return -1
	}
	l := auth.RateLimit{Rate: 1, Burst: 10}
	now := t0
	if d := allow(t, r, "k", l, now); !d.Allowed || d.Limit != 10 || shared() != 1 {
		t.Fatalf("with Redis: %+v, shared %v; want the shared limit of 10", d, shared())
	}

	p.cut()
	now = now.Add(time.Hour) // past any lease
	// Each of the 3 nodes now takes ceil(10/3) = 4 at 1/3 per second.
	for i := range 4 {
		if d := allow(t, r, "k", l, now); !d.Allowed || d.Limit != 4 || d.Remaining != 3-i {
			t.Fatalf("Redis gone, request %d: %+v; want this node's share (Limit 4, Remaining %d)", i+1, d, 3-i)
		}
	}
	if d := allow(t, r, "k", l, now); d.Allowed || d.RetryAfter != 3*time.Second {
		t.Fatalf("Redis gone, fifth request: %+v; want refused, a token every 3 s", d)
	}
	if shared() != 0 {
		t.Fatal("gatehouse_ratelimit_shared is still 1 while Redis is gone")
	}

	p.restore()
	deadline := time.Now().Add(30 * time.Second)
	for shared() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("Redis is back but the limits stayed per node:\n%s", logs.String())
		}
		now = now.Add(time.Second) // the pause between probes, in the callers' time
		allow(t, r, "k", l, now)
		time.Sleep(10 * time.Millisecond) // go-redis's own dial back-off
	}
	if d := allow(t, r, "k", l, now); d.Limit != 10 {
		t.Fatalf("Redis back: %+v; want the shared limit of 10 again", d)
	}
	out := logs.String()
	if countLevel(out, "WARN") != 1 || countLevel(out, "INFO") != 1 {
		t.Fatalf("want one warning and one info:\n%s", out)
	}
	if n := decisionsBy(t, reg, "fallback"); n != 5 {
		t.Fatalf("gatehouse_ratelimit_decisions_total{by=fallback} = %v, want 5 (or more only while probing)", n)
	}
}

func countLevel(logs, level string) int {
	n := 0
	for i := 0; i+len("level="+level) <= len(logs); i++ {
		if logs[i:i+len("level="+level)] == "level="+level {
			n++
		}
	}
	return n
}

// decisionsBy returns gatehouse_ratelimit_decisions_total{by=by} from reg.
func decisionsBy(t *testing.T, reg *prometheus.Registry, by string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gatehouse_ratelimit_decisions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "by" && lp.GetValue() == by {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestShareDividesALimitAmongTheNodes(t *testing.T) {
	for _, tt := range []struct {
		l     auth.RateLimit
		nodes int
		want  auth.RateLimit
	}{
		{auth.RateLimit{Rate: 20, Burst: 20}, 3, auth.RateLimit{Rate: 20.0 / 3, Burst: 7}},
		{auth.RateLimit{Rate: 20, Burst: 20}, 1, auth.RateLimit{Rate: 20, Burst: 20}},
		{auth.RateLimit{Rate: 20, Burst: 20}, 0, auth.RateLimit{Rate: 20, Burst: 20}},
		{auth.RateLimit{Rate: 1, Burst: 1}, 5, auth.RateLimit{Rate: 0.2, Burst: 1}},
		{auth.RateLimit{Rate: 100, Burst: 9}, 3, auth.RateLimit{Rate: 100.0 / 3, Burst: 3}},
		{auth.RateLimit{}, 3, auth.RateLimit{}},
	} {
		if got := ratelimit.Share(tt.l, tt.nodes); got != tt.want {
			t.Errorf("Share(%+v, %d) = %+v, want %+v", tt.l, tt.nodes, got, tt.want)
		}
	}
}

func TestRedisTakePeekRefund(t *testing.T) {
	r := newRedis(t, ratelimit.RedisConfig{Client: testRedis(t)})
	ctx := context.Background()
	l := auth.RateLimit{Rate: 1.0 / 60, Burst: 2} // two per minute
	for i := range 2 {
		if d, err := r.Take(ctx, "k", l, t0); err != nil || !d.Allowed {
			t.Fatalf("take %d: %+v, %v", i+1, d, err)
		}
	}
	if d, err := r.Peek(ctx, "k", l, t0); err != nil || d.Allowed || d.RetryAfter != time.Minute {
		t.Fatalf("peek at an empty bucket: %+v, %v; want refused for a minute", d, err)
	}
	if d, err := r.Take(ctx, "k", l, t0); err != nil || d.Allowed {
		t.Fatalf("third take: %+v, %v; want refused", d, err)
	}
	if err := r.Refund(ctx, "k", l, t0); err != nil {
		t.Fatal(err)
	}
	if d, err := r.Peek(ctx, "k", l, t0); err != nil || !d.Allowed {
		t.Fatalf("peek after a refund: %+v, %v; want room for one", d, err)
	}
	for range 5 {
		if err := r.Refund(ctx, "k", l, t0); err != nil {
			t.Fatal(err)
		}
	}
	// Refunds stop at a full bucket: two takes, then refused.
	for i := range 3 {
		d, err := r.Take(ctx, "k", l, t0)
		if err != nil || d.Allowed != (i < 2) {
			t.Fatalf("take %d after refunds: %+v, %v", i+1, d, err)
		}
	}
}

func TestRedisTakeReportsUnavailable(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: closedAddr(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	r := newRedis(t, ratelimit.RedisConfig{Client: c})
	l := auth.RateLimit{Rate: 1, Burst: 1}
	for i := range 2 { // the failure, then the pause
		if _, err := r.Take(context.Background(), "k", l, t0); !errors.Is(err, ratelimit.ErrUnavailable) {
			t.Fatalf("call %d: %v, want ErrUnavailable", i+1, err)
		}
	}
}

func TestRedisScopesKeepTheirKeysApart(t *testing.T) {
	c := testRedis(t)
	r := newRedis(t, ratelimit.RedisConfig{Client: c, MaxLease: 64})
	a, b := r.Scope("a"), r.Scope("b")
	l := auth.RateLimit{Rate: 1, Burst: 1}
	for _, s := range []*ratelimit.Redis{a, b} {
		if d := allow(t, s, "same", l, t0); !d.Allowed {
			t.Fatalf("a scope shares a bucket with another: %+v", d)
		}
	}
	if d := allow(t, a, "same", l, t0); d.Allowed {
		t.Fatal("a scope's second request of a burst of 1 allowed")
	}
	if keys := c.Keys(context.Background(), testPrefix(t)+"a:*").Val(); len(keys) != 1 {
		t.Fatalf("scope a's keys %q, want one under the scope's prefix", keys)
	}
}

func TestRedisRefusalIsRememberedUntilRetryAfter(t *testing.T) {
	c := testRedis(t)
	calls := new(scriptCalls)
	c.AddHook(calls)
	r := newRedis(t, ratelimit.RedisConfig{Client: c, MaxLease: 64})
	l := auth.RateLimit{Rate: 1, Burst: 1}
	allow(t, r, "k", l, t0)
	first := allow(t, r, "k", l, t0)
	if first.Allowed || first.RetryAfter != time.Second {
		t.Fatalf("second request: %+v, want refused for 1s", first)
	}
	before := calls.n.Load()
	for i := range 100 {
		d := allow(t, r, "k", l, t0.Add(time.Duration(i)*time.Millisecond))
		if d.Allowed || d.RetryAfter != time.Second-time.Duration(i)*time.Millisecond {
			t.Fatalf("refused key at +%dms: %+v", i, d)
		}
	}
	if n := calls.n.Load() - before; n != 0 {
		t.Fatalf("a refused key asked Redis %d times before its RetryAfter", n)
	}
	if d := allow(t, r, "k", l, t0.Add(time.Second)); !d.Allowed {
		t.Fatalf("after RetryAfter: %+v, want allowed", d)
	}
}

func TestRedisLeaseAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	r := newRedis(t, ratelimit.RedisConfig{Client: testRedis(t), MaxLease: 1 << 20, LeaseTTL: time.Hour})
	l := auth.RateLimit{Rate: 1e9, Burst: 1 << 30}
	ctx := context.Background()
	for range 30 { // grow the lease
		allow(t, r, "key_hot", l, t0)
	}
	if n := testing.AllocsPerRun(1000, func() { r.Allow(ctx, "key_hot", l, t0) }); n != 0 {
		t.Fatalf("spending a leased token allocates %.1f times", n)
	}
}

// BenchmarkRedisSharedLimit compares a Redis round trip per request
// (MaxLease 1) with pre-allocation (the default), on keys far from their
// limit, in real time, with the in-memory Buckets of a single node as the
// baseline of the same run: the figures of docs/benchmarks.md. It reports
// the Redis calls per request.
func BenchmarkRedisSharedLimit(b *testing.B) {
	c := testRedis(b)
	calls := new(scriptCalls)
	c.AddHook(calls)
	l := auth.RateLimit{Rate: 1e6, Burst: 1e6}
	ctx := context.Background()
	keys := []string{"key_0", "key_1", "key_2", "key_3", "key_4", "key_5", "key_6", "key_7"}
	for _, mode := range []struct {
		name     string
		maxLease int // 0: in memory, no Redis
	}{{"in-memory", 0}, {"per-request", 1}, {"pre-allocation", ratelimit.DefaultMaxLease}} {
		for _, par := range []bool{false, true} {
			name := mode.name + "/serial"
			if par {
				name = mode.name + "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				var lim ratelimit.Limiter = ratelimit.Local{Buckets: new(ratelimit.Buckets)}
				if mode.maxLease > 0 {
					lim = newRedis(b, ratelimit.RedisConfig{Client: c, Prefix: fmt.Sprintf("%s%s:", testPrefix(b), name), MaxLease: mode.maxLease,
						Timeout: time.Second, Nodes: func() int { return 3 }})
				}
				before := calls.n.Load()
				b.ReportAllocs()
				if !par {
					i := 0
					for b.Loop() {
						if _, err := lim.Allow(ctx, keys[i%len(keys)], l, time.Now()); err != nil {
							b.Fatal(err)
						}
						i++
					}
				} else {
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						i := 0
						for pb.Next() {
							if _, err := lim.Allow(ctx, keys[i%len(keys)], l, time.Now()); err != nil {
								b.Error(err)
								return
							}
							i++
						}
					})
				}
				b.ReportMetric(float64(calls.n.Load()-before)/float64(b.N), "redis-calls/op")
			})
		}
	}
}

// TestRedisLostDoesNotHandOutAFreshBurst: a node that loses Redis right
// after the shared bucket was emptied starts its share of the limit from
// that bucket as last seen, not from a full one.
func TestRedisLostDoesNotHandOutAFreshBurst(t *testing.T) {
	testRedis(t)
	opt, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, opt.Addr)
	c := redisClient(t, func(o *redis.Options) { o.Addr = p.addr; o.MaxRetries = -1 })
	r := newRedis(t, ratelimit.RedisConfig{Client: c, Fallback: new(ratelimit.Buckets), MaxLease: 64, Timeout: time.Second,
		Nodes: func() int { return 2 }})
	l := auth.RateLimit{Rate: 1, Burst: 10}
	for allow(t, r, "k", l, t0).Allowed {
	}
	p.cut()
	if d := allow(t, r, "k", l, t0); d.Allowed {
		t.Fatalf("Redis lost with the bucket empty: %+v, want refused", d)
	}
	// Two seconds later the shared bucket holds 2 of 10 tokens: this
	// node's share (5 at 0.5/s) holds 1.
	later := t0.Add(2 * time.Second)
	if d := allow(t, r, "k", l, later); !d.Allowed || d.Limit != 5 {
		t.Fatalf("2 s later: %+v, want allowed under the node's share (Limit 5)", d)
	}
	if d := allow(t, r, "k", l, later); d.Allowed {
		t.Fatalf("2 s later, a second request: %+v, want refused", d)
	}
}

// TestRedisLostDoesNotCountALeaseTwice: tokens the node holds in a lease
// when Redis goes are spent from the lease, and are not also in the
// bucket the fallback starts from, so that all it admits at one instant,
// before and after, stays within the burst.
func TestRedisLostDoesNotCountALeaseTwice(t *testing.T) {
	testRedis(t)
	opt, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, opt.Addr)
	c := redisClient(t, func(o *redis.Options) { o.Addr = p.addr; o.MaxRetries = -1 })
	r := newRedis(t, ratelimit.RedisConfig{Client: c, Fallback: new(ratelimit.Buckets), MaxLease: 64, Timeout: time.Second,
		LeaseTTL: time.Hour, Nodes: func() int { return 1 }})
	l := auth.RateLimit{Rate: 0.001, Burst: 100}
	admitted := 0
	// Ten requests leave the node holding a lease (grants of 1, 2, 4, 8).
	for range 10 {
		if allow(t, r, "k", l, t0).Allowed {
			admitted++
		}
	}
	p.cut()
	for range 2 * l.Burst {
		if allow(t, r, "k", l, t0).Allowed {
			admitted++
		}
	}
	if admitted != l.Burst {
		t.Fatalf("admitted %d at one instant across a Redis loss, want the burst, %d", admitted, l.Burst)
	}
}

// A key of a slow rate, used every 200 ms on a node (less than once per
// 100 ms), still gets leases that grow: by default a lease lasts three of
// the key's periods (up to a second), so it is spent in time.
func TestRedisLeaseOfASlowKeyOutlivesItsGaps(t *testing.T) {
	c := testRedis(t)
	calls := new(scriptCalls)
	c.AddHook(calls)
	r := newRedis(t, ratelimit.RedisConfig{Client: c, MaxLease: 64})
	l := auth.RateLimit{Rate: 2, Burst: 1000}
	for i := range 50 {
		if d := allow(t, r, "k", l, t0.Add(time.Duration(i)*200*time.Millisecond)); !d.Allowed {
			t.Fatalf("request %d refused far from the limit: %+v", i+1, d)
		}
	}
	if n := calls.n.Load(); n > 25 {
		t.Fatalf("50 requests 200 ms apart made %d calls to Redis, want leases to cover some", n)
	}
}
