package gateway

import (
	"crypto/rand"
	"net/http"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// Two gateway nodes with one Redis share their limits: a caller cannot get
// twice the allowance by alternating between nodes.
func TestRateLimitsSharedThroughRedis(t *testing.T) {
	opt, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	opt.DB = 14 // the ratelimit package's tests flush 15
	opt.ContextTimeoutEnabled = true
	client := redis.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	if err := client.Ping(t.Context()).Err(); err != nil {
		testenv.RedisUnreachable(t, err)
	}
	prefix := "gatehouse-test:" + rand.Text() + ":" // this run's buckets only
	shared := func(c *Config) {
		l, err := ratelimit.NewRedis(ratelimit.RedisConfig{Client: client, Prefix: prefix, Fallback: &ratelimit.Buckets{}})
		if err != nil {
			t.Fatal(err)
		}
		c.Limiter = l
	}
	a, b := newTestEnv(t, shared), newTestEnv(t, shared)
	for _, e := range []*testEnv{a, b} {
		r := e.route("status", "/status", auth.PolicyPublic)
		r.ClientRateLimit = auth.RateLimit{Rate: 0.001, Burst: 2}
		e.setRoutes(r)
	}
	wantStatus(t, a.do("GET", "/status"), http.StatusOK)
	wantStatus(t, b.do("GET", "/status"), http.StatusOK)
	resp := a.do("GET", "/status")
	wantStatus(t, resp, http.StatusTooManyRequests)
	wantStatus(t, b.do("GET", "/status"), http.StatusTooManyRequests)
	if resp.Header.Get("RateLimit-Limit") != "2" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("429 headers: %v", resp.Header)
	}
}
