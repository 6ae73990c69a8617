package account

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

func wantFactorLimited(t *testing.T, what string, err error) {
	t.Helper()
	if auth.ErrorCode(err) != auth.ERATELIMITED {
		t.Fatalf("%s: %v, want ERATELIMITED", what, err)
	}
	if d, ok := RetryAfter(err); !ok || d < time.Second {
		t.Fatalf("%s: RetryAfter = %v, %v", what, d, ok)
	}
}

func TestFactorLimiterPerAccountAndPerAddress(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	l, err := NewFactorLimiter(FactorConfig{Failures: 3, Window: 3 * time.Minute, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		if err := l.Take(ctx, "usr_a", "192.0.2.1"); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	wantFactorLimited(t, "the account's fourth attempt from anywhere", l.Take(ctx, "usr_a", "198.51.100.7"))
	// The refused attempt counted nothing at the new address: it still
	// has its whole budget for another account.
	for i := range 3 {
		if err := l.Take(ctx, "usr_b", "198.51.100.7:4242"); err != nil {
			t.Fatalf("another account from a fresh address, attempt %d: %v", i+1, err)
		}
	}
	wantFactorLimited(t, "one address trying a third account", l.Take(ctx, "usr_c", "198.51.100.7"))
	// A right code gives its attempt back.
	l.Refund(ctx, "usr_b", "198.51.100.7")
	if err := l.Take(ctx, "usr_c", "198.51.100.7"); err != nil {
		t.Fatalf("after a refund: %v", err)
	}
	// The buckets drain: one attempt per minute.
	clock.Add(time.Minute)
	if err := l.Take(ctx, "usr_a", "203.0.113.9"); err != nil {
		t.Fatalf("after a minute: %v", err)
	}
	wantFactorLimited(t, "right after", l.Take(ctx, "usr_a", "203.0.113.9"))
	if _, err := NewFactorLimiter(FactorConfig{Failures: -1}); err == nil {
		t.Fatal("a negative setting was accepted")
	}
}

// Two nodes sharing Redis meet one budget per account, not one each.
func TestFactorLimiterHoldsAcrossNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "test:factor:" + hex.EncodeToString(b) + ":"
	clock := testenv.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	var nodes []*FactorLimiter
	for i := range 2 {
		opt, err := redis.ParseURL(testenv.RedisURL())
		if err != nil {
			t.Fatal(err)
		}
		opt.ContextTimeoutEnabled = true
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		if err := c.Ping(ctx).Err(); err != nil {
			testenv.RedisUnreachable(t, err)
		}
		if i == 0 {
			t.Cleanup(func() {
				if keys := c.Keys(context.Background(), prefix+"*").Val(); len(keys) > 0 {
					c.Del(context.Background(), keys...)
				}
			})
		}
		shared, err := ratelimit.NewRedis(ratelimit.RedisConfig{Client: c, Prefix: prefix, Timeout: 5 * time.Second, Nodes: func() int { return 2 }})
		if err != nil {
			t.Fatal(err)
		}
		l, err := NewFactorLimiter(FactorConfig{Failures: 4, Window: time.Hour, Now: clock.Now, Shared: shared.Scope("factor")})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, l)
	}
	for i := range 4 {
		addr := "192.0.2." + string(rune('1'+i)) // four addresses, so only the account limit binds
		if err := nodes[i%2].Take(ctx, "usr_a", addr); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	for i, n := range nodes {
		wantFactorLimited(t, "the fifth attempt on node "+string(rune('0'+i)), n.Take(ctx, "usr_a", "203.0.113.1"))
	}
	// A refund on one node is seen by the other.
	nodes[0].Refund(ctx, "usr_a", "192.0.2.1")
	if err := nodes[1].Take(ctx, "usr_a", "203.0.113.1"); err != nil {
		t.Fatalf("after a refund on the other node: %v", err)
	}
}
