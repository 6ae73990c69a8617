package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestVerifySourceLimitIsSharedByNodes: with a shared limiter, one address
// gets VerifyLimit's burst once across two nodes, not once per node.
func TestVerifySourceLimitIsSharedByNodes(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "test:admin-verify:" + hex.EncodeToString(b) + ":"
	nodes := make([]http.Handler, 2)
	for i := range nodes {
		opt, err := redis.ParseURL(testenv.RedisURL())
		if err != nil {
			t.Fatal(err)
		}
		opt.ContextTimeoutEnabled = true
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		if err := c.Ping(context.Background()).Err(); err != nil {
			testenv.RedisUnreachable(t, err)
		}
		if i == 0 {
			t.Cleanup(func() {
				if keys := c.Keys(context.Background(), prefix+"*").Val(); len(keys) > 0 {
					c.Del(context.Background(), keys...)
				}
			})
		}
		lim, err := ratelimit.NewRedis(ratelimit.RedisConfig{Client: c, Prefix: prefix, Timeout: 5 * time.Second, Fallback: new(ratelimit.Buckets),
			Nodes: func() int { return 2 }})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := NewServer(Config{Keys: env.keys, Audit: env.db, Now: env.clock.Now, VerifyLimit: auth.RateLimit{Rate: 1, Burst: 5},
			VerifyLimiter: lim.Scope("verify")})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = srv.Handler()
	}
	verify := func(node int) int {
		r := httptest.NewRequest(http.MethodPost, "/v1/keys/verify", strings.NewReader(`{"key":"`+testPrefix+`nope"}`))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = "203.0.113.7:4000"
		w := httptest.NewRecorder()
		nodes[node].ServeHTTP(w, r)
		return w.Code
	}
	for i := range 5 {
		if code := verify(i % 2); code != http.StatusOK {
			t.Fatalf("request %d within the shared burst: %d", i+1, code)
		}
	}
	for node := range nodes {
		if code := verify(node); code != http.StatusTooManyRequests {
			t.Fatalf("node %d past the shared burst: %d, want 429", node+1, code)
		}
	}
}
