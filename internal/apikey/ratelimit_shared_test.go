package apikey_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// sharedLimiter is a node's limiter on the test Redis: its own client, the
// test's own keys, nodes nodes and leases up to maxLease.
func sharedLimiter(t testing.TB, prefix string, nodes, maxLease int) *ratelimit.Redis {
	t.Helper()
	c, _ := testRedis(t)
	r, err := ratelimit.NewRedis(ratelimit.RedisConfig{Client: c, Prefix: prefix, Timeout: 5 * time.Second, MaxLease: maxLease, LeaseTTL: time.Hour,
		Fallback: new(ratelimit.Buckets), Nodes: func() int { return nodes }})
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	return r.Scope("apikey")
}

// TestKeyRateLimitHoldsAcrossNodes is the case: a key limited to
// 20/s with a burst of 20, verified through three nodes, gets 20 at once and
// 20 more a second later — not 20 per node.
func TestKeyRateLimitHoldsAcrossNodes(t *testing.T) {
	t.Parallel()
	_, prefix := testRedis(t)
	db := openDB(t)
	clock := testenv.NewClock(t0)
	nodes := make([]*apikey.Service, 3)
	for i := range nodes {
		svc, err := apikey.NewService(apikey.Config{Store: db, Audit: db, Secret: testSecret(9), Prefix: testPrefix, Now: clock.Now,
			Limiter: sharedLimiter(t, prefix, len(nodes), ratelimit.DefaultMaxLease)})
		if err != nil {
			t.Fatalf("NewService: %v", err)
		}
		nodes[i] = svc
	}
	_, key, err := nodes[0].Create(context.Background(), apikey.CreateParams{Owner: "svc", Actor: "key_admin", RateLimit: auth.RateLimit{Rate: 20, Burst: 20}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	valid := 0
	for second := range 2 {
		for i := range 3 * 30 {
			r := check(t, nodes[i%3], apikey.Request{Key: key})
			switch r.Code {
			case apikey.CodeValid:
				valid++
			case apikey.CodeRateLimited:
				if r.RateLimit.Limit != 20 || r.RateLimit.RetryAfter <= 0 {
					t.Fatalf("refusal without the key's limit: %+v", r.RateLimit)
				}
			default:
				t.Fatalf("code %s", r.Code)
			}
		}
		if want := 20 * (second + 1); valid != want {
			t.Fatalf("after %d s: %d valid through 3 nodes, want %d (20/s, burst 20, shared)", second, valid, want)
		}
		clock.Add(time.Second)
	}
}

// TestWarmVerifyWithASharedLimitAllocatesNothing holds the lease path to the
// hot path's budget: a key far from its shared limit is verified from the
// node's lease, without a Redis round trip and without allocating.
func TestWarmVerifyWithASharedLimitAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	_, prefix := testRedis(t)
	e := newEnv(t, func(c *apikey.Config) {
		c.Registerer = prometheus.NewRegistry()
		c.Limiter = sharedLimiter(t, prefix, 1, 1<<20)
	})
	_, key := e.create(t, apikey.CreateParams{Scopes: []string{"read"}, RateLimit: auth.RateLimit{Rate: 1e9, Burst: 1e6}})
	scopes := []string{"read"}
	ctx := context.Background()
	for range 30 { // the lease doubles up to half the bucket
		if r, err := e.svc.Verify(ctx, key, scopes); err != nil || !r.Valid() {
			t.Fatalf("Verify: %+v, %v", r, err)
		}
	}
	if n := testing.AllocsPerRun(1000, func() { e.svc.Verify(ctx, key, scopes) }); n != 0 {
		t.Fatalf("a warm Verify under a shared limit allocates %.1f times", n)
	}
}
