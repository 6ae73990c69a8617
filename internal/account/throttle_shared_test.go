package account

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// sharedNodes starts n services on one database, each with its own
// client to Redis at addr (the test Redis when ""), as n nodes of a
// cluster are, with mod applied to each Config.
func sharedNodes(t *testing.T, n int, addr string, mod func(*Config)) []*fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "test:login:" + hex.EncodeToString(b) + ":"
	clock := testenv.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	nodes := make([]*fixture, n)
	for i := range nodes {
		opt, err := redis.ParseURL(testenv.RedisURL())
		if err != nil {
			t.Fatal(err)
		}
		opt.ContextTimeoutEnabled = true
		if addr != "" {
			opt.Addr, opt.MaxRetries = addr, -1
		}
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		if addr == "" {
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
		}
		lim, err := ratelimit.NewRedis(ratelimit.RedisConfig{Client: c, Prefix: prefix, Timeout: 5 * time.Second, Nodes: func() int { return n }})
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Store: db, Sessions: db, Audit: db, Now: clock.Now, Shared: lim.Scope("login")}
		mod(&cfg)
		svc, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = &fixture{svc: svc, db: db, clock: clock}
	}
	return nodes
}

// A guesser spreading a distributed attack over the nodes meets one
// per-username limit, and one address's guesses one per-address limit,
// not one per node; a success gives its attempt back on every node.
func TestLoginLimitsHoldAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := sharedNodes(t, 2, "", func(c *Config) { c.AccountFailures = 4; c.AddressFailures = 3 })
	ctx := context.Background()
	nodes[0].create(t, "ann", "correct horse")
	for i := range 4 {
		_, err := nodes[i%2].svc.Authenticate(ctx, "ann", "wrong", "203.0.113."+string(rune('1'+i)), nil)
		wantFailure(t, "distributed guess", err)
	}
	for i, n := range nodes {
		_, err := n.svc.Authenticate(ctx, "ann", "correct horse", "192.0.2.200", nil)
		wantLimited(t, "node "+string(rune('1'+i))+" after the username's shared limit", err)
	}
	events, _, _ := nodes[0].db.ListAuditEvents(ctx, auth.AuditFilter{Type: EventLoginThrottled})
	if len(events) == 0 {
		t.Fatal("no lockout event")
	}

	// One address trying names at both nodes.
	for i := range 3 {
		_, err := nodes[i%2].svc.Authenticate(ctx, "user"+string(rune('a'+i)), "wrong", attacker, nil)
		wantFailure(t, "guess from one address", err)
	}
	for i, n := range nodes {
		_, err := n.svc.Authenticate(ctx, "someone", "wrong", attacker, nil)
		wantLimited(t, "node "+string(rune('1'+i))+" after the address's shared limit", err)
	}

	// The bucket drains on the shared timeline: a window later, ann is
	// back from a new address through either node.
	nodes[0].clock.Add(time.Hour)
	if _, err := nodes[1].svc.Authenticate(ctx, "ann", "correct horse", "192.0.2.201", nil); err != nil {
		t.Fatalf("ann after the window: %v", err)
	}
}

// With Redis gone, each of the two nodes applies half of each limit
// (rounded up) on its own, and says so in the metric (see ratelimit).
func TestLoginLimitsFallBackToEachNodesShare(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	nodes := sharedNodes(t, 2, gone, func(c *Config) { c.AccountFailures = 5 })
	ctx := context.Background()
	nodes[0].create(t, "ann", "correct horse")
	// ceil(5/2) = 3 failures for ann on node 1, from three addresses.
	for i := range 3 {
		_, err := nodes[0].svc.Authenticate(ctx, "ann", "wrong", "203.0.113."+string(rune('1'+i)), nil)
		wantFailure(t, "guess with Redis gone", err)
	}
	_, err = nodes[0].svc.Authenticate(ctx, "ann", "wrong", "203.0.113.9", nil)
	wantLimited(t, "the node's share of the username's limit", err)
	// Node 2 has its own share.
	_, err = nodes[1].svc.Authenticate(ctx, "ann", "wrong", "203.0.113.9", nil)
	wantFailure(t, "the other node's share", err)
}

// A node joining or leaving while Redis is gone rescales the failures this
// node counted to its new share: it does not forget them, which would
// give a guesser a fresh budget at each change.
func TestLoginFallbackKeepsFailuresWhenNodesChange(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	var nodes atomic.Int64
	nodes.Store(2)
	c := redis.NewClient(&redis.Options{Addr: gone, MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	lim, err := ratelimit.NewRedis(ratelimit.RedisConfig{Client: c, Timeout: time.Second,
		Nodes: func() int { return int(nodes.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	b := newSharedBucket(lim.Scope("login"), "user:", 6, time.Hour, 100)
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// Two nodes: this node's share is 3 of 6.
	for i := range 3 {
		if _, ok := b.take(ctx, "ann", now); !ok {
			t.Fatalf("failure %d within the share of two nodes refused", i+1)
		}
	}
	if _, ok := b.take(ctx, "ann", now); ok {
		t.Fatal("a 4th failure passed the share of two nodes")
	}
	for _, n := range []int64{3, 1, 2} {
		nodes.Store(n)
		if _, ok := b.take(ctx, "ann", now); ok {
			t.Fatalf("with %d nodes, a guess passed: the share used up before the change was forgotten", n)
		}
		if !b.full(ctx, "ann", now) {
			t.Fatalf("with %d nodes, ann's failures are not full", n)
		}
	}
	// The failures still drain: a window later, ann may try again.
	if _, ok := b.take(ctx, "ann", now.Add(time.Hour)); !ok {
		t.Fatal("a window later, a failure is refused")
	}
}
